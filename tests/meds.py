"""Medication orders and statements in each FHIR version's own shape, for scenarios the fixtures do not cover."""

from typing import Any

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def order(
    version: str,
    id_: str,
    text: str,
    *,
    status: str = "active",
    mg: float | None = None,
    tablets: float | None = None,
    per_day: int = 1,
    code: str | None = None,
    route: str | None = None,
    authored: str | None = None,
    ended: str | None = None,
    patient: str = "pt-cml-1",
) -> dict[str, Any]:
    """A MedicationOrder (DSTU2) or MedicationRequest (STU3, R4) with one dose, in mg or tablets, per_day times.

    `ended` is written where each version records an order's end: DSTU2 `dateEnded`; STU3/R4
    `dispenseRequest.validityPeriod.end`.
    """
    concept: dict[str, Any] = {"text": text}
    if code:
        concept["coding"] = [{"system": RXNORM, "code": code, "display": text}]
    quantity: dict[str, Any] = (
        {"value": mg, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
        if mg is not None
        else {"value": tablets or 1, "unit": "{tbl}", "system": "http://unitsofmeasure.org", "code": "{tbl}"}
    )
    period_key = "periodUnits" if version == "DSTU2" else "periodUnit"
    dosage: dict[str, Any] = {"timing": {"repeat": {"frequency": per_day, "period": 1, period_key: "d"}}}
    if version == "R4":
        dosage["doseAndRate"] = [{"doseQuantity": quantity}]
    else:
        dosage["doseQuantity"] = quantity
    if route:
        dosage["route"] = {"text": route}
    resource: dict[str, Any] = {
        "resourceType": "MedicationOrder" if version == "DSTU2" else "MedicationRequest",
        "id": id_,
        "status": status,
        "medicationCodeableConcept": concept,
        "dosageInstruction": [dosage],
    }
    if version == "DSTU2":
        resource["patient"] = {"reference": f"Patient/{patient}"}
        if authored:
            resource["dateWritten"] = authored
        if ended:
            resource["dateEnded"] = ended
    else:
        resource["subject"] = {"reference": f"Patient/{patient}"}
        resource["intent"] = "order"
        if authored:
            resource["authoredOn"] = authored
        if ended:
            resource["dispenseRequest"] = {"validityPeriod": {"start": authored or ended, "end": ended}}
    return resource


def statement(
    version: str,
    id_: str,
    text: str,
    *,
    status: str = "active",
    start: str | None = None,
    end: str | None = None,
    patient: str = "pt-cml-1",
) -> dict[str, Any]:
    """A MedicationStatement; DSTU2 names the patient `patient`, later versions `subject`."""
    resource: dict[str, Any] = {
        "resourceType": "MedicationStatement",
        "id": id_,
        "status": status,
        "medicationCodeableConcept": {"text": text},
    }
    resource["patient" if version == "DSTU2" else "subject"] = {"reference": f"Patient/{patient}"}
    if start or end:
        resource["effectivePeriod"] = {k: v for k, v in (("start", start), ("end", end)) if v}
    return resource
