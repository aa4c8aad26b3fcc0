"""The imatinib population-PK computation reproduces Tucuxi's figures and reads dose histories, levels, units,
inducers and the model's domain the way a pharmacist relies on (issue 13)."""


import numpy as np
import pytest
from scipy.optimize import minimize

from cds_service.pk.dosing import DosingRequest, evaluate
from cds_service.pk.estimate import DosingInputError, to_ng_per_ml
from cds_service.pk.fit import _Objective, map_fit
from cds_service.pk.model import Covariates, population_model
from cds_service.pk.proposal import adjustment_score
from cds_service.pk.simulate import concentrations, steady_state, steady_state_trough, steady_state_troughs

WITHIN = 0.02  # the tolerance against Tucuxi


def request(sex="unknown", levels=(("2025-01-31T08:00:00", 620, "ug/L"),), dose=400, interval=24, doses_given=30,
            first="2025-01-01T08:00:00", **covariates):
    body = {
        "covariates": {"weight_kg": 70, "age_years": 50, "sex": sex, "indication": "CML", **covariates},
        "regimen": {"dose_mg": dose, "interval_hours": interval, "first_dose": first, "doses_given": doses_given},
        "levels": [{"time": t, "value": v, "unit": u} for t, v, u in levels],
    }
    return DosingRequest.model_validate(body)


def typical(knowledge, male=0.5, gist=False, weight=70.0, age=50.0):
    model = population_model(knowledge.pk)
    cov = Covariates(weight_kg=weight, age_years=age, male=male, gist=gist)
    return model, model.typical_clearance(cov), model.typical_volume(cov)


@pytest.mark.parametrize(("male", "dose", "tau", "tucuxi"), [
    (0.5, 400, 24, 673.7), (1.0, 400, 24, 623.2), (0.0, 400, 24, 731.6), (0.5, 600, 24, 1010.5),
    (0.5, 400, 12, 1808.7),
])
def test_a_priori_steady_state_troughs_match_tucuxi(knowledge, male, dose, tau, tucuxi):
    model, cl, v = typical(knowledge, male=male)
    assert steady_state_trough(dose, tau, cl, v, model.ka, model.bioavailability) == pytest.approx(tucuxi, rel=WITHIN)


@pytest.mark.parametrize(("sex", "cl", "v", "trough", "proposed_trough"), [
    ("unknown", 16.39, 364.2, 610.0, 915.0),
    ("male", 17.38, 405.1, 590.3, 885.4),
    ("female", 15.26, 319.0, 632.2, 948.3),
])
def test_map_fit_of_the_public_case_matches_tucuxi(knowledge, sex, cl, v, trough, proposed_trough):
    answer = evaluate(request(sex), knowledge)
    post = answer.a_posteriori
    assert post.clearance_l_per_h == pytest.approx(cl, rel=WITHIN)
    assert post.volume_l == pytest.approx(v, rel=WITHIN)
    assert post.trough_ng_per_ml == pytest.approx(trough, rel=WITHIN)
    assert (answer.proposal.dose_mg, answer.proposal.interval_hours) == (600, 24)
    assert answer.proposal.trough_ng_per_ml == pytest.approx(proposed_trough, rel=WITHIN)
    assert answer.proposal.in_target_window
    assert answer.target_ng_per_ml == 1000


def test_the_log_term_is_part_of_the_objective(knowledge):
    """Without ln(sigma f) the public case gives 644.5 ug/L; with it, 610.0: the fit must land on the latter."""
    answer = evaluate(request(), knowledge)
    assert abs(answer.a_posteriori.trough_ng_per_ml - 644.5) > 25


