"""A final imatinib level the service cannot read as a concentration (a unit it does not convert to ng/mL, no unit,
text, a coded answer, no value) is still a level on record. Before, it was dropped without a word: the cards acted
as if no level existed, and an older level behind it could be fitted as if it were the latest. Now the TDM card and
the inducer card say what was recorded, why it cannot be read and what to do; nothing is fitted from it."""

import copy

import pytest

from tests.helpers import cards_of, resource
from tests.test_levels_the_model_cannot_fit import order_select
from tests.test_tdm_cards import level, the_tdm_card

UNREADABLE = "Imatinib level on record cannot be read as a concentration: check the result"


def recorded_as(**value) -> dict:
    """The low trough fixture with its value replaced by `value` (valueQuantity, valueString, ...)."""
    found = level(640)
    del found["valueQuantity"]
    found.update(id="level-unreadable", **value)
    return found


CASES = [
    (recorded_as(valueQuantity={"value": 12, "unit": "IU/mL"}),
     'its unit "IU/mL" is not one the service converts to ng/mL', "12 IU/mL"),
    (recorded_as(valueQuantity={"value": 7, "unit": "ng/dL", "system": "http://unitsofmeasure.org",
                                "code": "ng/dL"}),
     'its unit "ng/dL" is not one the service converts to ng/mL', "7 ng/dL"),
    (recorded_as(valueQuantity={"value": 640}), "it has no unit", "640 (no unit)"),
    (recorded_as(valueQuantity={"value": "640", "unit": "ng/mL"}), "its value is not a number", "640 ng/mL"),
    (recorded_as(valueQuantity={"unit": "ng/mL", "comparator": "<"}), "its quantity has no number", "no value"),
    (recorded_as(valueString="<50 ng/mL"), "it is recorded as text, not as a number with a unit",
     '"<50 ng/mL" (text)'),
    (recorded_as(valueCodeableConcept={"text": "Below the limit of quantitation"}),
     "it is recorded as a coded answer", '"Below the limit of quantitation"'),
    (recorded_as(dataAbsentReason={"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                                               "code": "error"}]}),
     "it has no value (data absent: error)", "no value"),
]


@pytest.mark.parametrize(("lab", "why", "shown"), CASES)
def test_an_unreadable_level_gets_a_card_saying_what_was_recorded_and_why(call, lab, why, shown):
    card = the_tdm_card(order_select(call, copy.deepcopy(lab)))
    assert card["indicator"] == "info"
    assert card["summary"] == UNREADABLE
    assert f"Latest imatinib level: **{shown}** on 2026-11-20" in card["detail"]
    assert f"It cannot be read as a concentration: {why}" in card["detail"]
    assert "is not fitted" in card["detail"]
    assert "ask the laboratory for the value in ng/mL" in card["detail"]
    assert not card.get("suggestions")


@pytest.mark.parametrize("version", ["STU3", "DSTU2"])
def test_an_unreadable_level_gets_the_card_in_every_fhir_version(call, version):
    card = the_tdm_card(order_select(call, copy.deepcopy(CASES[0][0]), version=version))
    assert card["summary"] == UNREADABLE


def test_an_older_level_behind_an_unreadable_latest_one_is_not_fitted_as_the_latest(call):
    """Before, the unreadable level vanished and the older 640 was fitted as if it were the latest result."""
    older = level(640, when="2026-09-01T08:05:00Z")
    card = the_tdm_card(order_select(call, older, copy.deepcopy(CASES[0][0])))
    assert card["summary"] == UNREADABLE
    assert "**12 IU/mL** on 2026-11-20" in card["detail"]


def test_an_unreadable_older_level_does_not_hide_a_readable_latest_one(call):
    older = copy.deepcopy(CASES[0][0])
    older["effectiveDateTime"] = "2026-09-01T08:05:00Z"
    card = the_tdm_card(order_select(call, older, level(640)))
    assert card["indicator"] == "warning" and "model proposes 600 mg once daily" in card["summary"]


def test_a_known_unit_spelled_in_either_field_is_still_read(call):
    """The boundary: ng/mL in `unit` only, or µg/L as UCUM `code`, is a concentration as before."""
    for quantity in ({"value": 640, "unit": "ng/mL"}, {"value": 0.64, "code": "ug/mL", "unit": "mcg/mL"}):
        card = the_tdm_card(order_select(call, recorded_as(valueQuantity=quantity)))
        assert "**640 ng/mL**" in card["detail"] and card["indicator"] == "warning"


def test_the_inducer_card_says_the_latest_level_cannot_be_read(call):
    response = order_select(call, copy.deepcopy(CASES[5][0]), active=(resource("carbamazepine-active-r4.json"),))
    inducer = [c for c in cards_of(response) if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    assert len(inducer) == 1
    assert ('**"<50 ng/mL" (text)** on 2026-11-20: it cannot be read as a concentration (it is recorded as text, '
            "not as a number with a unit)") in inducer[0]["detail"]
