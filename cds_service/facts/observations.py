"""The patient's results sorted once by what they report, so each reader walks only the results it reads.

Most of a record is blood counts: checking each of them against three readers' codes costs more than the reading
itself. One pass looks each result's codes up in the knowledge base's `result_kinds` index instead.
"""

from dataclasses import dataclass, field

from cds_service.facts.labs import is_result
from cds_service.fhir import Resource, belongs_to, local_reference
from cds_service.knowledge.loader import Knowledge


@dataclass(frozen=True, slots=True)
class SortedResults:
    """The patient's final results (each once), as the share each reader reads."""

    levels: list[Resource] = field(default_factory=list)
    bcr_abl1: list[Resource] = field(default_factory=list)
    # Structured variants, and every result without a number that may name a variant in a code or in text.
    variant_candidates: list[Resource] = field(default_factory=list)
    # Weights and heights filed among the results (the profile reads them beside the vital signs).
    body_measures: list[Resource] = field(default_factory=list)
    # Numbers under a code the knowledge base does not know, named as imatinib (a local "Imatinib trough" code):
    # not read as levels, but named on the check-incomplete card rather than passed over in silence.
    named_levels: list[Resource] = field(default_factory=list)


def sort_results(resources: list[Resource], patient_id: str, knowledge: Knowledge) -> SortedResults:
    kinds_by_code = knowledge.result_kinds
    seen: set[str] = set()
    levels: list[Resource] = []
    bcr_abl1: list[Resource] = []
    candidates: list[Resource] = []
    body_measures: list[Resource] = []
    named_levels: list[Resource] = []
    for resource in resources:
        if resource.get("resourceType") != "Observation" or not belongs_to(resource, patient_id):
            continue
        key = local_reference(resource) or str(id(resource))
        if key in seen:
            continue
        seen.add(key)
        if not is_result(resource):
            continue
        kinds = _kinds(resource.get("code"), kinds_by_code)
        if "level" in kinds:
            levels.append(resource)
        if "bcr-abl1" in kinds:
            bcr_abl1.append(resource)
        if "variant" in kinds or "valueQuantity" not in resource:
            candidates.append(resource)
        if "body measure" in kinds:
            body_measures.append(resource)
        if not kinds and "valueQuantity" in resource and _named_as_imatinib(resource.get("code")):
            named_levels.append(resource)
    return SortedResults(levels, bcr_abl1, candidates, body_measures, named_levels)


# Not the parent drug: its metabolite (N-desmethyl imatinib, CGP 74588, norimatinib) is measured by some assays too.
_METABOLITE_WORDS = ("desmethyl", "norimatinib", "cgp 74588", "cgp74588", "metabolite")


def _named_as_imatinib(concept: object) -> bool:
    """Whether a code's text or a display names imatinib (and not its metabolite). A substring test on each word:
    this runs for every result whose code the knowledge base does not know, nearly all blood counts."""
    if not isinstance(concept, dict):
        return False
    text = concept.get("text")
    if isinstance(text, str) and ("matinib" in text or "MATINIB" in text):
        return not _names_metabolite(text)
    codings = concept.get("coding")
    if isinstance(codings, list):
        for coding in codings:
            display = coding.get("display") if isinstance(coding, dict) else None
            if isinstance(display, str) and ("matinib" in display or "MATINIB" in display):
                return not _names_metabolite(display)
    return False


def _names_metabolite(words: str) -> bool:
    lowered = words.lower()
    return any(m in lowered for m in _METABOLITE_WORDS)


_NONE: frozenset[str] = frozenset()


def _kinds(concept: object, kinds_by_code: dict[tuple[str, str], frozenset[str]]) -> frozenset[str]:
    found = _NONE
    if not isinstance(concept, dict) or not isinstance(codings := concept.get("coding"), list):
        return found
    for coding in codings:  # raw_codings, inlined: this runs for every result of the record
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                found = found | kinds_by_code.get((system, code), _NONE)
    return found
