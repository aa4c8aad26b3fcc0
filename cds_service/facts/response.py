"""BCR-ABL1 International Scale results and how the latest one stands against the ELN 2020 milestones."""

from dataclasses import dataclass
from datetime import date

from cds_service.facts.labs import is_result, observation_time
from cds_service.fhir import Resource, has_coding, local_reference
from cds_service.knowledge.loader import Knowledge
from cds_service.knowledge.models import Milestone, ResponseCategory

_DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True, slots=True)
class IsResult:
    percent: float
    when: str | None
    reference: str | None
    below_limit: bool = False  # reported as "<" a detection limit

    def describe(self) -> str:
        value = f"{'<' if self.below_limit else ''}{self.percent:g} %"
        where = f" ({self.reference})" if self.reference else ""
        return f"BCR-ABL1 {value} IS on {self.when[:10] if self.when else 'an unknown date'}{where}"


def is_results(observations: tuple[Resource, ...] | list[Resource], knowledge: Knowledge) -> list[IsResult]:
    """Final BCR-ABL1 IS results in percent, newest first."""
    code, units = knowledge.response.is_result, knowledge.is_result_units
    results = []
    for obs in observations:
        if not is_result(obs) or not has_coding(obs.get("code"), code.system, code.code):
            continue
        quantity = obs.get("valueQuantity")
        if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
            continue
        unit = str(quantity.get("code") or quantity.get("unit") or "").strip().casefold()
        if unit not in units:
            continue
        below = quantity.get("comparator") in ("<", "<=")
        results.append(IsResult(float(quantity["value"]), observation_time(obs), local_reference(obs), below))
    results.sort(key=lambda r: r.when or "", reverse=True)
    return results


@dataclass(frozen=True, slots=True)
class ResponseAssessment:
    category: ResponseCategory
    latest: IsResult | None
    months_on_imatinib: float | None
    milestone: Milestone | None

    def describe(self) -> str:
        if self.latest is None:
            return "No BCR-ABL1 IS result on record."
        text = self.latest.describe()
        if self.months_on_imatinib is None:
            return f"{text}; the start of imatinib is not in the record, so the milestones were not applied."
        months = f"{self.months_on_imatinib:.0f} months after imatinib was first ordered"
        if self.milestone is None:
            return f"{text}, {months}: before the first milestone."
        return f"{text}, {months}: **{self.category}** against the {self.milestone.months}-month milestone."


def _day(when: str | None) -> date | None:
    try:
        return date.fromisoformat(when[:10]) if when else None
    except ValueError:
        return None


def judge(result: IsResult, months: float, milestones: list[Milestone]) -> tuple[ResponseCategory, Milestone | None]:
    """Against the latest milestone reached: at or under its optimal limit optimal, over its failure limit failure."""
    reached = [m for m in milestones if months >= m.months]
    if not reached:
        return "early", None
    milestone = reached[-1]
    if result.percent <= milestone.optimal_max_percent:
        return "optimal", milestone
    if milestone.failure_above_percent is not None and result.percent > milestone.failure_above_percent:
        return "failure", milestone
    return "warning", milestone


def assess_response(
    results: tuple[IsResult, ...], imatinib_start: str | None, knowledge: Knowledge
) -> ResponseAssessment:
    latest = results[0] if results else None
    start, measured = _day(imatinib_start), _day(latest.when if latest else None)
    if latest is None or start is None or measured is None:
        return ResponseAssessment("unknown", latest, None, None)
    months = (measured - start).days / _DAYS_PER_MONTH
    category, milestone = judge(latest, months, knowledge.response.milestones)
    return ResponseAssessment(category, latest, months, milestone)
