"""A level on record the PK model cannot fit is never met with silence: a value no assay reports (0, negative,
beyond any range), a bound such as "<50", a level with no draw time, a weight beyond the model's inputs. Each
answers 200 with a card that says what was found, what it means against the target and why there is no model-based
dose; a level at or above the target still gives none, unless it is above the 2000 ng/mL watch level. Before this,
the first three answered 500 (the card path's own request failed the dosing API's validation)."""

import copy

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_tdm_cards import DRAFTS, level, prefetch, tdm_cards, the_tdm_card, weight


def bound(comparator: str, value: float) -> dict:
    found = level(value)
    found["valueQuantity"]["comparator"] = comparator
    return found


def order_select(call, *labs: dict, version: str = "R4", **more):
    response = call(hook_request("order-select", [resource(DRAFTS[version])], prefetch=prefetch(*labs, **more)))
    assert response.status_code == 200, response.text
    return response


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize(("value", "shown"), [(0, "0 ng/mL"), (-5, "-5 ng/mL"), (2e6, "2,000,000 ng/mL")])
def test_a_value_no_assay_reports_gets_a_card_asking_to_check_the_result(call, version, value, shown):
    card = the_tdm_card(order_select(call, level(value), version=version))
    assert card["indicator"] == "info"
    assert card["summary"] == f"Imatinib level of {shown} on record is not a measured value: check the result"
    assert f"Latest imatinib level: **{shown}** on 2026-11-20" in card["detail"]
    assert "not compared with the target" in card["detail"]
    assert "is not fitted" in card["detail"]
    assert "check the result (value and unit) with the laboratory" in card["detail"]
    assert not card.get("suggestions")  # no dose is written from it


@pytest.mark.parametrize("comparator", ["<", "<="])
def test_a_bound_below_the_target_is_said_to_be_below_it_and_not_fitted(call, comparator):
    card = the_tdm_card(order_select(call, bound(comparator, 50)))
    assert card["summary"] == f"Imatinib level {comparator}50 ng/mL, below the 1000 ng/mL target: no model-based dose"
    assert "a bound rather than a measured concentration" in card["detail"]
    assert not card.get("suggestions")


@pytest.mark.parametrize(("comparator", "value"), [(">", 500), ("<", 2000), ("<=", 1000)])
def test_a_bound_that_does_not_settle_the_target_says_so(call, comparator, value):
    card = the_tdm_card(order_select(call, bound(comparator, value)))
    assert card["summary"].startswith(f"Imatinib level reported as {comparator}{value:g} ng/mL: a bound")
    assert "ask the laboratory for the measured value" in card["detail"]


@pytest.mark.parametrize(("comparator", "value"), [(">=", 1000), (">", 1500)])
def test_a_bound_at_or_above_the_target_gives_no_tdm_card(call, comparator, value):
    assert tdm_cards(order_select(call, bound(comparator, value))) == []


def test_a_bound_above_the_watch_level_says_to_watch_closely(call):
    card = the_tdm_card(order_select(call, bound(">", 5000)))
    assert card["summary"] == "Imatinib level >5000 ng/mL, above the 2000 ng/mL watch level: watch closely"
    assert "a bound rather than a measured concentration" in card["detail"]  # why there is no model-based dose
    assert not card.get("suggestions")


def test_a_low_level_without_a_draw_time_is_said_to_be_below_target_and_why_it_is_not_fitted(call):
    undated = level(640)
    del undated["effectiveDateTime"]
    card = the_tdm_card(order_select(call, undated))
    assert card["summary"] == "Imatinib level 640 ng/mL, below the 1000 ng/mL target: no model-based dose"
    assert "(no draw time recorded)" in card["detail"] and "has no draw time: it is not fitted" in card["detail"]
    assert "Recording the draw time lets the model fit the level." in card["detail"]


def test_a_weight_beyond_the_models_inputs_names_the_weight(call):
    labs = prefetch(level(640))
    labs["vitalSigns"] = bundle(weight(600))
    response = call(hook_request("order-select", [resource(DRAFTS["R4"])], prefetch=labs))
    assert response.status_code == 200, response.text
    card = the_tdm_card(response)
    assert "below the 1000 ng/mL target: no model-based dose" in card["summary"]
    assert "the weight on record (600 kg) is outside what the model takes" in card["detail"]


def test_a_measured_low_level_is_still_fitted(call):
    """The boundary the new checks must not cross: an ordinary low trough keeps the model's proposal."""
    card = the_tdm_card(order_select(call, level(640)))
    assert card["indicator"] == "warning" and "model proposes 600 mg once daily" in card["summary"]


@pytest.mark.parametrize(("lab", "said"), [
    (level(0), "**0 ng/mL** on 2026-11-20: not a concentration an assay reports"),
    (bound(">", 500), "**>500 ng/mL** on 2026-11-20: a bound, which does not say whether the 1000 ng/mL"),
    (bound("<", 50), "**<50 ng/mL** on 2026-11-20, below the 1000 ng/mL target"),
])
def test_the_inducer_card_holds_only_a_comparable_value_against_the_target(call, lab, said):
    response = order_select(call, copy.deepcopy(lab), active=(resource("carbamazepine-active-r4.json"),))
    inducer = [c for c in cards_of(response) if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    assert len(inducer) == 1
    assert said in inducer[0]["detail"]
