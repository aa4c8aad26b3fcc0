"""Model-informed imatinib dosing from covariates, the regimen, measured levels and an inducer: the one computation
the dosing API, the command line and the cards share. Pure: no HTTP, no clock.

On plain frozen values: the cards ask it once or twice a call, and building and validating pydantic models for
the request and the answer cost about as much as the computation. The dosing API's JSON (cds_service.pk.dosing)
validates its request and converts at its edge.
"""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from cds_service.knowledge.loader import Knowledge, _fold
from cds_service.pk.fit import map_fit
from cds_service.pk.model import MALE_CODING, Covariates, population_model
from cds_service.pk.proposal import Candidate, propose
from cds_service.pk.simulate import concentrations, steady_state_trough

MAX_DOSES = 20000  # about 27 years of twice-daily doses
# Doses more than 60 days before a level add nothing measurable (60 days is ~90 typical half-lives, and ~2.5 at
# the slowest the prior allows at +3 SD), and levels more than 90 days before the latest are another period of
# treatment: both limits also bound the fit's work whatever the request says.
DOSE_MEMORY_H = 60 * 24.0
LEVEL_WINDOW_H = 90 * 24.0
POOR_FIT_RATIO = 2.0  # a level this far from its fitted concentration is said to be unexplained


class DosingInputError(ValueError):
    """Input the model cannot use; `field` is the request's path to it, `status` the HTTP status it maps to."""

    def __init__(self, field: str, message: str, status: int = 422):
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.status = field, message, status


@dataclass(frozen=True, slots=True)
class GivenCovariates:
    """The covariates as the record or the request gives them: None where not known (the model's default)."""

    weight_kg: float | None = None
    age_years: float | None = None
    sex: str | None = None  # "male", "female" or "unknown"
    indication: str | None = None  # "CML" or "GIST"


@dataclass(frozen=True, slots=True)
class Regimen:
    dose_mg: float  # per administration
    interval_hours: int  # 12 or 24
    first_dose: datetime  # without a zone read as UTC
    doses_given: int | None = None  # None: every dose before the last level


@dataclass(frozen=True, slots=True)
class MeasuredLevel:
    time: datetime
    value: float
    unit: str


@dataclass(frozen=True, slots=True)
class TriedRegimen:
    """A regimen to try with the same estimate (the concentration-time page's)."""

    dose_mg: float
    interval_hours: int


@dataclass(frozen=True, slots=True)
class ModelRequest:
    covariates: GivenCovariates
    regimen: Regimen
    levels: tuple[MeasuredLevel, ...] = ()
    inducer: str | None = None
    alternative: TriedRegimen | None = None


@dataclass(frozen=True, slots=True)
class Estimate:
    clearance_l_per_h: float
    volume_l: float
    trough_ng_per_ml: float  # steady-state trough of the given regimen


@dataclass(frozen=True, slots=True)
class ProposedRegimen:
    dose_mg: float
    interval_hours: int
    trough_ng_per_ml: float
    in_target_window: bool


@dataclass(frozen=True, slots=True)
class TriedTrough:
    dose_mg: float
    interval_hours: int
    trough_ng_per_ml: float


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """The numbers as answered (rounded), every assumption said."""

    a_priori: Estimate
    a_posteriori: Estimate | None
    target_ng_per_ml: float
    proposal: ProposedRegimen
    candidates: tuple[Candidate, ...]
    assumptions: tuple[str, ...]
    alternative: TriedTrough | None = None  # only when the request asks for one
    # A measured level more than POOR_FIT_RATIO from its fitted concentration: the fit leans on the prior, and no
    # card writes a dose from it (the API says so in `assumptions`).
    unexplained_level: bool = False


_MASS_FACTORS = {"ng/ml": 1.0, "ug/l": 1.0, "mg/l": 1000.0}


def to_ng_per_ml(value: float, unit: str, molar_mass: float) -> float:
    """ug/L (= ng/mL) from any accepted unit; the Greek mu and the micro sign are both micro."""
    key = unit.strip().replace("\u03bc", "u").replace("\u00b5", "u").lower()
    factor = molar_mass if key == "umol/l" else _MASS_FACTORS.get(key)
    if factor is None:
        raise DosingInputError("unit", f"unknown unit {unit!r} (ng/mL, ug/L, mg/L or umol/L)")
    return value * factor


def _utc(moment: datetime, field: str) -> datetime:
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError):
        raise DosingInputError(field, "the time is out of range") from None


