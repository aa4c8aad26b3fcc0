"""Checking the FHIR resources the service emits, with fhir.resources (R4B for R4, STU3 for STU3).

Kept off the hot path: it runs in tests, and per request only when `CDS_STRICT_FHIR` is on. fhir.resources ships
no DSTU2 models, so DSTU2 resources get a hand check of the fields the service writes.
"""

from typing import Any

from pydantic import ValidationError

from cds_service.facts.dose import FhirVersion

_DSTU2_REQUIRED = {
    "MedicationOrder": ("medicationCodeableConcept|medicationReference",),
    "DiagnosticOrder": ("subject", "item"),
}


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
        required = _DSTU2_REQUIRED.get(resource_type)
        if required is None:
            return [f"{resource_type} is not a DSTU2 resource this service writes"]
        return [
            f"{resource_type}.{field} is missing"
            for field in required
            if not any(resource.get(option) for option in field.split("|"))
        ]
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
