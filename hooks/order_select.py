"""order-select (CDS Hooks 2.0): the clinician picked one or more orders; the rest of the draft is context."""

from typing import Any

from pydantic import Field

from cds_service.errors import BadRequest
from cds_service.hook_context import (
    ContextBase,
    Hook,
    HookContext,
    OrderBundle,
    optional_string,
    require_orders,
    require_string,
)


class OrderSelectContext(ContextBase):
    """order-select's context: the drafts, and which of them the clinician just selected."""

    selections: list[str] = Field(description='References of the selected orders, such as "MedicationRequest/1".')
    draftOrders: OrderBundle


def read_context(context: dict[str, Any]) -> HookContext:
    selections = context.get("selections")
    if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
        raise BadRequest('context.selections is required: an array of references such as "MedicationRequest/1".')
    return HookContext(
        patient_id=require_string(context, "patientId"),
        user_id=optional_string(context, "userId"),
        encounter_id=optional_string(context, "encounterId"),
        draft_orders=require_orders(context, "draftOrders"),
        # A client that selects nothing we can match still wants advice on its drafts: treat all as selected.
        selections=frozenset(selections) or None,
    )


HOOK = Hook(
    name="order-select",
    service_id="imatinib-order-select",
    title="Imatinib: CYP3A4 inducers and mutation profile (order-select)",
    description=(
        "When imatinib or a CYP3A4 inducer is selected, warns of the interaction with a dose and trough-level plan, "
        "and flags BCR-ABL1, KIT and PDGFRA variants that make imatinib unlikely to work."
    ),
    read_context=read_context,
    context_model=OrderSelectContext,
)
