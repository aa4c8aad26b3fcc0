"""The indication imatinib is for (CML and its phase, or GIST), and comorbidities the rules care about."""

from dataclasses import dataclass

from cds_service.fhir import Resource, codings
from cds_service.knowledge.loader import Knowledge
from cds_service.knowledge.models import ConditionGroup

# "remission" stays current: imatinib goes on in CML in remission.
_INACTIVE = frozenset({"inactive", "resolved"})
_REFUTED = frozenset({"refuted", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class Diagnosis:
    group: ConditionGroup
    onset: str | None

    @property
    def id(self) -> str:
        return self.group.id


def _status_code(value: object) -> str | None:
    if isinstance(value, str):  # DSTU2 / STU3: a code
        return value
    for coding in codings(value):  # R4: a CodeableConcept
        if isinstance(coding.get("code"), str):
            return coding["code"]
    return None


def is_current(condition: Resource) -> bool:
    clinical = _status_code(condition.get("clinicalStatus"))
    verification = _status_code(condition.get("verificationStatus"))
    return clinical not in _INACTIVE and verification not in _REFUTED


def classify(condition: Resource, knowledge: Knowledge) -> ConditionGroup | None:
    for coding in codings(condition.get("code")):
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            continue
        group = knowledge.condition_by_code.get((system, code))
        if group is not None:
            return group
        for prefix_system, prefix, prefixed_group in knowledge.condition_prefixes:
            if system == prefix_system and code.startswith(prefix):
                return prefixed_group
    return None


def diagnoses(conditions: list[Resource], knowledge: Knowledge) -> list[Diagnosis]:
    found = []
    for condition in conditions:
        if not is_current(condition):
            continue
        group = classify(condition, knowledge)
        if group is not None:
            onset = condition.get("onsetDateTime") or condition.get("recordedDate") or condition.get("dateRecorded")
            found.append(Diagnosis(group, onset if isinstance(onset, str) else None))
    return found
