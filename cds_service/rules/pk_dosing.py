"""From the record to the PK model and back: the patient's covariates, the regimen taken, the latest level placed
against its dose history, the model's answer, and the proposal as a whole-tablet dose change a card can write.

One reading shared by the TDM card and the inducer card; the numbers come from cds_service.pk.estimate, the same
computation the dosing API answers with.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from cds_service.facts import PatientFacts
from cds_service.facts.dose import Dose
from cds_service.facts.labs import ImatinibLevel
from cds_service.facts.medications import MedicationUse
from cds_service.facts.timeline import Instant, span_of
from cds_service.knowledge import Knowledge
from cds_service.pk.dosing import MAX_LEVEL_VALUE, MAX_WEIGHT_KG, held_to_schema
from cds_service.pk.estimate import (
    DosingInputError,
    GivenCovariates,
    MeasuredLevel,
    ModelAnswer,
    ModelRequest,
    Regimen,
    estimate,
)
from cds_service.rules.dosing import DoseIncrease, tablets_for
from cds_service.rules.levels import later_samples_set_aside, reported_value, therapy_start

STEADY_STATE_DAYS = 60  # with no start on record, the regimen is taken to have run this long (steady state)


@dataclass(frozen=True, slots=True)
class ModelDosing:
    """The model's answer for this patient, and what the card must say about how it was read."""

    answer: ModelAnswer
    request: ModelRequest
    dose: Dose  # the regimen the levels were taken on
    level: ImatinibLevel | None  # the level fitted, if any
    level_reading: str  # how the level was placed against the doses ("" without a level)
    notes: tuple[str, ...]  # what the record did not say and was assumed
    # Why the latest level, taken on this regimen, could not be fitted (no draw time, a bound such as "<50", a value
    # no assay reports); "" when it was fitted or is not about this regimen (it predates the order or the inducer).
    unfitted: str = ""

    @property
    def trough(self) -> float:
        """The individual (MAP) steady-state trough of the current regimen; a priori without a level."""
        estimate = self.answer.a_posteriori or self.answer.a_priori
        return estimate.trough_ng_per_ml

    @property
    def proposal_daily_mg(self) -> float:
        return self.answer.proposal.dose_mg * 24 / self.answer.proposal.interval_hours


@dataclass(frozen=True, slots=True)
class NoModel:
    """Why no model-based dose is given (a child, a dose that cannot be read, ...), in a sentence for the card."""

    reason: str
    outside_domain: bool = False


def regimen_use(facts: PatientFacts, fallback: MedicationUse) -> MedicationUse:
    """The imatinib the patient has been taking (active order, then statement), else `fallback` (the draft)."""
    taken = [m for m in facts.medications if "imatinib" in m.ingredients and m.origin in ("order", "statement")]
    taken.sort(key=lambda m: m.origin != "order")
    return taken[0] if taken else fallback


def _place_level(level: ImatinibLevel, interval_h: int) -> tuple[float, str] | str:
    """Hours from the last dose to the sample, and how that was read; or why the level cannot be placed."""
    timing = level.timing
    if timing.hours_after_dose is not None:
        return timing.hours_after_dose, f"drawn {timing.text} (read from {timing.read_from})"
    if timing.kind == "not-trough":
        return (f"the latest level was {timing.text} (read from {timing.read_from}) with no time after the dose, so "
                "the model cannot place it")
    if timing.kind == "trough":
        return float(interval_h), f"a trough (read from {timing.read_from}), drawn just before the next dose"
    return float(interval_h), ("taken as a trough (drawn just before the next dose): the record gives no "
                               "administration time or sample timing for it")


def model_dosing(facts: PatientFacts, knowledge: Knowledge, use: MedicationUse, *, inducer: str | None = None,
                 level_from: Instant | None = None, with_level: bool = True) -> "ModelDosing | NoModel":
    """The model's answer for the imatinib `use` the patient takes. With `level_from`, only a level drawn at or
    after it is fitted (a level during the co-therapy with an inducer). Remembered for the call's facts, so the
    card and its page link (added later, web/links.py) share one fit."""
    return facts.once(("model dosing", id(use), inducer, level_from, with_level, id(knowledge)),
                      lambda: _model_dosing(facts, knowledge, use, inducer=inducer, level_from=level_from,
                                            with_level=with_level))