def test_superposition_reaches_the_steady_state_formula(knowledge):
    model, cl, v = typical(knowledge)
    doses = np.arange(90) * 24.0
    last_interval = doses[-1] + np.array([1.0, 3.0, 8.0, 23.9])
    history = concentrations(last_interval, doses, np.full(90, 400.0), cl, v, model.ka, 1.0)
    formula = steady_state(last_interval - doses[-1], 400, 24, cl, v, model.ka, 1.0)
    np.testing.assert_allclose(history, formula, rtol=1e-3)
    # A day after the first dose the patient is far from steady state: superposition says so, the formula cannot.
    early = concentrations(np.array([24.0]), doses[:1], np.full(1, 400.0), cl, v, model.ka, 1.0)[0]
    assert early < 0.7 * steady_state_trough(400, 24, cl, v, model.ka, 1.0)


@pytest.mark.parametrize("clearance_factor", [1.0, 3.8, "flip"])
def test_the_troughs_of_many_regimens_are_each_regimens_own_to_the_bit(knowledge, clearance_factor):
    """The proposal scores all its regimens in one pass: the same numbers, to the bit, as the formula."""
    model, cl, v = typical(knowledge)
    cl = model.ka * v if clearance_factor == "flip" else cl * clearance_factor
    regimens = [(300, 24), (400, 24), (600, 24), (800, 24), (300, 12), (400, 12), (350.5, 12)]
    many = steady_state_troughs([d for d, _ in regimens], [t for _, t in regimens], cl, v, model.ka, 0.98)
    formula = [float(steady_state(np.array([t]), d, t, cl, v, model.ka, 0.98)[0]) for d, t in regimens]
    assert many == formula
    assert [steady_state_trough(d, t, cl, v, model.ka, 0.98) for d, t in regimens] == formula


@pytest.mark.parametrize(("doses", "more_than"), [(1, 1.2), (2, 1.05), (4, 1.005)])
def test_an_early_level_is_read_against_the_doses_taken_so_far(knowledge, doses, more_than):
    """The same 500 ug/L means more exposure at steady state when drawn after a few doses than after 30."""
    early = evaluate(request(levels=((f"2025-01-0{1 + doses}T08:00:00", 500, "ug/L"),), doses_given=doses),
                     knowledge)
    day30 = evaluate(request(levels=(("2025-01-31T08:00:00", 500, "ug/L"),)), knowledge)
    assert early.a_posteriori.trough_ng_per_ml > more_than * day30.a_posteriori.trough_ng_per_ml


def test_doses_given_defaults_to_every_dose_before_the_last_level(knowledge):
    assert evaluate(request(doses_given=None), knowledge) == evaluate(request(), knowledge)


def _scipy_reference(objective, start):
    result = minimize(lambda e: objective(np.array([e]), with_gradient=False)[0][0], start, method="Nelder-Mead",
                      options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 4000})
    return result.x


def test_two_levels_fit_to_the_mode_an_independent_optimiser_finds(knowledge):
    model, cl, v = typical(knowledge)
    doses = np.arange(30) * 24.0
    amounts = np.full(30, 400.0)
    level_times, levels = np.array([699.0, 720.0]), np.array([1450.0, 700.0])  # 3 h after a dose, and a trough
    fit = map_fit(model, cl, v, doses, amounts, level_times, levels)
    reference = _scipy_reference(_Objective(model, cl, v, doses, amounts, level_times, levels), [0.0, 0.0])
    assert fit.converged
    np.testing.assert_allclose([fit.eta_clearance, fit.eta_volume], reference, atol=1e-4)
    one = map_fit(model, cl, v, doses, amounts, level_times[1:], levels[1:])
    assert (fit.eta_clearance, fit.eta_volume) != pytest.approx((one.eta_clearance, one.eta_volume), abs=1e-3)


@pytest.mark.parametrize("start", [(1.0, -1.5), (-1.0, 1.8), (0.8, 0.8), (-0.9, -1.9)])
def test_the_fit_does_not_depend_on_the_starting_value(knowledge, start):
    model, cl, v = typical(knowledge)
    doses, amounts = np.arange(30) * 24.0, np.full(30, 400.0)
    times, levels = np.array([480.0, 603.0, 720.0]), np.array([700.0, 1500.0, 620.0])
    from_grid = map_fit(model, cl, v, doses, amounts, times, levels)
    from_start = map_fit(model, cl, v, doses, amounts, times, levels, start=start)
    assert from_start.converged and from_grid.converged
    assert (from_start.eta_clearance, from_start.eta_volume) == pytest.approx(
        (from_grid.eta_clearance, from_grid.eta_volume), abs=1e-6)


