"""A level dated after today is a date error: it is never the latest level, never fitted, never held against the
target, and one card names it, so a real level before it counts and nothing is silent."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource

TODAY = datetime.now(UTC).date()
MISDATED_SUMMARY = "Imatinib level dated after today: not used; check its date with the laboratory"


def _level(value: float, days_from_today: int, level_id: str) -> dict:
    observation = resource("imatinib-trough-low-r4.json")
    observation["id"] = level_id
    observation["valueQuantity"]["value"] = value
    observation["effectiveDateTime"] = f"{(TODAY + timedelta(days=days_from_today)).isoformat()}T08:00:00Z"
    return observation


def _cards(call, *levels: dict, inducer: bool = False) -> list[dict]:
    imatinib = resource("imatinib-400-active-r4.json")
    imatinib["authoredOn"] = (TODAY - timedelta(days=200)).isoformat()
    active = [imatinib]
    if inducer:
        carbamazepine = resource("carbamazepine-active-r4.json")
        carbamazepine["authoredOn"] = (TODAY - timedelta(days=60)).isoformat()
        active.append(carbamazepine)
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "activeMedications": bundle(*active), "labResults": bundle(*levels),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    return cards_of(call(body))


@pytest.mark.parametrize("days_ahead", [2, 30, 90, 3650])
def test_a_level_dated_after_today_is_named_and_not_used(call, days_ahead):
    cards = _cards(call, _level(600, days_ahead, "misdated"))
    assert [c["summary"] for c in cards] == [MISDATED_SUMMARY]
    detail = cards[0]["detail"]
    assert "600 ng/mL (Observation/misdated)" in detail and "after today: a date error" in detail
    assert not cards[0].get("suggestions")


def test_a_level_dated_after_today_does_not_hide_a_real_low_trough_before_it(call):
    cards = _cards(call, _level(1500, 60, "misdated"), _level(400, -8, "real"))
    summaries = [c["summary"] for c in cards]
    assert MISDATED_SUMMARY in summaries
    tdm = next(c for c in cards if c["summary"].startswith("Imatinib trough predicted"))
    assert "Latest level **400 ng/mL**" in tdm["detail"]


def test_a_level_dated_after_today_does_not_hold_back_an_inducer_increase(call):
    cards = _cards(call, _level(1500, 60, "misdated"), inducer=True)
    strong = next(c for c in cards if "strong CYP3A4 induction" in c["summary"])
    assert "already at or above the target" not in strong["detail"]
    assert [s["label"] for s in strong["suggestions"] if s["label"].startswith("Increase")] == [
        "Increase imatinib to 600 mg/day"]
    assert MISDATED_SUMMARY in [c["summary"] for c in cards]


def test_a_level_dated_tomorrow_counts_a_time_zone_ahead_of_utc_explains_it(call):
    cards = _cards(call, _level(1500, 1, "tomorrow"))
    assert MISDATED_SUMMARY not in [c["summary"] for c in cards]

