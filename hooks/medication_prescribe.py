"""medication-prescribe (CDS Hooks 1.0, deprecated): still fired by older EHR integrations.

`context.medications` is a Bundle of draft orders, or, from clients written before March 2018, a plain array.
"""

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


class MedicationPrescribeContext(ContextBase):
    """medication-prescribe's context: the drafts as a Bundle or (clients before March 2018) a plain array."""

    medications: OrderBundle | list[Any]


def read_context(context: dict[str, Any]) -> HookContext:
    return HookContext(
        patient_id=require_string(context, "patientId"),
        user_id=optional_string(context, "userId"),
        encounter_id=optional_string(context, "encounterId"),
        draft_orders=require_orders(context, "medications", allow_array=True),
    )


HOOK = Hook(
    name="medication-prescribe",
    service_id="imatinib-medication-prescribe",
    title="Imatinib: CYP3A4 inducers and mutation profile (medication-prescribe, deprecated)",
    description=(
        "Deprecated CDS Hooks 1.0 hook, kept for older EHR integrations; prefer the order-select and order-sign "
        "services. Same advice: imatinib with CYP3A4 inducers, and imatinib-relevant variants."
    ),
    read_context=read_context,
    context_model=MedicationPrescribeContext,
)
