"""The imatinib dose being ordered is checked without an inducer too: before, only the inducer card read it, so 4000
mg/day, 800 mg/day for a child of 1.06 m² or a tablet count of no known strength answered `{"cards": []}`."""

import re

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource
from tests.meds import order
from tests.test_paediatric_dosing import born, height, patient, weight

TOPIC = "imatinib-dose-check"
HOOK = {"R4": "order-sign", "STU3": "order-select", "DSTU2": "medication-prescribe"}


def dose_cards(response) -> list[dict]:
    return [c for c in cards_of(response) if c["source"]["topic"]["code"] == TOPIC]


def ordering(call, draft: dict, version: str = "R4", prefetch: dict | None = None) -> list[dict]:
    response = call(hook_request(HOOK[version], [draft], prefetch=prefetch or {}))
    assert response.status_code == 200, response.text
    return dose_cards(response)


def imatinib(version: str = "R4", **dose) -> dict:
    return order(version, "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", **dose)


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize(("dose", "daily"), [({"mg": 4000}, "4000"), ({"mg": 400, "per_day": 24}, "9600"),
                                             ({"tablets": 40}, "16,000"), ({"mg": 0.4}, "0.4")])
def test_a_dose_outside_any_a_source_gives_is_an_order_to_check(call, version, dose, daily):
    [card] = ordering(call, imatinib(version, **dose), version)
    assert card["indicator"] == "warning"
    assert card["summary"] == "Imatinib order: the dose as written is not an imatinib dose; check the order"
    assert (f"The imatinib dose being ordered is not one to act on: the order reads as {daily} mg/day, outside "
            "50-1200 mg/day") in card["detail"]
    assert "check the dose, its unit and its frequency before signing" in card["detail"]
    assert "Gleevec (imatinib mesylate) tablets, US prescribing information" in card["detail"]
    assert not card.get("suggestions")


def test_a_dose_that_cannot_be_read_is_said_to_be_unchecked(call):
    draft = order("R4", "imatinib-draft", "imatinib oral tablet", status="draft", tablets=1)  # no strength
    [card] = ordering(call, draft)
    assert card["indicator"] == "info"
    assert card["summary"] == "Imatinib order: the dose cannot be checked as written"
    assert "the dose is a count of tablets but the tablet strength is not known" in card["detail"]


def test_a_dose_outside_the_labelled_range_is_flagged(call):
    [card] = ordering(call, imatinib(mg=500, per_day=2))
    assert card["indicator"] == "info"
    assert card["summary"] == "Imatinib 1000 mg/day: outside the labelled 100-800 mg/day"


@pytest.mark.parametrize("dose", [{"mg": 400}, {"mg": 400, "per_day": 2}, {"tablets": 1}, {"mg": 100}])
def test_a_labelled_adult_dose_gets_no_dose_card(call, dose):
    assert ordering(call, imatinib(**dose)) == []


def child(years: int = 10, *measures: dict) -> dict:
    return {"patient": patient(born(years)), "vitalSigns": bundle(*measures)}


@pytest.mark.parametrize(("mg", "summary"), [
    (800, "Imatinib 800 mg/day for a child of 1.06 m²: above the 600 mg/day paediatric maximum"),
    (400, "Imatinib 400 mg/day for a child of 1.06 m²: above the dose by body-surface area"),
])
def test_a_childs_dose_above_the_bsa_dose_is_flagged(call, mg, summary):
    [card] = ordering(call, imatinib(mg=mg), prefetch=child(10, weight(30), height(135)))
    assert card["indicator"] == "warning" and card["summary"] == summary
    assert "340 mg/m² x 1.06 m² = 361 mg/day, so at most **300 mg/day**" in card["detail"]
    assert f"The order is **{mg} mg/day**" in card["detail"]
    if mg == 800:
        assert "The order is **800 mg/day**, above the 600 mg/day paediatric maximum." in card["detail"]
        assert ("check the dose: a child's dose is never above 600 mg/day (340 mg/m²/day x 1.06 m² is 361 mg/day)"
                in card["detail"])


def test_a_childs_dose_within_the_bsa_dose_gets_no_dose_card(call):
    assert ordering(call, imatinib(mg=300), prefetch=child(10, weight(30), height(135))) == []


