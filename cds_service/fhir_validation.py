"""Checking the FHIR resources the service emits, with fhir.resources (R4B for R4, STU3 for STU3).

Kept off the hot path: it runs in tests, and per request only when `CDS_STRICT_FHIR` is on. fhir.resources ships
no DSTU2 models, so DSTU2 resources get a structural check of the elements the service writes (names, arrays,
strings, codes), from the DSTU2 resource definitions.
"""

from typing import Any

from pydantic import ValidationError

from cds_service.facts.dose import FhirVersion

# DSTU2 (1.0.2) element names and shapes of the resources this service writes: a MedicationOrder copied from the
# draft with a new dose, and a DiagnosticOrder for a trough level (hl7.org/fhir/DSTU2 resource definitions).
# "list" elements are JSON arrays, "string" ones strings; a nested table names a backbone element's own elements.
_DOMAIN = ("resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
           "modifierExtension")
_DSTU2_TIMING_REPEAT = frozenset({
    "id", "extension", "boundsQuantity", "boundsRange", "boundsPeriod", "count", "duration", "durationMax",
    "durationUnits", "frequency", "frequencyMax", "period", "periodMax", "periodUnits", "when",
})
_DSTU2_SHAPES: dict[str, dict[str, Any]] = {
    "MedicationOrder": {
        "elements": frozenset({
            *_DOMAIN, "identifier", "dateWritten", "status", "dateEnded", "reasonEnded", "patient", "prescriber",
            "encounter", "reasonCodeableConcept", "reasonReference", "note", "medicationCodeableConcept",
            "medicationReference", "dosageInstruction", "dispenseRequest", "substitution", "priorPrescription",
        }),
        "required": ("medicationCodeableConcept|medicationReference",),
        "lists": ("identifier", "dosageInstruction", "contained", "extension"),
        "strings": ("note", "status", "dateWritten"),
        "codes": {"status": {"active", "on-hold", "completed", "entered-in-error", "stopped", "draft"}},
    },
    "DiagnosticOrder": {
        "elements": frozenset({
            *_DOMAIN, "subject", "orderer", "identifier", "encounter", "reason", "supportingInformation",
            "specimen", "status", "priority", "event", "item", "note",
        }),
        "required": ("subject", "item"),
        "lists": ("identifier", "reason", "supportingInformation", "specimen", "event", "item", "note"),
        "strings": ("status",),
        "codes": {"status": {"proposed", "draft", "planned", "requested", "received", "accepted", "in-progress",
                             "review", "completed", "cancelled", "suspended", "rejected", "failed"}},
    },
}
_DSTU2_DOSAGE = frozenset({
    "id", "extension", "modifierExtension", "text", "additionalInstructions", "timing", "asNeededBoolean",
    "asNeededCodeableConcept", "siteCodeableConcept", "siteReference", "route", "method", "doseRange",
    "doseQuantity", "rateRatio", "rateRange", "maxDosePerPeriod",
})


def _dstu2_problems(resource: dict[str, Any]) -> list[str]:
    resource_type = resource["resourceType"]
    shape = _DSTU2_SHAPES.get(resource_type)
    if shape is None:
        return [f"{resource_type} is not a DSTU2 resource this service writes"]
    problems = [f"{resource_type}.{key} is not a DSTU2 element" for key in resource
                if key not in shape["elements"] and not key.startswith("_")]
    problems += [f"{resource_type}.{field} is missing" for field in shape["required"]
                 if not any(resource.get(option) for option in field.split("|"))]
    problems += [f"{resource_type}.{key} must be an array" for key in shape["lists"]
                 if key in resource and not isinstance(resource[key], list)]
    problems += [f"{resource_type}.{key} must be a string" for key in shape["strings"]
                 if key in resource and not isinstance(resource[key], str)]
    problems += [f"{resource_type}.{key} '{resource[key]}' is not a DSTU2 code" for key, codes in shape["codes"].items()
                 if isinstance(resource.get(key), str) and resource[key] not in codes]
    for index, dosage in enumerate(resource.get("dosageInstruction") or ()) if resource_type == "MedicationOrder" \
            else ():
        where = f"MedicationOrder.dosageInstruction[{index}]"
        if not isinstance(dosage, dict):
            problems.append(f"{where} must be an object")
            continue
        problems += [f"{where}.{key} is not a DSTU2 element" for key in dosage if key not in _DSTU2_DOSAGE]
        repeat = (dosage.get("timing") or {}).get("repeat") if isinstance(dosage.get("timing"), dict) else None
        if isinstance(repeat, dict):
            problems += [f"{where}.timing.repeat.{key} is not a DSTU2 element" for key in repeat
                         if key not in _DSTU2_TIMING_REPEAT]
            if "when" in repeat and not isinstance(repeat["when"], str):
                problems.append(f"{where}.timing.repeat.when must be one code in DSTU2")
    return problems


def _model(version: FhirVersion, resource_type: str) -> Any:
    if version == "STU3":
        from fhir.resources.STU3 import get_fhir_model_class
    else:
        from fhir.resources.R4B import get_fhir_model_class
    return get_fhir_model_class(resource_type)


def validation_problems(resource: dict[str, Any], version: FhirVersion) -> list[str]:
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return ["no resourceType"]
    if version == "DSTU2":
        return _dstu2_problems(resource)
    try:
        model = _model(version, resource_type)
    except (KeyError, ValueError):
        return [f"{resource_type} is not a {version} resource"]
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
    return []


def emitted_version(resource: dict[str, Any]) -> FhirVersion:
    """The FHIR version of a resource this service wrote (it always writes in the version of the order it answers)."""
    from cds_service.facts.dose import order_fhir_version

    resource_type = resource.get("resourceType")
    if resource_type in ("MedicationOrder", "DiagnosticOrder"):
        return "DSTU2"
    if resource_type == "ProcedureRequest":
        return "STU3"
    if resource_type == "MedicationRequest":
        return order_fhir_version(resource)
    return "R4"