def test_the_answer_is_deterministic(knowledge):
    assert evaluate(request(), knowledge).model_dump() == evaluate(request(), knowledge).model_dump()


@pytest.mark.parametrize("unit", ["umol/L", "µmol/L", "μmol/L"])
def test_a_level_in_umol_per_litre_is_the_same_level(knowledge, unit):
    umol = 620 / knowledge.pk.units.molar_mass_g_per_mol
    in_umol = evaluate(request(levels=(("2025-01-31T08:00:00", umol, unit),)), knowledge)
    assert in_umol.a_posteriori == evaluate(request(), knowledge).a_posteriori


@pytest.mark.parametrize(("unit", "factor"), [("ng/mL", 1), ("µg/L", 1), ("μg/L", 1), ("mg/L", 1000)])
def test_mass_units(knowledge, unit, factor):
    assert to_ng_per_ml(0.62, unit, 493.603) == pytest.approx(0.62 * factor)


def test_an_unknown_unit_is_refused_by_name():
    with pytest.raises(DosingInputError, match="unit"):
        to_ng_per_ml(1.0, "mmol/L", 493.603)


def test_an_inducer_multiplies_the_prior_clearance(knowledge):
    body = request(levels=()).model_dump()
    plain = evaluate(DosingRequest.model_validate(body), knowledge)
    induced = evaluate(DosingRequest.model_validate({**body, "inducer": "rifampin"}), knowledge)
    assert induced.a_priori.clearance_l_per_h == pytest.approx(3.8 * plain.a_priori.clearance_l_per_h, rel=1e-3)
    model, cl, v = typical(knowledge)
    assert induced.a_priori.trough_ng_per_ml == pytest.approx(
        steady_state_trough(400, 24, 3.8 * cl, v, model.ka, 1.0), abs=0.1)
    assert any("x3.8" in note and "Bolton" in note for note in induced.assumptions)
    # Nothing reaches the window with rifampicin's clearance: the most the label gives, and the answer says so.
    assert (induced.proposal.dose_mg, induced.proposal.interval_hours) == (400, 12)
    assert not induced.proposal.in_target_window
    assert any("cannot be reached within 800 mg/day" in note for note in induced.assumptions)


def test_an_inducer_without_an_imatinib_figure_borrows_rifampicins_and_says_so(knowledge):
    body = {**request(levels=()).model_dump(), "inducer": "enzalutamide"}
    answer = evaluate(DosingRequest.model_validate(body), knowledge)
    assert any("no imatinib figure" in note and "x3.8" in note for note in answer.assumptions)


@pytest.mark.parametrize("name", ["no-such-drug", "imatinib"])
def test_an_unknown_or_non_inducer_is_refused_by_name(knowledge, name):
    body = {**request(levels=()).model_dump(), "inducer": name}
    with pytest.raises(DosingInputError) as caught:
        evaluate(DosingRequest.model_validate(body), knowledge)
    assert caught.value.field == "inducer"


@pytest.mark.parametrize("age", [19.9, 88.5, 10])
def test_age_outside_20_to_88_gets_no_model_based_dose(knowledge, age):
    with pytest.raises(DosingInputError) as caught:
        evaluate(request(age_years=age), knowledge)
    assert caught.value.field == "covariates.age_years" and "20-88" in caught.value.message


@pytest.mark.parametrize("age", [20, 88])
def test_the_age_bounds_are_inside_the_domain(knowledge, age):
    assert evaluate(request(age_years=age), knowledge).a_posteriori is not None


