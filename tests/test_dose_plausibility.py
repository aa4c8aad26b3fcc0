"""Doses no one could have meant (40 tablets a day, a ten-thousandth of a tablet) are not acted on; doses in other
mass units are converted; doses per kg or per m² are handled or refused by name."""

import pytest

from tests.helpers import suggestion
from tests.test_inducers import daily_mg, imatinib_draft, rifampin_card, updated_order

STRENGTH_100 = {"code": "403878", "display": "imatinib 100 MG Oral Tablet"}


def _no_increase(card: dict) -> None:
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]


@pytest.mark.parametrize(
    ("dose", "read_as"),
    [
        ({"value": 40, "unit": "{tbl}", **STRENGTH_100}, "4000 mg/day"),  # 40 tablets a day
        ({"value": 0.0001, "unit": "{tbl}", **STRENGTH_100}, "0.01 mg/day"),
        ({"value": 4000, "unit": "mg"}, "4000 mg/day"),
        ({"value": 10, "unit": "mg"}, "10 mg/day"),
        ({"value": 700, "unit": "mg", "frequency": 2}, "1400 mg/day"),
        ({"value": 400, "unit": "g"}, "400,000 mg/day"),  # 400 g: a unit slip
    ],
)
def test_an_implausible_dose_gets_no_suggestion_and_a_request_to_check_the_order(call, dose, read_as):
    card = rifampin_card(call, imatinib_draft(**dose))
    _no_increase(card)
    assert f"No dose suggestion: the order reads as {read_as}, outside 50-1200 mg/day" in card["detail"]
    assert "check the order" in card["detail"]
    assert "already at the" not in card["detail"]  # never "already at the maximum" for 4000 mg
    assert suggestion(card, "Order an imatinib trough level")  # the level is still worth having


@pytest.mark.parametrize(
    ("value", "unit", "current", "expected_daily"),
    [
        (0.4, "g", 400, 600),
        (0.3, "g", 300, 500),
        (400000, "ug", 400, 600),
        (400000, "mcg", 400, 600),
        (400000, "\u03bcg", 400, 600),  # the Greek mu typed for the micro sign
    ],
)
def test_a_dose_in_grams_or_micrograms_is_converted_not_refused(call, value, unit, current, expected_daily):
    card = rifampin_card(call, imatinib_draft(value=value, unit=unit))
    order = updated_order(card)
    assert daily_mg(order, {}) == expected_daily
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["unit"] == "mg"
    assert f"Current imatinib dose {current} mg/day" in card["detail"]


def test_an_unusual_but_plausible_dose_is_read_and_flagged(call):
    card = rifampin_card(call, imatinib_draft(value=50, unit="mg", frequency=2))  # 100 mg/day: labelled
    assert "outside the labelled" not in card["detail"]
    card = rifampin_card(call, imatinib_draft(value=500, unit="mg", frequency=2))  # 1000 mg/day
    _no_increase(card)
    assert "1000 mg/day is outside the labelled 100-800 mg/day: check it is intended" in card["detail"]


@pytest.mark.parametrize("unit", ["mg/kg", "mg/kg/d"])
def test_a_dose_per_kg_is_refused_by_name(call, unit):
    card = rifampin_card(call, imatinib_draft(value=10, unit=unit))
    _no_increase(card)
    assert f"the dose is written in {unit}, and imatinib is not dosed per kg" in card["detail"]


def test_a_dose_per_m2_without_a_body_surface_area_is_refused_by_name(call):
    card = rifampin_card(call, imatinib_draft(value=340, unit="mg/m2"))
    _no_increase(card)
    assert ("the dose is written per m² of body-surface area and the BSA cannot be computed: no body weight and no "
            "height is on record") in card["detail"]
