"""The latest imatinib level against the trough target, and the earliest day a new trough means something.

A level is held against the trough target only when it was a trough (or its record does not say, and the card then
says it was read as one); a level drawn hours after a dose is named as such and not compared. A trough above the
watch level rules out any dose increase.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from cds_service.facts import PatientFacts
from cds_service.facts.labs import ImatinibLevel
from cds_service.facts.medications import MedicationUse
from cds_service.facts.timeline import written_on
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import TroughTarget
from cds_service.pk.dosing import MAX_LEVEL_VALUE


@dataclass(frozen=True, slots=True)
class LevelAssessment:
    """What a card says about the latest level, and what the dose advice may conclude from it."""

    level: ImatinibLevel
    text: str
    comparable: bool  # a trough, or a level whose timing is not recorded (read as a trough, and said so)
    below_target: bool
    above_watch: bool
    # Why a level that is not comparable was not compared, as a predicate: "was not a trough".
    not_compared: str = ""

    @property
    def at_or_above_target(self) -> bool:
        return self.comparable and not self.below_target

    @property
    def drawn_on(self) -> str:
        return self.level.drawn.shown() if self.level.drawn else "an unrecorded date"


def _drawn(level: ImatinibLevel) -> str:
    if level.drawn is not None:
        return f" on {level.drawn.shown()}"
    if level.reported:
        return f" (no draw time recorded; reported {level.reported[:10]})"
    return " (no draw time recorded)"


def assess_level(
    level: ImatinibLevel | None, target: TroughTarget | None, knowledge: Knowledge
) -> LevelAssessment | None:
    if level is None:
        return None
    floor = target.min_ng_ml if target else min(t.min_ng_ml for t in knowledge.trough_targets.values())
    watch = knowledge.imatinib.tdm.watch_above_ng_ml
    timing = level.timing
    head = f"Latest imatinib level: **{level.shown}**{_drawn(level)}"
    unfit = _not_comparable(level, floor)
    if unfit:
        return LevelAssessment(level, f"{head}: {unfit[1]}.", comparable=False, below_target=False,
                               above_watch=False, not_compared=unfit[0])
    if timing.kind == "not-trough":
        return LevelAssessment(
            level,
            f"{head}, {timing.text} (read from {timing.read_from}): a level {timing.text} cannot be compared with "
            f"the {floor:g} ng/mL trough target. A trough is drawn just before the next dose.",
            comparable=False, below_target=False, above_watch=False, not_compared="was not a trough",
        )
    below = level.ng_ml < floor or (level.comparator == "<" and level.ng_ml == floor)
    verdict = "below" if below else "at or above"
    how = (
        f" ({timing.text}, read from {timing.read_from})" if timing.kind == "trough"
        else " (read as a trough: no time after the dose is recorded)"
    )
    text = f"{head}, {verdict} the {floor:g} ng/mL target{how}."
    above_watch = level.ng_ml > watch
    if above_watch:
        text += (
            f" It is above {watch:g} ng/mL, the level above which exposure is to be watched closely: no dose "
            "increase is suggested."
        )
    return LevelAssessment(level, text, comparable=True, below_target=below, above_watch=above_watch)


def _not_comparable(level: ImatinibLevel, floor: float) -> tuple[str, str] | None:
    """(a predicate, a sentence) when the value itself cannot be held against the target: not a concentration any
    assay reports, or a bound on the wrong side of it (">500" against 1000, "<2000")."""
    if not level.is_bound and not 0 < level.ng_ml <= MAX_LEVEL_VALUE:
        return ("is not a measured value", "not a concentration an assay reports (check the result with the "
                "laboratory); it is not compared with the target")
    unsettled = (level.comparator in (">", ">=") and level.ng_ml < floor) or (
        level.comparator in ("<", "<=") and level.ng_ml > floor) or (
        level.comparator == "<=" and level.ng_ml == floor) or (
        level.is_bound and level.comparator not in ("<", "<=", ">", ">="))
    if unsettled:
        return ("is a bound that does not say whether the target is met",
                f"a bound, which does not say whether the {floor:g} ng/mL trough target is met")
    return None


def latest_level(facts: PatientFacts, target: TroughTarget | None, knowledge: Knowledge) -> LevelAssessment | None:
    return assess_level(facts.imatinib_levels[0] if facts.imatinib_levels else None, target, knowledge)


def therapy_start(facts: PatientFacts) -> date | None:
    """When the imatinib the patient takes now began (its earliest order on record), or None for a new start:
    without an active imatinib order or statement, the draft starts (or restarts) therapy today."""
    current = [m for m in facts.medications if "imatinib" in m.ingredients and m.origin != "draft"]
    if not current:
        return None
    earlier = [m for m in facts.history if "imatinib" in m.ingredients]
    starts = [on.day for m in (*current, *earlier) if (on := written_on(m)) is not None]
    return min(starts) if starts else None


def inducer_start(inducers: list[MedicationUse], today: date) -> date:
    """When induction began: the earliest of the inducers' start dates; today for one being ordered now."""
    starts = [
        today if use.origin == "draft" else on.day if (on := written_on(use)) is not None else today
        for use in inducers
    ]
    return min(starts, default=today)


def trough_date(
    facts: PatientFacts,
    knowledge: Knowledge,
    *,
    dose_changed_today: bool,
    induction_from: date | None = None,
) -> tuple[date, str]:
    """The earliest day a trough reflects the dose: ARUP's 29 days of uninterrupted therapy and 8 days after a dose
    change, and about two weeks after an inducer started; the latest of these, never before today."""
    tdm = knowledge.imatinib.tdm
    today = facts.today
    start = therapy_start(facts)
    reasons: list[tuple[date, str]] = []
    if start is None:
        reasons.append((today + timedelta(days=tdm.min_days_on_therapy),
                        f"{tdm.min_days_on_therapy} days of uninterrupted therapy from today's new start (ARUP)"))
    else:
        reasons.append((start + timedelta(days=tdm.min_days_on_therapy),
                        f"{tdm.min_days_on_therapy} days of uninterrupted therapy from {start.isoformat()}, the "
                        "earliest imatinib order on record (ARUP)"))
    if dose_changed_today:
        reasons.append((today + timedelta(days=tdm.min_days_after_dose_change),
                        f"{tdm.min_days_after_dose_change} days after today's dose change (ARUP)"))
    if induction_from is not None:
        reasons.append((induction_from + timedelta(days=tdm.days_until_trough),
                        f"about {tdm.days_until_trough} days after the inducer started (induction onset: general "
                        "pharmacology, not confirmed)"))
    day = max(d for d, _ in reasons)
    if day <= today:
        return today, "any day now: " + " and ".join(why for _, why in reasons) + " are past"
    decisive = [why for d, why in reasons if d == day]
    others = [why for d, why in reasons if d != day]
    text = " and ".join(decisive)
    if others:
        text += " (later than " + "; ".join(others) + ")"
    return day, text