def test_a_child_without_a_weight_and_height_is_held_to_600_mg(call):
    [card] = ordering(call, imatinib(mg=800), prefetch=child(10))
    assert card["summary"] == "Imatinib 800 mg/day for a child: above the 600 mg/day paediatric maximum"
    assert "No dose is computed: no body weight and no height is on record" in card["detail"]


@pytest.mark.parametrize("mg", [100, 300, 400, 600])
@pytest.mark.parametrize(("years", "measures", "why"), [
    (3, [], "no body weight and no height is on record"),
    (10, [weight(30)], "no height is on record"),
    (10, [height(135)], "no body weight is on record"),
    (10, [weight(30, days_ago=540), height(135, days_ago=540)], "older than the 30 days a child's dose is computed"),
    (10, [weight(30), height(4.4, "[ft_i]")], "4.4 [ft_i]"),
    (10, [weight(30, "[stone_av]"), height(135)], "a unit this service cannot convert"),
    (10, [weight(0), height(135)], "not above zero"),
    (10, [weight(-30), height(135)], "not above zero"),
    (10, [weight(30), height(1.35)], "the latest height, 1.35 cm"),
    (16, [weight(1e200), height(1e200)], "is not a measure of a person"),
])
def test_a_child_whose_dose_cannot_be_checked_by_bsa_gets_a_card_at_any_dose(call, years, measures, why, mg):
    """Before, a child ordered up to 600 mg/day with no usable weight and height got `{"cards": []}` (all clear)."""
    [card] = ordering(call, imatinib(mg=mg), prefetch=child(years, *measures))
    assert card["indicator"] == "info"
    assert card["summary"] == (f"Imatinib {mg} mg/day for a child: not checked against 340 mg/m²/day, no usable "
                               "weight and height")
    assert f"Child patient, {years} years old" in card["detail"]
    assert why in card["detail"]
    assert (f"The order is **{mg} mg/day**; without a BSA it cannot be checked against 340 mg/m²/day, only "
            "against the 600 mg/day that no child's dose exceeds.") in card["detail"]
    assert "**What to do**: record a current weight and height" in card["detail"]
    assert "Gleevec (imatinib mesylate) tablets, US prescribing information" in card["detail"]
    assert not re.search(r"(?<![\d.])0 mg/day", card["detail"])


@pytest.mark.parametrize(("w", "h"), [
    (weight(1058.2, "[oz_av]"), height(135)), (weight(1058.2, "oz"), height(1.35, "m")),
    (weight(66.14, "[lb_av]"), height(53.15, "[in_i]")), (weight(30000, "g"), height(1350, "mm")),
])
def test_a_childs_weight_and_height_in_any_unit_the_service_converts_are_used(call, w, h):
    [card] = ordering(call, imatinib(mg=400), prefetch=child(10, w, h))
    assert "BSA **1.06 m²**" in card["detail"]


def test_with_a_strong_inducer_the_inducer_card_reads_the_dose_and_no_dose_card_is_added(call):
    response = call(hook_request("order-sign", [imatinib(mg=4000)],
                                 prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))}))
    assert dose_cards(response) == []
    [card] = cards_of(response)
    assert card["detail"].count("outside 50-1200 mg/day") == 1  # said once, in the dose line, not again by the model


def test_a_child_without_a_weight_and_height_on_an_inducer_still_gets_the_dose_checked(call):
    """The inducer card stops at "record a weight and height" before it reads the dose, so the check speaks."""
    prefetch = {**child(10), "activeMedications": bundle(resource("carbamazepine-active-r4.json"))}
    [card] = ordering(call, imatinib(mg=800), prefetch=prefetch)
    assert card["summary"] == "Imatinib 800 mg/day for a child: above the 600 mg/day paediatric maximum"


def test_two_orders_whose_sum_is_above_the_label_get_one_card(call):
    drafts = [imatinib(mg=800), {**imatinib(mg=800), "id": "imatinib-draft-2"}]
    response = call(hook_request("order-sign", drafts, prefetch={}))
    [card] = dose_cards(response)
    assert card["indicator"] == "warning"
    assert card["summary"] == "2 imatinib orders written together: 1600 mg/day if all are taken, above the labelled " \
        "maximum"
    assert "(800 mg/day and 800 mg/day: 1600 mg/day if all are taken): check whether they are one regimen" \
        in card["detail"]


