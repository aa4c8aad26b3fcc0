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
    key: str
    template: str
    required: bool
    purpose: str
    # DSTU2 servers have MedicationOrder where later versions have MedicationRequest.
    dstu2_template: str | None = None


PREFETCH_QUERIES: tuple[PrefetchQuery, ...] = (
    PrefetchQuery(
        key="patient",
        template="Patient/{{context.patientId}}",
        required=False,
        purpose="the patient's sex and birth date",
    ),
    PrefetchQuery(
        key="activeMedications",
        template="MedicationRequest?patient={{context.patientId}}&status=active,on-hold",
        dstu2_template="MedicationOrder?patient={{context.patientId}}&status=active,on-hold",
        required=True,
        purpose="active orders, to find imatinib or an inducer the patient already takes",
    ),
    PrefetchQuery(
        key="medicationHistory",
        template="MedicationRequest?patient={{context.patientId}}&_sort=-authoredon&_count=100",
        dstu2_template="MedicationOrder?patient={{context.patientId}}&_sort=-datewritten&_count=100",
        required=False,
        purpose="earlier tyrosine-kinase inhibitor therapy",
    ),
    PrefetchQuery(
        key="medicationStatements",
        template="MedicationStatement?patient={{context.patientId}}&status=active",
        required=False,
        purpose="medicines taken without an order here, such as St John's wort",
    ),
    PrefetchQuery(
        key="conditions",
        template="Condition?patient={{context.patientId}}",
        required=False,
        purpose="the indication (CML or GIST), its phase, and inflammatory bowel disease",
    ),
    PrefetchQuery(
        key="labResults",
        template="Observation?patient={{context.patientId}}&category=laboratory&_sort=-date&_count=100",
        required=False,
        purpose="imatinib trough levels, BCR-ABL1 response and genomic variants",
    ),
    PrefetchQuery(
        key="genomicVariants",
        template="Observation?patient={{context.patientId}}&code=http://loinc.org|69548-6",
        required=False,
        purpose="Genomics Reporting IG and mCODE variant results, however many newer lab results there are",
    ),
)

PREFETCH_TEMPLATES: dict[str, str] = {q.key: q.template for q in PREFETCH_QUERIES}

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