def _round(x: float, digits: int = 1) -> float:
    return round(float(x), digits)


def inducer_factor(name: str, knowledge: Knowledge) -> tuple[float, str]:
    """The prior's clearance factor for a named inducer and the sentence that says where it comes from."""
    named = (name,) if name in knowledge.ingredients else knowledge.ingredients_by_name.get(_fold(name.strip()), ())
    if not named:
        raise DosingInputError("inducer", f"{name!r} is not an ingredient the knowledge base knows")
    # A brand of several ingredients (Rifater) is read as the inducer among them.
    ingredient = next((i for i in named if i in knowledge.inducers), named[0])
    inducer = knowledge.inducers.get(ingredient)
    if inducer is None:
        raise DosingInputError("inducer", f"{name!r} is not a CYP3A inducer in the knowledge base")
    label = knowledge.ingredients[ingredient].name
    factor, borrowed = knowledge.pk_inducer_factor(ingredient)
    if borrowed and inducer.strength != "strong":
        return 1.0, (f"{label}: a moderate inducer with no imatinib figure; the prior clearance is not adjusted, "
                     "so the level (not the prior) has to show its effect.")
    if borrowed:
        return factor.clearance_factor, (f"{label}: no imatinib figure; rifampin's clearance factor "
                                         f"x{factor.clearance_factor:g} is used ({knowledge.cite(factor.sources)}).")
    return factor.clearance_factor, (f"{label}: prior clearance x{factor.clearance_factor:g} "
                                     f"({factor.derivation}; {knowledge.cite(factor.sources)}).")


def covariates_of(given: GivenCovariates, knowledge: Knowledge) -> tuple[Covariates, list[str]]:
    """The model's covariates, the defaults used named, the hard bound enforced and the soft bound said."""
    spec = knowledge.pk
    defaults, domain = spec.defaults, spec.domain
    notes: list[str] = []
    age = given.age_years
    if age is not None and not domain.age_years.min <= age <= domain.age_years.max:
        raise DosingInputError(
            "covariates.age_years",
            f"age {age:g} is outside the model's hard bound {domain.age_years.min:g}-{domain.age_years.max:g} years: "
            f"no model-based dose. {domain.age_years.text}")
    if age is None:
        age = defaults.age_years
        notes.append(f"Age not given: {defaults.age_years:g} years assumed (the model's default).")
    weight = given.weight_kg
    if weight is None:
        weight = defaults.weight_kg
        notes.append(f"Weight not given: {defaults.weight_kg:g} kg assumed (the model's default).")
    elif not domain.weight_kg.min <= weight <= domain.weight_kg.max:
        notes.append(f"Weight {weight:g} kg is outside the studied range {domain.weight_kg.min:g}-"
                     f"{domain.weight_kg.max:g} kg: the prediction is an extrapolation.")
    if given.sex is None or given.sex == "unknown":
        male = defaults.male
        notes.append("Sex unknown: the model's midpoint between male and female is used.")
    else:
        male = MALE_CODING[given.sex]
    indication = given.indication
    if indication is None:
        indication = defaults.indication
        notes.append(f"Indication not given: {defaults.indication} assumed.")
    return Covariates(weight_kg=weight, age_years=age, male=male, gist=indication == "GIST"), notes