@pytest.mark.parametrize(("weight", "outside"), [(43, True), (44, False), (110, False), (125, True)])
def test_weight_outside_44_to_110_is_computed_and_said(knowledge, weight, outside):
    answer = evaluate(request(weight_kg=weight), knowledge)
    assert any("outside the studied range" in note for note in answer.assumptions) is outside


def test_every_default_used_is_named(knowledge):
    body = request().model_dump()
    body["covariates"] = {}
    answer = evaluate(DosingRequest.model_validate(body), knowledge)
    text = " ".join(answer.assumptions)
    for named in ("70 kg", "50 years", "Sex unknown", "CML assumed"):
        assert named in text
    # The defaults are the public case's covariates: the same answer.
    assert answer.a_posteriori == evaluate(request(), knowledge).a_posteriori


def test_gist_uses_its_own_target_and_lower_clearance(knowledge):
    answer = evaluate(request(indication="GIST", levels=()), knowledge)
    assert answer.target_ng_per_ml == 1100
    assert answer.a_priori.clearance_l_per_h == pytest.approx(14.3 - 0.806, abs=0.01)


def test_a_level_before_the_first_dose_is_refused_by_name(knowledge):
    with pytest.raises(DosingInputError) as caught:
        evaluate(request(levels=(("2025-01-31T08:00:00", 620, "ug/L"), ("2024-12-31T08:00:00", 620, "ug/L"))),
                 knowledge)
    assert caught.value.field == "levels[1].time"


def test_the_proposal_never_lowers_the_dose(knowledge):
    answer = evaluate(request(dose=500, levels=(("2025-01-31T08:00:00", 700, "ug/L"),)), knowledge)
    assert min(c.dose_mg * 24 / c.interval_hours for c in answer.candidates) >= 500
    assert answer.proposal.dose_mg * 24 / answer.proposal.interval_hours >= 500


def test_all_candidates_above_the_window_keep_the_current_regimen(knowledge):
    answer = evaluate(request(dose=400, levels=(("2025-01-31T08:00:00", 3000, "ug/L"),)), knowledge)
    assert all(c.trough_ng_per_ml > 1500 for c in answer.candidates)
    assert (answer.proposal.dose_mg, answer.proposal.interval_hours) == (400, 24)
    assert any("above the target window" in note for note in answer.assumptions)


def test_twice_daily_400_with_a_low_level_stays_at_800_and_says_the_target_is_out_of_reach(knowledge):
    body = request(dose=400, interval=12, doses_given=60, levels=(("2025-01-31T08:00:00", 300, "ug/L"),)).model_dump()
    answer = evaluate(DosingRequest.model_validate({**body, "inducer": "rifampin"}), knowledge)
    assert [(c.dose_mg, c.interval_hours) for c in answer.candidates] == [(400, 12)]
    assert (answer.proposal.dose_mg, answer.proposal.interval_hours) == (400, 12)
    assert any("cannot be reached" in note for note in answer.assumptions)


def test_the_adjustment_score_is_tucuxis():
    """1 at the target; 0 at half the window's log-width either side; the same either side of the target."""
    assert adjustment_score(1000, 1000, 750, 1500) == pytest.approx(1.0)
    for side in (1, -1):
        assert adjustment_score(1000 * 2 ** (side * 0.5), 1000, 750, 1500) == pytest.approx(0.0)
    assert adjustment_score(915.0, 1000, 750, 1500) == pytest.approx(adjustment_score(1000 / 0.915, 1000, 750, 1500))
    assert adjustment_score(915.0, 1000, 750, 1500) > adjustment_score(762.5, 1000, 750, 1500)


def test_a_level_the_model_cannot_explain_is_said_to_be_so(knowledge):
    """With a proportional error, a level far below the prediction moves the fit little: the answer must say so."""
    answer = evaluate(request(dose=400, interval=12, doses_given=60, levels=(("2025-01-31T08:00:00", 120, "ug/L"),)),
                      knowledge)
    assert any("cannot explain it" in note for note in answer.assumptions)
    assert not any("cannot explain it" in note for note in evaluate(request(), knowledge).assumptions)
