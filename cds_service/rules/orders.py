"""FHIR resources that suggestions create or update, each in the FHIR version of the order it answers.

An update starts from a deep copy of the draft and changes only the dose (and, when whole tablets need it, the
product), so every other field the EHR put on the order survives.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from cds_service.facts.dose import Dose, FhirVersion, dose_quantity
from cds_service.facts.medications import MedicationUse
from cds_service.fhir import Resource, copy_resource
from cds_service.fhir_dialects import DIALECTS
from cds_service.knowledge import Knowledge
from cds_service.rules.dosing import DoseIncrease

UCUM = "http://unitsofmeasure.org"


@dataclass(frozen=True, slots=True)
class WrittenDose:
    """The updated draft order, and the dose as the prescriber will read it."""

    resource: Resource
    description: str


def dose_update(
    order: MedicationUse, dose: Dose, increase: DoseIncrease, reason: str = "increased because of a CYP3A4 inducer"
) -> WrittenDose | str:
    """The draft order with the increased dose, or why the increase cannot be written into it.

    The product is never changed: some clients (the CDS Hooks sandbox among them) apply only the medication of an
    update and keep their own dose, and a product switch would then silently change the dose. A tablet count that
    the product's strength cannot make is written in mg instead, with the tablets spelled out in the text.
    """
    resource = copy_resource(order.resource)
    dialect = DIALECTS[order.fhir_version]
    dialect.repair_order(resource)
    dosage = resource["dosageInstruction"][0]
    quantity = dose_quantity(dosage)
    if quantity is None:
        return "the order gives no single dose quantity"
    per = increase.per_administration_mg
    strength = dose.count_strength_mg
    tablets = None
    if dose.unit == "count" and strength and per % strength == 0:
        quantity["value"] = int(per // strength)
        tablets = ((int(strength), int(per // strength)),)
    else:
        for key in list(quantity):
            if key not in ("extension", "id"):
                del quantity[key]
        quantity.update(value=per, unit="mg", system=UCUM, code="mg")
    if increase.administrations_per_day != dose.administrations_per_day:
        dosage["timing"] = dialect.daily_timing(increase.administrations_per_day)
    description = increase.describe(tablets)
    dosage["text"] = f"{description}: {reason}"
    return WrittenDose(resource, description)


def trough_order(
    patient_id: str,
    version: FhirVersion,
    today: date,
    knowledge: Knowledge,
    reason: str,
    target_text: str,
    *,
    draw_on: tuple[date, str] | None = None,
) -> Resource:
    """A draft order for an imatinib trough level, dated for when induction and the new dose are at steady state,
    or on `draw_on` (a date and why) when the caller knows better (de-induction)."""
    tdm = knowledge.imatinib.tdm
    level = tdm.level_codes[0]
    day, why = draw_on or (today + timedelta(days=tdm.days_until_trough), tdm.days_until_trough_text)
    when = day.isoformat()
    code = {"coding": [{"system": level.system, "code": level.code}], "text": level.text}
    note = (
        f"{tdm.sampling} Draw on or after {when}: {why}. {target_text}"
    )
    subject = {"reference": f"Patient/{patient_id}"}
    resource: dict[str, Any]
    if version == "DSTU2":
        resource = {
            "resourceType": "DiagnosticOrder",
            "status": "proposed",
            "subject": subject,
            "item": [{"code": code}],
            "reason": [{"text": reason}],
            "note": [{"text": note}],
        }
    else:
        resource = {
            "resourceType": "ProcedureRequest" if version == "STU3" else "ServiceRequest",
            "status": "draft",
            "intent": "order",
            "code": code,
            "subject": subject,
            "occurrenceDateTime": when,
            "authoredOn": today.isoformat(),
            "reasonCode": [{"text": reason}],
            "note": [{"text": note}],
        }
    return resource
