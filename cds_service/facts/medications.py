"""Medications as facts: which ingredients, from which order or statement, active or not, systemic or not."""

from dataclasses import dataclass, field
from typing import Any, Literal

from cds_service.facts.dose import (
    DoseReading,
    FhirVersion,
    checked_against,
    order_fhir_version,
    read_dose,
    strength_from_text,
)
from cds_service.fhir import (
    Resource,
    codings,
    concept_text,
    concept_words,
    listed,
    local_reference,
    one_or_many,
    raw_codings,
)
from cds_service.knowledge.loader import Knowledge

Origin = Literal["draft", "order", "statement", "history"]

# RxNorm by its URI: a coding that names it by OID was read as the URI when the request or page was parsed
# (fhir.with_uri_systems).
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC_SYSTEMS = frozenset({"http://www.whocc.no/atc", "urn:oid:2.16.840.1.113883.6.73"})

# Orders in these states are not being taken (or never were) and never trigger advice.
INACTIVE_ORDER_STATUSES = frozenset({"stopped", "completed", "cancelled", "entered-in-error", "expired"})


def recorded_status(resource: Resource) -> str | None:
    """The status in R4's words: a statement that says the medicine is not taken (STU3 `taken` "n", DSTU2
    `wasNotTaken`) is R4's "not-taken", whatever its own status says."""
    if resource.get("taken") == "n" or resource.get("wasNotTaken") is True:
        return "not-taken"
    status = resource.get("status")
    return status if isinstance(status, str) else None


@dataclass(frozen=True, slots=True)
class MedicationIdentity:
    ingredients: frozenset[str]
    display: str
    recognised_by: Literal["code", "name"] | None
    rxnorm_code: str | None
    # The brands of several ingredients the name was read from (brands.toml ids): the card says which of their
    # ingredients it is about, since the brand's name alone does not.
    brands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MedicationUse:
    """One medicine the patient takes or is about to take."""

    resource: Resource
    reference: str | None
    origin: Origin
    status: str | None
    identity: MedicationIdentity
    systemic: bool
    under_decision: bool
    concept: dict[str, Any] | None
    # The dose as last read, with the knowledge base it was read for: several rules and the facts ask, and the use
    # lives for one call. Not an init field, so dataclasses.replace starts a copy with none.
    _dose: list[tuple[Knowledge, DoseReading]] = field(default_factory=list, init=False, repr=False, compare=False)
    # The identity's ingredients, as a field: the rules read them hundreds of times a call, and a property costs a
    # call each time. Set from the identity by every construction (dataclasses.replace too).
    ingredients: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ingredients", self.identity.ingredients)

    @property
    def fhir_version(self) -> FhirVersion:
        """Read when an order is rewritten (drafts only), so not for every medicine in the record."""
        return order_fhir_version(self.resource)

    @property
    def display(self) -> str:
        return self.identity.display

    def dose(self, knowledge: Knowledge) -> DoseReading:
        """The dose this use says, read once per knowledge base (a DoseReading is frozen)."""
        if self._dose and self._dose[0][0] is knowledge:
            return self._dose[0][1]
        reading = self._read_dose(knowledge)
        self._dose[:] = [(knowledge, reading)]
        return reading

    def _read_dose(self, knowledge: Knowledge) -> DoseReading:
        product = knowledge.products.get(self.identity.rxnorm_code or "")
        strength = product.strength_mg if product else None
        if strength is None:
            strength = strength_from_text(
                concept_text(self.concept), *(c.get("display") for c in codings(self.concept))
            )
        dosing = knowledge.imatinib.dosing
        reading = read_dose(self.resource, strength)
        if "imatinib" not in self.ingredients:
            return reading
        return checked_against(reading, dosing.labelled_daily_mg, dosing.plausible_daily_mg)