def test_two_orders_of_a_twice_daily_regimen_get_an_info_card(call):
    drafts = [imatinib(mg=400), {**imatinib(mg=400), "id": "imatinib-draft-2"}]
    [card] = dose_cards(call(hook_request("order-sign", drafts, prefetch={})))
    assert card["indicator"] == "info" and card["summary"].endswith("800 mg/day if all are taken")


@pytest.mark.parametrize(("kg", "cm", "mg"), [
    (20, 115, 250),  # BSA 0.80 m²: 340 mg/m² is 272 mg/day; 250 mg is 2.5 scored 100 mg tablets
    (20, 115, 270),
    (20, 115, 272),
    (30, 135, 350),  # BSA 1.06 m²: 361 mg/day
    (50, 160, 500),  # BSA 1.49 m²: 507 mg/day
    (70, 175, 600),  # BSA 1.84 m²: 627 mg/day, at most 600
])
def test_a_childs_dose_within_340_mg_per_m2_is_not_called_too_high(call, kg, cm, mg):
    assert ordering(call, imatinib(mg=mg), prefetch=child(10, weight(kg), height(cm))) == []


@pytest.mark.parametrize(("kg", "cm", "mg", "by_bsa", "half_tablets"), [
    (20, 115, 300, "272 mg/day", "250 mg/day"),
    (30, 135, 400, "361 mg/day", "350 mg/day"),
    (3.5, 50, 100, "75 mg/day", "50 mg/day"),  # BSA 0.22 m²
])
def test_a_childs_dose_above_340_mg_per_m2_is_flagged_with_that_dose(call, kg, cm, mg, by_bsa, half_tablets):
    [card] = ordering(call, imatinib(mg=mg), prefetch=child(10, weight(kg), height(cm)))
    assert card["indicator"] == "warning"
    assert card["summary"].endswith("above the dose by body-surface area")
    assert f"The order is **{mg} mg/day**, above the {by_bsa} of 340 mg/m²/day." in card["detail"]
    assert (f"**What to do**: check the dose: 340 mg/m²/day is {by_bsa} for this BSA; the most within it in half "
            f"tablets (the 100 mg tablet is scored) is {half_tablets}.") in card["detail"]


def test_a_child_too_small_for_half_a_tablet_is_never_told_0_mg(call):
    # 1 kg, 35 cm: BSA 0.10 m², 340 mg/m² is 34 mg/day, less than half a 100 mg tablet.
    [card] = ordering(call, imatinib(mg=100), prefetch=child(0, weight(1), height(35)))
    assert "340 mg/m²/day is 34 mg/day for this BSA; that is less than half a 100 mg tablet" in card["detail"]
    assert not re.search(r"(?<![\d.])0 mg", card["detail"])
    prefetch = {**child(0, weight(1), height(35)),
                "activeMedications": bundle(resource("carbamazepine-active-r4.json"))}
    [inducer] = cards_of(call(hook_request("order-sign", [imatinib(mg=100)], prefetch=prefetch)))
    assert not re.search(r"(?<![\d.])0 mg", inducer["detail"])
    assert "above this child's dose by body-surface area (34 mg/day)" in inducer["detail"]


def test_with_an_inducer_a_dose_within_340_mg_per_m2_is_not_called_above_the_childs_maximum(call):
    # BSA 0.80 m²: 250 mg/day is within 272 mg/day; no whole-tablet increase fits under it.
    prefetch = {**child(6, weight(20), height(115)),
                "activeMedications": bundle(resource("carbamazepine-active-r4.json"))}
    [card] = cards_of(call(hook_request("order-sign", [imatinib(mg=250)], prefetch=prefetch)))
    assert "above this child's" not in card["detail"]
    assert ("No dose increase: 250 mg/day is within 340 mg/m²/day for this BSA (272 mg/day) and no whole-tablet "
            "increase fits under it") in card["detail"]
    assert not [s for s in card.get("suggestions", []) if s["label"].startswith("Increase")]
