"""order-sign (CDS Hooks 2.0): the last look before orders are signed; every order in the bundle is decided now."""

from typing import Any

from cds_service.hook_context import (
    ContextBase,
    Hook,
    HookContext,
    OrderBundle,
    optional_string,
    require_orders,
    require_string,
)


class OrderSignContext(ContextBase):
    """order-sign's context: every order about to be signed."""

    draftOrders: OrderBundle


def read_context(context: dict[str, Any]) -> HookContext:
    return HookContext(
        patient_id=require_string(context, "patientId"),
        user_id=optional_string(context, "userId"),
        encounter_id=optional_string(context, "encounterId"),
        draft_orders=require_orders(context, "draftOrders"),
    )


HOOK = Hook(
    name="order-sign",
    service_id="imatinib-order-sign",
    title="Imatinib: CYP3A4 inducers and mutation profile (order-sign)",
    description=(
        "Before orders are signed, checks imatinib against strong and moderate CYP3A4 inducers (dose increase, "
        "trough level) and against the patient's BCR-ABL1, KIT and PDGFRA variants."
    ),
    read_context=read_context,
    context_model=OrderSignContext,
)