def identify(concept: Any, knowledge: Knowledge) -> MedicationIdentity:
    """By code first (RxNorm product or ingredient, ATC), else by ingredient or brand name in the text (a brand of
    several ingredients names them all)."""
    text = concept_text(concept)
    display = text
    rxnorm_code = first_rxnorm = None
    found: set[str] = set()
    names: list[str] = []
    for coding in raw_codings(concept):
        code, system, coding_display = coding.get("code"), coding.get("system"), coding.get("display")
        if isinstance(coding_display, str):
            display = display or coding_display
            names.append(coding_display)
        if not isinstance(code, str) or not isinstance(system, str):
            continue
        if system == RXNORM:
            first_rxnorm = first_rxnorm or code
            if code in knowledge.ingredients_by_rxnorm:
                found.update(knowledge.ingredients_by_rxnorm[code])
                rxnorm_code = rxnorm_code or code
        elif system in ATC_SYSTEMS and code in knowledge.ingredients_by_atc:
            found.add(knowledge.ingredients_by_atc[code])
    if found:
        return MedicationIdentity(frozenset(found), display or "", "code", rxnorm_code)
    brands: dict[str, None] = {}
    for name in (text, *names) if text else names:
        named = knowledge.names_in(name)
        found.update(named.ingredients)
        brands.update(dict.fromkeys(named.brands))
    if not found:
        return MedicationIdentity(frozenset(), display or "", None, first_rxnorm)
    return MedicationIdentity(frozenset(found), display or "", "name", None, tuple(brands))


class Identities:
    """Each medication concept of one call identified once: the engine asks of the orders being decided before and
    after the record is gathered, and the facts ask again of every use. Made per call, so nothing outlives the call.

    Keyed by the concept object itself (held here, so its id is not reused while the memo lives): a concept read
    from the same resource is the same object whichever Medication resources were at hand.
    """

    __slots__ = ("_by_concept", "knowledge")

    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self._by_concept: dict[int, tuple[dict[str, Any], MedicationIdentity]] = {}

    def of(self, concept: dict[str, Any]) -> MedicationIdentity:
        known = self._by_concept.get(id(concept))
        if known is not None and known[0] is concept:
            return known[1]
        identity = identify(concept, self.knowledge)
        self._by_concept[id(concept)] = (concept, identity)
        return identity


def medication_concept(resource: Resource, medications: dict[str, Resource]) -> dict[str, Any] | None:
    """The medication's CodeableConcept, following a reference to a contained, bundled or fetched Medication."""
    concept = resource.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return concept
    r5 = resource.get("medication")
    if isinstance(r5, dict) and isinstance(r5_concept := r5.get("concept"), dict):
        return r5_concept
    reference = resource.get("medicationReference") or (r5.get("reference") if isinstance(r5, dict) else None)
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str):
        return None
    target: Resource | None = None
    if ref.startswith("#"):
        target = next(
            (c for c in listed(resource.get("contained")) if isinstance(c, dict) and c.get("id") == ref[1:]), None
        )
    else:
        target = medications.get(ref) or medications.get("Medication/" + ref.rsplit("/", 1)[-1])
    if target is None:
        display = reference.get("display") if isinstance(reference, dict) else None
        return {"text": display} if isinstance(display, str) else None
    code = target.get("code")
    return code if isinstance(code, dict) else None


def is_systemic(resource: Resource, concept: dict[str, Any] | None, knowledge: Knowledge) -> bool:
    """False when a dosage's route or text, or the product's name, says eye drops, cream and the like."""
    non_systemic = knowledge.names_non_systemic_route
    for dosage in (*listed(resource.get("dosageInstruction")), *one_or_many(resource.get("dosage"))):
        if isinstance(dosage, dict):
            text = dosage.get("text")
            if any(map(non_systemic, concept_words(dosage.get("route")))) or (
                isinstance(text, str) and non_systemic(text)
            ):
                return False
    return not any(map(non_systemic, concept_words(concept)))


def medication_use(
    resource: Resource,
    origin: Origin,
    identities: Identities,
    medications: dict[str, Resource],
    *,
    under_decision: bool = False,
) -> MedicationUse | None:
    concept = medication_concept(resource, medications)
    if concept is None:
        return None
    status = resource.get("status")
    identity = identities.of(concept)
    return MedicationUse(
        resource=resource,
        reference=local_reference(resource),
        origin=origin,
        status=status if isinstance(status, str) else None,
        identity=identity,
        # Only medicines the knowledge base knows can matter to a rule; the route check is skipped for the rest.
        systemic=is_systemic(resource, concept, identities.knowledge) if identity.ingredients else True,
        under_decision=under_decision,
        concept=concept,
    )