def _answer(facts: PatientFacts, knowledge: Knowledge, request: ModelRequest) -> ModelAnswer:
    """The model's answer to `request`, evaluated once per call: two readings that come to the same request (the
    inducer card's a-priori line, and its reading of a level during the co-therapy when there is none) share one
    evaluation."""
    return facts.once(("model answer", request, id(knowledge)), lambda: estimate(request, knowledge))


def _model_dosing(facts: PatientFacts, knowledge: Knowledge, use: MedicationUse, *, inducer: str | None,
                  level_from: Instant | None, with_level: bool) -> "ModelDosing | NoModel":
    domain = knowledge.pk.domain.age_years
    profile = facts.profile
    # Whole years (the youngest the birth date allows): what the card computes with is what its page link may
    # carry, an age, never a birth date.
    age = profile.youngest_age
    if age is not None and not domain.min <= age <= domain.max:
        return NoModel(f"No model-based dose for a patient aged {age}: the imatinib population model is "
                       f"validated for adults aged {domain.min:g} to {domain.max:g} years.", outside_domain=True)
    reading = use.dose(knowledge)
    dose = reading.dose
    if dose is None or dose.administrations_per_day not in (1, 2):
        return NoModel("No model-based dose: the imatinib dose or its schedule (once or twice daily) cannot be read"
                       + (f" ({reading.problem})." if reading.problem else "."))
    if profile.weight is not None and not 0 < profile.weight.value <= MAX_WEIGHT_KG:
        return NoModel(f"No model-based dose: the weight on record ({profile.weight.value:g} kg) is outside what the "
                       f"model takes (above 0, at most {MAX_WEIGHT_KG} kg); check the weight on record.")
    interval = 24 if dose.administrations_per_day == 1 else 12
    notes: list[str] = []
    diagnosis = facts.indication()
    indication = "GIST" if diagnosis is not None and diagnosis.id == "gist" else (
        "CML" if diagnosis is not None else None)
    covariates = GivenCovariates(
        weight_kg=profile.weight.value if profile.weight else None,
        age_years=float(age) if age is not None else None,
        sex=profile.sex,
        indication=indication,
    )
    start = span_of(use).start if use.origin != "draft" else None
    level = facts.imatinib_levels[0] if facts.imatinib_levels and with_level else None
    level_reading = ""
    levels: list[MeasuredLevel] = []
    first_dose = None
    doses_given = 1
    unfitted = ""
    if level is not None and level.drawn is None:
        unfitted = "The latest level has no draw time: it is not fitted."
        level = None
    drawn = level.drawn if level is not None else None
    if level is not None and drawn is not None and level_from is not None and drawn.at < level_from.at:
        notes.append(f"The latest level ({drawn.shown()}) was drawn before the inducer started: it is not "
                     "fitted; the numbers are the model's a priori prediction with the inducer.")
        level = None
    if level is not None and drawn is not None and start is not None and drawn.at <= start.at:
        notes.append(f"The latest level ({drawn.shown()}) predates the current order ({start.shown()}): it "
                     "is not fitted.")
        level = None
    if level is not None and (why := _not_a_measurement(level)):
        unfitted = why
        level = None
    if level is not None and drawn is not None and start is not None and (why := _soon_after_a_change(
            facts, knowledge, drawn, start)):
        unfitted = why
        level = None
    if level is not None and drawn is not None:
        placed = _place_level(level, interval)
        if isinstance(placed, str):
            unfitted = placed[0].upper() + placed[1:] + "."
            level = None
        else:
            hours, level_reading = placed
            last_dose = drawn.at - timedelta(hours=hours)
            if start is None:
                doses_given = STEADY_STATE_DAYS * 24 // interval
                notes.append("The start of the current regimen is not recorded: it is taken to be at steady state.")
            else:
                doses_given = max(1, int((last_dose - start.at).total_seconds() // (interval * 3600)) + 1)
                notes.extend(_early_in_therapy(facts, knowledge, drawn, start, doses_given))
            first_dose = last_dose - timedelta(hours=(doses_given - 1) * interval)
            levels.append(MeasuredLevel(time=drawn.at, value=float(level.ng_ml), unit="ng/mL"))
    if first_dose is None:
        first_dose = start.at if start else datetime.combine(facts.today, time(), UTC)
    try:
        request = held_to_schema(ModelRequest(
            covariates=covariates,
            regimen=Regimen(dose_mg=float(dose.per_administration_mg), interval_hours=interval,
                            first_dose=first_dose, doses_given=doses_given),
            levels=tuple(levels),
            inducer=inducer,
        ))
        answer = _answer(facts, knowledge, request)
    except DosingInputError as exc:
        return NoModel(f"No model-based dose: {exc.message}.", outside_domain=exc.field == "covariates.age_years")
    if unfitted:
        notes.append(unfitted)
    notes.extend(later_samples_set_aside(facts))
    return ModelDosing(answer, request, dose, level, level_reading, tuple(notes), unfitted)


def _early_in_therapy(
    facts: PatientFacts, knowledge: Knowledge, drawn: Instant, start: Instant, doses: int
) -> list[str]:
    """A level from the first weeks of a first order is fitted with the doses it had, but ARUP compares a trough
    with the target only after 29 days of uninterrupted therapy: the card says so and when to confirm."""
    tdm = knowledge.imatinib.tdm
    days = (drawn.day - start.day).days
    if days >= tdm.min_days_on_therapy or (therapy_start(facts) or start.day) < start.day:
        return []
    confirm = start.day + timedelta(days=tdm.min_days_on_therapy)
    return [f"The level was drawn {days} days into therapy ({start.shown()}), before the {tdm.min_days_on_therapy} "
            f"days of uninterrupted therapy ARUP asks before a trough is held against the target: the fit counts the "
            f"{doses} doses so far, not a steady state; confirm with a trough from {confirm.isoformat()} on."]


def _soon_after_a_change(facts: PatientFacts, knowledge: Knowledge, drawn: Instant, start: Instant) -> str:
    """Why a level drawn in the first days of the current order, with imatinib on record before it, is not fitted:
    the fit knows only the current order's doses, so the doses before it would be missing from the level it
    explains (ARUP: at least 8 days after a dose change). "" when it can be fitted."""
    wait = knowledge.imatinib.tdm.min_days_after_dose_change
    days = (drawn.day - start.day).days
    earlier = therapy_start(facts)
    if days >= wait or earlier is None or earlier >= start.day:
        return ""
    return (f"The latest level ({drawn.shown()}) was drawn {days} days after the current order began "
            f"({start.shown()}), with imatinib on record before it: less than the {wait} days ARUP asks after a "
            f"dose change, and the model knows only the current order's doses: it is not fitted. A trough from "
            f"{(start.day + timedelta(days=wait)).isoformat()} on is.")


def _not_a_measurement(level: ImatinibLevel) -> str:
    """Why the level's value cannot be fitted as a measured concentration, or "" when it can."""
    if level.unread:
        return f"The latest level ({level.shown}) is not fitted: {level.unread}."
    if level.is_bound:
        return (f"The latest level is reported as {level.shown}, a bound rather than a measured concentration (a "
                "result beyond the assay's range): it is not fitted.")
    if not reported_value(level):
        return (f"The latest level ({level.shown}) is not fitted: the model fits only a measured concentration "
                f"above 0 and at most {MAX_LEVEL_VALUE:,.0f} ng/mL.")
    return ""


def proposal_increase(model: ModelDosing, knowledge: Knowledge) -> DoseIncrease | None:
    """The model's proposal as a dose change in whole tablets, or None when it does not raise the daily dose."""
    proposal = model.answer.proposal
    per_day = 24 // proposal.interval_hours
    new_daily = round(proposal.dose_mg) * per_day
    if new_daily <= model.dose.daily_mg or new_daily > knowledge.imatinib.dosing.max_daily_mg_with_inducer:
        return None
    per = round(proposal.dose_mg)
    return DoseIncrease(current_daily_mg=model.dose.daily_mg, new_daily_mg=new_daily, per_administration_mg=per,
                        administrations_per_day=per_day, capped=False,
                        tablets=tablets_for(per, knowledge.imatinib.dosing.tablet_strengths_mg))


def regimen_text(dose_mg: float, interval_hours: int) -> str:
    return f"{dose_mg:g} mg {'once daily' if interval_hours == 24 else 'every 12 h'}"


def candidates_lines(model: ModelDosing) -> str:
    return "\n".join(
        f"- {regimen_text(c.dose_mg, c.interval_hours)}: {c.trough_ng_per_ml:.0f} ng/mL"
        for c in model.answer.candidates)
