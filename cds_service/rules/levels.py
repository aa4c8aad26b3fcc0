"""The latest imatinib level against the trough target, and the earliest day a new trough means something.

A level is held against the trough target only when it was a trough (or its record does not say, and the card then
says it was read as one); a level drawn hours after a dose is named as such and not compared. A trough above the
watch level rules out any dose increase.
"""

from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Literal

from cds_service.facts import PatientFacts
from cds_service.facts.labs import LATER_THAN_TROUGH, ImatinibLevel
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
    stands = standing(level, floor)
    if stands == "unreadable":
        return LevelAssessment(level, f"{head}: it cannot be read as a concentration ({level.unread}); check the "
                               "result with the laboratory. It is not compared with the target.", comparable=False,
                               below_target=False, above_watch=False, not_compared="cannot be read as a concentration")
    if stands == "not measured":
        return LevelAssessment(level, f"{head}: not a concentration an assay reports (check the result with the "
                               "laboratory); it is not compared with the target.", comparable=False,
                               below_target=False, above_watch=False, not_compared="is not a measured value")
    if stands == "unsettled":
        return LevelAssessment(level, f"{head}: a bound, which does not say whether the {floor:g} ng/mL trough "
                               "target is met.", comparable=False, below_target=False, above_watch=False,
                               not_compared="is a bound that does not say whether the target is met")
    if timing.kind == "not-trough":
        return LevelAssessment(
            level,
            f"{head}, {timing.text} (read from {timing.read_from}): a level {timing.text} cannot be compared with "
            f"the {floor:g} ng/mL trough target. A trough is drawn just before the next dose.",
            comparable=False, below_target=False, above_watch=False, not_compared="was not a trough",
        )
    below = stands == "below"
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


# "unreadable": not a number in a unit convertible to ng/mL; "not measured": a number no assay reports.
Standing = Literal["unreadable", "not measured", "below", "at or above", "unsettled"]


def reported_value(level: ImatinibLevel) -> bool:
    """Whether the value is one an assay reports: a bound ("<50") or a concentration above 0 and within the dosing
    API's range; 0, a negative value or 2,000,000 ng/mL is an entry or unit error, and a result the service could
    not read as a concentration (`unread`) is not a value at all."""
    return not level.unread and (level.is_bound or 0 < level.ng_ml <= MAX_LEVEL_VALUE)


def standing(level: ImatinibLevel, floor: float) -> Standing:
    """How the level's value stands against the trough target `floor`. A bound counts only when it settles it:
    "<50" is below 1000, ">5000" at or above, ">500" and "<2000" unsettled."""
    if level.unread:
        return "unreadable"
    if not reported_value(level):
        return "not measured"
    if level.comparator in (">", ">="):
        return "at or above" if level.ng_ml >= floor else "unsettled"
    if level.comparator in ("<", "<="):
        settled = level.ng_ml < floor or (level.comparator == "<" and level.ng_ml == floor)
        return "below" if settled else "unsettled"
    if level.is_bound:  # a comparator FHIR does not define
        return "unsettled"
    return "below" if level.ng_ml < floor else "at or above"


def latest_level(facts: PatientFacts, target: TroughTarget | None, knowledge: Knowledge) -> LevelAssessment | None:
    """The level the rules hold against the target, its text naming any later sample set aside beside it."""
    assessed = assess_level(facts.imatinib_levels[0] if facts.imatinib_levels else None, target, knowledge)
    if assessed is not None and (later := later_samples_set_aside(facts)):
        return replace(assessed, text=" ".join([assessed.text, *later]))
    return assessed


def later_samples_set_aside(facts: PatientFacts) -> list[str]:
    """A sample drawn after a labelled trough within one dosing interval, with no timing of its own, is not a trough
    (facts/labs.py: trough_before_untimed): the card names it, so its value is not missed."""
    return [
        f"A later sample, {level.shown} on {level.drawn.text if level.drawn else 'an unrecorded date'}, was "
        f"{level.timing.text}: two samples of one dosing interval cannot both be troughs, so the labelled trough "
        "is the level used; the later one is not held against the target."
        for level in facts.imatinib_levels[1:]
        if level.timing.kind == "not-trough" and level.timing.read_from.startswith(LATER_THAN_TROUGH)
    ]


def under_induction(
    level: LevelAssessment | None, inducers: list[MedicationUse], today: date, knowledge: Knowledge
) -> LevelAssessment | None:
    """The level as a measure of the exposure under `inducers`: one drawn before they started, or in the first
    days of induction (which builds over about two weeks), shows the exposure without them, so it neither meets
    the target nor rules out the increase: it is named, and not compared. A level without a draw date is left as
    it is (the card says it was read as a trough)."""
    if level is None or not level.comparable or level.below_target or level.level.drawn is None:
        return level  # below the target without the induction's full effect: lower still with it
    start = inducer_start(inducers, today)
    settled = start + timedelta(days=knowledge.imatinib.tdm.days_until_trough)
    drawn = level.level.drawn.day
    if drawn >= settled:
        return level
    if drawn < start:
        why = f"was drawn before the inducer started ({start.isoformat()})"
    else:
        why = (f"was drawn {(drawn - start).days} days into the inducer ({start.isoformat()}), before its induction "
               f"is established (about {knowledge.imatinib.tdm.days_until_trough} days)")
    why += ", so it is not compared with the target"
    text = f"Latest imatinib level: **{level.level.shown}** on {level.drawn_on}, {why.removeprefix('was ')}."
    return replace(level, comparable=False, below_target=False, above_watch=False, not_compared=why, text=text)


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