def dose_history(regimen: Regimen, level_hours: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dose times (hours after the first dose) and amounts: every interval from the first dose."""
    if regimen.doses_given is not None:
        count = regimen.doses_given
    elif len(level_hours):
        count = math.ceil(float(level_hours.max()) / regimen.interval_hours - 1e-9)
    else:
        count = 1
    count = max(1, min(count, MAX_DOSES))
    times = np.arange(count, dtype=float) * regimen.interval_hours
    return times, np.full(count, float(regimen.dose_mg))


def estimate(request: ModelRequest, knowledge: Knowledge) -> ModelAnswer:
    """A priori and MAP estimates, the steady-state troughs and the proposal, with every assumption said."""
    spec = knowledge.pk
    model = population_model(spec)
    cov, notes = covariates_of(request.covariates, knowledge)
    regimen = request.regimen
    first = _utc(regimen.first_dose, "regimen.first_dose")
    level_hours = []
    values = []
    for index, level in enumerate(request.levels):
        hours = (_utc(level.time, f"levels[{index}].time") - first).total_seconds() / 3600
        if hours <= 0:
            raise DosingInputError(f"levels[{index}].time", "the level is at or before the first dose")
        level_hours.append(hours)
        values.append(to_ng_per_ml(level.value, level.unit, model.molar_mass))
    if level_hours:
        level_h = np.array(level_hours, dtype=float)
        if level_h.min() < level_h.max() - LEVEL_WINDOW_H:
            recent = level_h >= level_h.max() - LEVEL_WINDOW_H
            notes.append(f"{int((~recent).sum())} level(s) more than 90 days before the latest are not fitted "
                         "(another period of treatment).")
            level_h, values = level_h[recent], [y for y, keep in zip(values, recent, strict=True) if keep]

    factor = 1.0
    if request.inducer:
        factor, sentence = inducer_factor(request.inducer, knowledge)
        notes.append(sentence)
    cl0 = model.typical_clearance(cov) * factor
    v0 = model.typical_volume(cov)
    if cl0 <= 0:
        raise DosingInputError("covariates", "these covariates give the model no positive clearance")

    # The given regimen's trough on the final estimate comes with the proposal's, in the same pass of the formula;
    # the a priori one is computed apart only when a fit moves the estimate.
    prior: Estimate | None = None
    cl, v = cl0, v0
    unexplained = False
    if level_hours:
        prior = Estimate(_round(cl0, 2), _round(v0, 1), _round(steady_state_trough(
            regimen.dose_mg, regimen.interval_hours, cl0, v0, model.ka, model.bioavailability)))
        dose_times, doses = dose_history(regimen, level_h)
        remembered = dose_times >= level_h.min() - DOSE_MEMORY_H
        taken = len(dose_times)
        dose_times, doses = dose_times[remembered], doses[remembered]
        fit = map_fit(model, cl0, v0, dose_times, doses, level_h, np.array(values))
        cl, v = fit.clearance_l_per_h, fit.volume_l
        notes.append(f"{len(level_h)} level(s) fitted (MAP Bayesian) against {taken} doses of "
                     f"{regimen.dose_mg:g} mg every {regimen.interval_hours} h.")
        predicted = concentrations(level_h, dose_times, doses, cl, v, model.ka, model.bioavailability)
        unexplained = bool(np.any(np.abs(np.log(np.array(values) / np.maximum(predicted, 1e-9)))
                                  > math.log(POOR_FIT_RATIO)))
        if unexplained:
            notes.append(f"A measured level differs from the fitted curve by more than a factor {POOR_FIT_RATIO:g}: "
                         "the model cannot explain it (adherence, sampling time, a missed dose, an interaction?); "
                         "the estimate leans on the population prior. Check before acting on it.")
    target = knowledge.trough_targets["gist" if cov.gist else "cml"].min_ng_ml
    proposal, candidates = propose(model, cl, v, regimen.dose_mg, regimen.interval_hours, target)
    final = Estimate(_round(cl, 2), _round(v, 1), _round(proposal.current_trough_ng_per_ml))
    prior, posterior = (prior, final) if prior is not None else (final, None)
    notes.append("Candidates are the label's regimens with a daily dose at least the current one: a low level never "
                 "lowers the dose.")
    if proposal.reason == "unreachable":
        notes.append("The target trough cannot be reached within 800 mg/day: 400 mg every 12 h is the most the "
                     "proposal gives; a level on it, and a change of treatment, are for the prescriber.")
    elif proposal.reason == "already-above":
        notes.append("Every candidate's trough is above the target window: the current regimen is kept.")
    elif proposal.reason == "no-candidate":
        notes.append("The current daily dose is above every regimen the proposal chooses among: it is kept.")
    alternative: TriedTrough | None = None
    if request.alternative is not None:
        tried = request.alternative
        alternative = TriedTrough(
            tried.dose_mg, tried.interval_hours,
            _round(steady_state_trough(tried.dose_mg, tried.interval_hours, cl, v, model.ka, model.bioavailability)),
        )
    return ModelAnswer(
        a_priori=prior,
        a_posteriori=posterior,
        target_ng_per_ml=float(target),
        proposal=ProposedRegimen(float(proposal.dose_mg), proposal.interval_hours,
                                 _round(proposal.trough_ng_per_ml), proposal.in_target_window),
        candidates=tuple(Candidate(c.dose_mg, c.interval_hours, _round(c.trough_ng_per_ml), _round(c.score, 3))
                         for c in candidates),
        assumptions=tuple(notes),
        alternative=alternative,
        unexplained_level=unexplained,
    )
