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


def sort_results(resources: list[Resource], patient_id: str, knowledge: Knowledge) -> SortedResults:
    kinds_by_code = knowledge.result_kinds
    seen: set[str] = set()
    levels: list[Resource] = []
    bcr_abl1: list[Resource] = []
    candidates: list[Resource] = []
    body_measures: list[Resource] = []
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
    return SortedResults(levels, bcr_abl1, candidates, body_measures)


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
