"""A level drawn before a strong inducer started, or in the first two weeks of its induction, is not the exposure
under it: at or above the target (or above the watch level) it must not hold back the dose increase, and the card
says why it was not compared. One below the target stays below: with the inducer, exposure only falls."""

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource

TODAY = datetime.now(UTC).date()


def _level(value: float, drawn: date) -> dict:
    observation = resource("imatinib-trough-low-r4.json")
    observation["valueQuantity"]["value"] = value
    observation["effectiveDateTime"] = f"{drawn.isoformat()}T08:00:00Z"
    observation["note"] = [{"text": "trough, just before the morning dose"}]
    return observation


def _inducer(name: str, started: date) -> dict:
    inducer = resource(f"{name}-active-r4.json")
    inducer["authoredOn"] = started.isoformat()
    return inducer


def _strong_card(call, level: dict, inducer: dict | None = None, inducer_draft: dict | None = None) -> dict:
    imatinib = resource("imatinib-400-active-r4.json")
    imatinib["authoredOn"] = (TODAY - timedelta(days=200)).isoformat()
    if inducer_draft is not None:  # the inducer is being ordered now, for a patient on imatinib
        drafts, active = [inducer_draft], [imatinib]
    else:
        drafts, active = [resource("imatinib-400-draft-r4.json")], [inducer, imatinib]
    body = hook_request("order-sign", drafts, prefetch={
        "activeMedications": bundle(*active), "labResults": bundle(level),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    cards = [c for c in cards_of(call(body)) if "strong CYP3A4 induction" in c["summary"]]
    assert len(cards) == 1
    return cards[0]


def _increase(card: dict) -> list[str]:
    return [s["label"] for s in card.get("suggestions") or () if s["label"].startswith("Increase")]


@pytest.mark.parametrize(("inducer", "value", "drawn_days_ago", "started_days_ago", "said"), [
    ("carbamazepine", 1300, 8, 4, "drawn before the inducer started"),
    ("rifampin", 1500, 30, 3, "drawn before the inducer started"),
    ("carbamazepine", 2400, 10, 2, "drawn before the inducer started"),  # above the watch level, before induction
    ("carbamazepine", 1300, 2, 4, "drawn 2 days into the inducer"),
    ("rifampin", 1100, 1, 11, "drawn 10 days into the inducer"),
])
def test_a_level_from_before_the_induction_is_established_does_not_hold_back_the_increase(
    call, inducer, value, drawn_days_ago, started_days_ago, said
):
    card = _strong_card(call, _level(value, TODAY - timedelta(days=drawn_days_ago)),
                        _inducer(inducer, TODAY - timedelta(days=started_days_ago)))
    assert _increase(card) == ["Increase imatinib to 600 mg/day"]
    assert said in card["detail"] and "so it is not compared with the target" in card["detail"]
    assert "already at or above the target" not in card["detail"]


def test_a_level_from_the_day_before_an_inducer_being_ordered_now_does_not_settle_the_dose(call):
    rifampin = resource("rifampin-draft-r4.json")
    card = _strong_card(call, _level(1500, TODAY - timedelta(days=1)), inducer_draft=rifampin)
    assert "drawn before the inducer started" in card["detail"]
    assert "already at or above the target" not in card["detail"]
    assert "increase it by at least 50%" in card["detail"]


def test_a_trough_at_target_once_the_induction_is_established_still_holds_the_dose(call):
    card = _strong_card(call, _level(1300, TODAY - timedelta(days=3)),
                        _inducer("carbamazepine", TODAY - timedelta(days=40)))
    assert _increase(card) == []
    assert "is already at or above the target, so the dose is not raised" in card["detail"]


def test_a_level_below_the_target_before_the_inducer_still_counts_as_below(call):
    card = _strong_card(call, _level(640, TODAY - timedelta(days=8)),
                        _inducer("carbamazepine", TODAY - timedelta(days=4)))
    assert card["indicator"] == "critical"  # below the CML target, and the inducer lowers it further
    assert "below the 1000 ng/mL target" in card["detail"]
    assert _increase(card) == ["Increase imatinib to 600 mg/day"]
