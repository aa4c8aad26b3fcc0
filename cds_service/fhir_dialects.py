"""What differs between the FHIR versions the service writes: one dialect per version, chosen once per order.

Readers stay lenient and accept every version's spelling (`fhir.py`, `facts/`); a resource the service sends back
must be valid in the version of the order it answers. A DSTU2 `Timing.repeat` says `periodUnits` where STU3 and R4
say `periodUnit`; the CDS Hooks sandbox sends single objects where a version wants arrays (`reasonCode`, and in R4
`category`), and in DSTU2 mode it adds `intent` and `category`, which DSTU2's MedicationOrder does not have.
Sources: the FHIR DSTU2 (1.0.2), STU3 (3.0.1) and R4 (4.0.1) resource definitions.
"""

from dataclasses import dataclass

from cds_service.facts.dose import FhirVersion
from cds_service.fhir import Resource

# DSTU2 MedicationOrder's elements (hl7.org/fhir/DSTU2/medicationorder.html): anything else in an update is
# another version's element and would make the order invalid DSTU2.
DSTU2_MEDICATION_ORDER_ELEMENTS = frozenset({
    "resourceType", "id", "meta", "implicitRules", "language", "text", "contained", "extension",
    "modifierExtension", "identifier", "dateWritten", "status", "dateEnded", "reasonEnded", "patient", "prescriber",
    "encounter", "reasonCodeableConcept", "reasonReference", "note", "medicationCodeableConcept",
    "medicationReference", "dosageInstruction", "dispenseRequest", "substitution", "priorPrescription",
})


@dataclass(frozen=True, slots=True)
class FhirDialect:
    version: FhirVersion
    # The resource type of a medication order.
    medication_order: str
    # Timing.repeat's element for the unit of `period`.
    period_unit: str
    # Order elements that are arrays in this version; a single object sent in their place is wrapped.
    list_elements: tuple[str, ...]
    # The order's elements in this version, when the service must drop other versions' (None: keep all).
    order_elements: frozenset[str] | None = None

    def repair_order(self, resource: Resource) -> list[str]:
        """Make a copied order valid in this version, in place; returns the elements it dropped."""
        for element in self.list_elements:
            if isinstance(resource.get(element), dict):
                resource[element] = [resource[element]]
        if self.order_elements is None:
            return []
        dropped = sorted(key for key in resource if key not in self.order_elements and not key.startswith("_"))
        for key in dropped:
            del resource[key]
        return dropped

    def daily_timing(self, administrations_per_day: float) -> Resource:
        """A Timing of `administrations_per_day` doses a day, in this version's element names."""
        return {"repeat": {"frequency": administrations_per_day, "period": 1, self.period_unit: "d"}}


DIALECTS: dict[FhirVersion, FhirDialect] = {
    "DSTU2": FhirDialect(
        version="DSTU2",
        medication_order="MedicationOrder",
        period_unit="periodUnits",
        list_elements=("identifier", "dosageInstruction", "contained", "extension"),
        order_elements=DSTU2_MEDICATION_ORDER_ELEMENTS,
    ),
    # STU3 MedicationRequest.category is 0..1 (an object); reasonCode, note and the rest are arrays.
    "STU3": FhirDialect(
        version="STU3",
        medication_order="MedicationRequest",
        period_unit="periodUnit",
        list_elements=("identifier", "definition", "basedOn", "reasonCode", "reasonReference", "note",
                       "detectedIssue", "eventHistory", "supportingInformation"),
    ),
    "R4": FhirDialect(
        version="R4",
        medication_order="MedicationRequest",
        period_unit="periodUnit",
        list_elements=("identifier", "category", "reasonCode", "reasonReference", "note", "basedOn", "insurance",
                       "supportingInformation", "instantiatesCanonical", "instantiatesUri", "detectedIssue",
                       "eventHistory"),
    ),
}
