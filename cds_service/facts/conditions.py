"""The indication imatinib is for (CML and its phase, or GIST), and comorbidities the rules care about.

A Condition counts by code (SNOMED CT, ICD-10-CM families), else, for the groups the knowledge base names in words
(inflammatory bowel disease), by its text and codings' displays. Each diagnosis keeps what the record called it, the
date it gives (onset, else when it was recorded: R4 `recordedDate`, STU3 `assertedDate`, DSTU2 `dateRecorded`) and
its statuses, so a card can say "Crohn's disease on record since 2019-03-04" and whether it is recorded as resolved.
"""

from dataclasses import dataclass
from typing import Literal

from cds_service.fhir import Resource, codings, concept_words
from cds_service.knowledge.loader import Knowledge, fold_name
from cds_service.knowledge.models import ConditionGroup

# "remission" stays current: imatinib goes on in CML in remission.
_INACTIVE = frozenset({"inactive", "resolved"})
_REFUTED = frozenset({"refuted", "entered-in-error"})
_RECORDED = ("recordedDate", "assertedDate", "dateRecorded")  # R4, STU3, DSTU2


@dataclass(frozen=True, slots=True)
class Diagnosis:
    group: ConditionGroup
    onset: str | None
    name: str = ""  # what the record calls it ("Crohn's disease of ileum"); the group's label when it says nothing
    recorded: str | None = None  # when it was recorded, when the record gives no onset
    clinical_status: str | None = None
    verification: str | None = None
    recognised_by: Literal["code", "name"] = "code"

    @property
    def id(self) -> str:
        return self.group.id

    @property
    def inactive(self) -> bool:
        return self.clinical_status in _INACTIVE or self.clinical_status == "remission"

    def on_record(self) -> str:
        """"Crohn's disease on record since 2019-03-04", "ulcerative colitis, onset 2012-04-01"."""
        name = self.name or self.group.label
        if self.onset:
            return f"{name}, onset {self.onset[:10]}"
        if self.recorded:
            return f"{name} on record since {self.recorded[:10]}"
        return f"{name} on record (no date given)"


def _status_code(value: object) -> str | None:
    if isinstance(value, str):  # DSTU2 / STU3: a code
        return value
    for coding in codings(value):  # R4: a CodeableConcept
        if isinstance(code := coding.get("code"), str):
            return code
    return None


def is_current(condition: Resource) -> bool:
    clinical = _status_code(condition.get("clinicalStatus"))
    verification = _status_code(condition.get("verificationStatus"))
    return clinical not in _INACTIVE and verification not in _REFUTED


def _counts(condition: Resource, group: ConditionGroup) -> bool:
    """Current conditions count; an inactive or resolved one too where the knowledge base says its risk outlasts it.
    A refuted or entered-in-error one never does."""
    if _status_code(condition.get("verificationStatus")) in _REFUTED:
        return False
    return group.history_counts or is_current(condition)


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


def classify_by_name(condition: Resource, knowledge: Knowledge) -> tuple[ConditionGroup, str] | None:
    """The group a condition's words name, and the words: "Crohn's disease" in a text or display, never "family
    history of Crohn's disease" or "ulcerative colitis ruled out"."""
    for words in concept_words(condition.get("code")):
        folded = fold_name(words)
        for group, names, not_names in knowledge.condition_names:
            if names.search(folded) and not (not_names and not_names.search(folded)):
                return group, words
    return None


def _name(condition: Resource, group: ConditionGroup) -> str:
    words = concept_words(condition.get("code"))
    return words[0] if words else group.label


def _date(condition: Resource, *keys: str) -> str | None:
    for key in keys:
        value = condition.get(key)
        if isinstance(value, dict):  # onsetPeriod
            value = value.get("start")
        if isinstance(value, str) and value:
            return value
    return None


def diagnoses(conditions: list[Resource], knowledge: Knowledge) -> list[Diagnosis]:
    found = []
    for condition in conditions:
        group = classify(condition, knowledge)
        recognised_by: Literal["code", "name"] = "code"
        name = ""
        if group is None and (named := classify_by_name(condition, knowledge)) is not None:
            (group, name), recognised_by = named, "name"
        if group is None or not _counts(condition, group):
            continue
        found.append(Diagnosis(
            group=group,
            onset=_date(condition, "onsetDateTime", "onsetPeriod"),
            name=name or _name(condition, group),
            recorded=_date(condition, *_RECORDED),
            clinical_status=_status_code(condition.get("clinicalStatus")),
            verification=_status_code(condition.get("verificationStatus")),
            recognised_by=recognised_by,
        ))
    return found
