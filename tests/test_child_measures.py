"""A child's weight and height are used for a dose only when they are measures a person can have: a finite, positive
value, in a unit the service converts, within the data-validity range (a check of the data, not a clinical limit).
Anything else is named on the card and never computed with (1e200 kg and cm gave a 500; 1.35 cm gave "0 mg/day")."""

import math

import pytest

from cds_service.facts.patient import body_surface_area, patient_profile
from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_dose_check import imatinib, ordering
from tests.test_paediatric_dosing import TODAY, born, height, patient, vital, weight


def child(*measures: dict, years: int = 10) -> dict:
    return {"patient": patient(born(years)), "vitalSigns": bundle(*measures)}


@pytest.mark.parametrize(("kg", "cm"), [(1e200, 1e200), (1e308, 135), (30, 1e308), (1e308, 1e308)])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_huge_weights_and_heights_never_give_a_500_and_are_named_as_unusable(call, hook, kg, cm):
    # order-sign: the inducer card reads the BSA; order-select: the dose check does (800 mg/day is over 600).
    prefetch = child(weight(kg), height(cm))
    if hook == "order-sign":
        prefetch["activeMedications"] = bundle(resource("carbamazepine-active-r4.json"))
    response = call(hook_request(hook, [imatinib(mg=300 if hook == "order-sign" else 800)], prefetch=prefetch))
    details = " ".join(c["detail"] for c in cards_of(response))
    assert "not a measure of a person" in details
    assert "check the measurement and its unit" in details
    assert "BSA **" not in details


@pytest.mark.parametrize(("measures", "named"), [
    ([weight(30), height(1.35)], "the latest height, 1.35 cm"),  # metres written as centimetres
    ([weight(30000), height(135)], "the latest body weight, 3e+04 kg"),
    ([weight(30, "g"), height(135)], "the latest body weight, 0.03 kg (30 g)"),  # kilograms written as grams
    ([weight(30), height(13500, "m")], "the latest height, 1.35e+06 cm (13500 m)"),
])
def test_an_impossible_weight_or_height_is_not_used_for_a_dose(call, measures, named):
    prefetch = {**child(*measures), "activeMedications": bundle(resource("carbamazepine-active-r4.json"))}
    [card] = cards_of(call(hook_request("order-sign", [imatinib(mg=300)], prefetch=prefetch)))
    assert "No dose suggestion: Child patient, 10 years old" in card["detail"]
    assert named in card["detail"]
    assert "not a measure of a person" in card["detail"]
    assert "BSA **" not in card["detail"] and "0 mg/day is the most" not in card["detail"]
    assert not [s for s in card.get("suggestions", []) if s["label"].startswith("Increase")]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan, 10**400])
def test_a_non_finite_or_overflowing_value_is_set_aside_and_named(knowledge, value):
    paediatric = knowledge.imatinib.paediatric
    measures = [vital("29463-7", value, "kg", ident="w-bad"), vital("8302-2", 135, "cm", ident="h-ok")]
    profile = patient_profile([patient(born(10))], measures, "pt-cml-1", TODAY, paediatric)
    assert profile.weight is None
    why = body_surface_area(profile, TODAY, paediatric)
    assert isinstance(why, str)
    assert "no body weight is on record" in why and "not a finite number" in why


def test_a_newer_unusable_measure_is_not_passed_over_for_an_older_one(knowledge):
    """The latest height is an entry error: the dose is not computed from the one before it, which may be stale."""
    paediatric = knowledge.imatinib.paediatric
    measures = [weight(30), height(135, days_ago=60), vital("8302-2", 4.4, "[ft_i]", days_ago=1, ident="h-ft")]
    profile = patient_profile([patient(born(10))], measures, "pt-cml-1", TODAY, paediatric)
    why = body_surface_area(profile, TODAY, paediatric)
    assert isinstance(why, str) and "[ft_i]" in why and "a unit this service cannot convert" in why


def test_usable_measures_at_the_edges_of_childhood_still_give_a_bsa(call):
    # A newborn-sized and an adult-sized child: both real measures, both used.
    [small] = ordering(call, imatinib(mg=100), prefetch=child(weight(3.5), height(50), years=0))
    assert "BSA **0.22 m²**" in small["detail"]
    [card] = ordering(call, imatinib(mg=800), prefetch=child(weight(90), height(185), years=17))
    assert "BSA **2.15 m²**" in card["detail"]
