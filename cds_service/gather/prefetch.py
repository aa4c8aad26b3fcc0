"""The FHIR queries the rules need, advertised as prefetch templates, and how a prefetch answer is read.

CDS Hooks: a key present with data is satisfied; present with `null` means "no data" (do not refetch); absent, or
an OperationOutcome in its place, means the client could not satisfy it and the service fetches it itself.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cds_service.fhir import Resource, bundle_resources, next_link


@dataclass(frozen=True, slots=True)
class PrefetchQuery:
    """One piece of the record the rules read, and the FHIR query (per version) that finds it.

    A DSTU2 server has `MedicationOrder` where STU3 and R4 have `MedicationRequest`, and answers 404 to the other
    search; a client skips a template its server cannot answer. So discovery advertises both, each under its own
    key (`dstu2_key`), and the service takes whichever arrives.
    """

    key: str
    template: str
    purpose: str
    # What a clinician reads when this data could not be had ("the active medication list").
    label: str
    dstu2_key: str | None = None
    dstu2_template: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every prefetch key that can carry this data: the STU3/R4 key first, then the DSTU2 one."""
        return (self.key, self.dstu2_key) if self.dstu2_key else (self.key,)

    def template_for(self, dstu2: bool) -> str:
        return self.dstu2_template if dstu2 and self.dstu2_template else self.template


PREFETCH_QUERIES: tuple[PrefetchQuery, ...] = (
    PrefetchQuery(
        key="patient",
        template="Patient/{{context.patientId}}",
        purpose="the patient's sex and birth date",
        label="the patient's demographics",
    ),
    PrefetchQuery(
        key="activeMedications",
        template="MedicationRequest?patient={{context.patientId}}&status=active,on-hold",
        dstu2_key="activeMedicationOrders",
        dstu2_template="MedicationOrder?patient={{context.patientId}}&status=active,on-hold",
        purpose="active orders, to find imatinib or an inducer the patient already takes",
        label="the active medication list",
    ),
    PrefetchQuery(
        key="medicationHistory",
        template="MedicationRequest?patient={{context.patientId}}&_sort=-authoredon&_count=100",
        dstu2_key="medicationOrderHistory",
        dstu2_template="MedicationOrder?patient={{context.patientId}}&_sort=-datewritten&_count=100",
        purpose="earlier tyrosine-kinase inhibitor therapy",
        label="the medication history",
    ),
    PrefetchQuery(
        key="medicationStatements",
        template="MedicationStatement?patient={{context.patientId}}&status=active",
        purpose="medicines taken without an order here, such as St John's wort",
        label="the medicines recorded as taken (medication statements)",
    ),
    PrefetchQuery(
        key="stoppedMedicationStatements",
        template="MedicationStatement?patient={{context.patientId}}&status=completed,stopped&_count=100",
        # DSTU2 statements have no "stopped" status: the service asks a DSTU2 server for "completed" only.
        dstu2_template="MedicationStatement?patient={{context.patientId}}&status=completed&_count=100",
        purpose="medicines the patient stopped, such as an inducer whose effect on imatinib is wearing off",
        label="the medicines recorded as stopped (medication statements)",
    ),
    PrefetchQuery(
        key="conditions",
        template="Condition?patient={{context.patientId}}",
        purpose="the indication (CML or GIST), its phase, and inflammatory bowel disease",
        label="the patient's conditions",
    ),
    PrefetchQuery(
        key="labResults",
        template="Observation?patient={{context.patientId}}&category=laboratory&_sort=-date&_count=100",
        purpose="imatinib trough levels, BCR-ABL1 response and genomic variants",
        label="the laboratory results",
    ),
    PrefetchQuery(
        key="genomicVariants",
        template="Observation?patient={{context.patientId}}&code=http://loinc.org|69548-6",
        purpose="Genomics Reporting IG and mCODE variant results, however many newer lab results there are",
        label="the genomic variant results",
    ),
    PrefetchQuery(
        key="vitalSigns",
        # By code, not by category: the vital-signs category code differs between DSTU2 and STU3/R4, and
        # `category=laboratory` (labResults) misses weight and height.
        template="Observation?patient={{context.patientId}}&code=http://loinc.org|29463-7,http://loinc.org|8302-2"
                 "&_sort=-date&_count=50",
        purpose="the latest body weight and height: a child's imatinib dose is set by body-surface area",
        label="the body weight and height",
    ),
    PrefetchQuery(
        key="medicationAdministrations",
        template="MedicationAdministration?patient={{context.patientId}}&_sort=-effective-time&_count=100",
        # DSTU2 names the sort parameter `effectivetime`; a server that checks sort names (HAPI does) answers 400
        # to the other spelling, and the client skips the key.
        dstu2_key="medicationAdministrationsDstu2",
        dstu2_template="MedicationAdministration?patient={{context.patientId}}&_sort=-effectivetime&_count=100",
        purpose="when the last imatinib doses were given: whether a level was a trough",
        label="the medication administrations",
    ),
)

PREFETCH_BY_KEY: dict[str, PrefetchQuery] = {q.key: q for q in PREFETCH_QUERIES}

# Discovery: every key a client may fill, the DSTU2 ones beside the others.
PREFETCH_TEMPLATES: dict[str, str] = {
    key: template
    for q in PREFETCH_QUERIES
    for key, template in ((q.key, q.template), (q.dstu2_key, q.dstu2_template))
    if key and template
}

_TOKEN = re.compile(r"\{\{\s*([A-Za-z.]+)\s*\}\}")
_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


class UnrenderableTemplate(ValueError):
    pass


def _url_value(value: str) -> str:
    """A token's value percent-encoded whole: "#", "?", "&" or "/" in an id must not cut the query short, add
    parameters or leave the server's path (FHIR ids never hold them, so a real id is unchanged)."""
    return quote(value, safe="")


def render_template(template: str, context: dict[str, Any]) -> str:
    """Fill `{{context.x}}` and `{{userPractitionerId}}`-style tokens, as the spec allows and no more."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token.startswith("context."):
            value = context.get(token.removeprefix("context."))
            if isinstance(value, str | int) and not isinstance(value, bool):
                return _url_value(str(value))
            raise UnrenderableTemplate(f"context has no primitive value for {token}")
        if token in _USER_TOKENS:
            user = context.get("userId")
            prefix = _USER_TOKENS[token] + "/"
            if isinstance(user, str) and user.startswith(prefix):
                return _url_value(user.removeprefix(prefix))
        raise UnrenderableTemplate(f"cannot fill {{{{{token}}}}}")

    return _TOKEN.sub(replace, template)


@dataclass(frozen=True, slots=True)
class PrefetchAnswer:
    """How one prefetch key arrived: usable resources, or a reason it must be fetched."""

    resources: list[Resource] | None
    next_url: str | None = None
    problem: str | None = None

    @property
    def satisfied(self) -> bool:
        return self.resources is not None


def read_prefetch(prefetch: dict[str, Any] | None, key: str) -> PrefetchAnswer:
    if prefetch is None or key not in prefetch:
        return PrefetchAnswer(None, problem="not prefetched")
    value = prefetch[key]
    if value is None:
        return PrefetchAnswer([])
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        return PrefetchAnswer(None, problem="prefetched value is not a FHIR resource")
    if value["resourceType"] == "OperationOutcome":
        return PrefetchAnswer(None, problem="the client could not prefetch it (OperationOutcome)")
    return PrefetchAnswer(bundle_resources(value), next_url=next_link(value))
