"""Prior therapy from the medication history: earlier imatinib, an earlier second-generation TKI, and when imatinib
was first ordered (the clock the response milestones run on)."""

from dataclasses import dataclass

from cds_service.facts.medications import MedicationUse
from cds_service.knowledge.models import PriorTherapy

# Orders that never became therapy.
_NEVER_GIVEN = frozenset({"draft", "cancelled", "entered-in-error"})


@dataclass(frozen=True, slots=True)
class TherapyHistory:
    imatinib: tuple[MedicationUse, ...]
    second_generation: tuple[MedicationUse, ...]
    imatinib_start: str | None
    # What the guide's rows and trials are matched on ("none" when neither), worked out once by `therapy_history`.
    categories: frozenset[PriorTherapy]


def started(use: MedicationUse) -> str | None:
    resource = use.resource
    period = resource.get("effectivePeriod")
    validity = (resource.get("dispenseRequest") or {}).get("validityPeriod")
    for value in (
        resource.get("authoredOn"),
        resource.get("dateWritten"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("effectiveDateTime"),
        validity.get("start") if isinstance(validity, dict) else None,
    ):
        if isinstance(value, str) and value:
            return value
    return None


def therapy_history(
    medications: tuple[MedicationUse, ...], history: tuple[MedicationUse, ...], second_generation: frozenset[str]
) -> TherapyHistory:
    """Everything given before the order being written: active orders, statements and the order history."""
    given = [
        use for use in (*medications, *history)
        if use.origin != "draft" and use.status not in _NEVER_GIVEN
    ]
    imatinib = tuple(u for u in given if "imatinib" in u.ingredients)
    second = tuple(u for u in given if u.ingredients & second_generation)
    starts = sorted(s for s in (started(u) for u in imatinib) if s)
    categories: set[PriorTherapy] = set()
    if imatinib:
        categories.add("imatinib")
    if second:
        categories.add("second-generation")
    return TherapyHistory(imatinib, second, starts[0] if starts else None, frozenset(categories or {"none"}))
