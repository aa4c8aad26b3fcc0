"""The ratchet: a dose already raised while an inducer ran is not raised again at renewal, and the card says what it
found (the dose, since when, against what, and the latest trough)."""

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_inducers import daily_mg, imatinib_draft, updated_order


def imatinib_order(ident: str, mg: int, authored: str, status: str = "active", frequency: int = 1) -> dict:
    order = imatinib_draft(value=mg, unit="mg", frequency=frequency)
    order.update(id=ident, status=status, authoredOn=authored)
    return order


def carbamazepine(since: str) -> dict:
    order = resource("carbamazepine-active-r4.json")
    order["authoredOn"] = since
    return order


def trough(value: float, on: str) -> dict:
    level = resource("imatinib-trough-low-r4.json")
    level["valueQuantity"]["value"] = value
    level.update(effectiveDateTime=on, note=[{"text": "trough, pre-dose"}])
    return level


def renewal_card(call, draft_mg: int, active: list[dict], history: list[dict] = (), levels: list[dict] = (),
                 condition: str = "condition-cml-chronic-r4.json") -> dict:
    body = hook_request(
        "order-sign",
        [imatinib_draft(value=draft_mg, unit="mg")],
        prefetch={
            "activeMedications": bundle(*active),
            "medicationHistory": bundle(*active, *history),
            "labResults": bundle(*levels),
            "conditions": bundle(resource(condition)),
        },
    )
    cards = [c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + carbamazepine")]
    assert len(cards) == 1
    return cards[0]


def increases(card: dict) -> list[dict]:
    return [s for s in card["suggestions"] if s["label"].startswith("Increase")]


def test_a_dose_raised_for_a_lifelong_inducer_with_a_trough_at_target_is_not_raised_again(call):
    card = renewal_card(
        call, 600,
        active=[carbamazepine("2024-01-10"), imatinib_order("ima-600", 600, "2024-02-01")],
        history=[imatinib_order("ima-400", 400, "2023-06-01", status="completed")],
        levels=[trough(1250, "2026-10-02T08:00:00Z")],
    )
    assert not increases(card)
    assert "800" not in card["detail"].split("**What happens**")[0]
    assert ("No further increase: imatinib was already raised while carbamazepine ran: 600 mg/day since 2024-02-01 "
            "(imatinib 400 MG Oral Tablet, an active order), up from 400 mg/day (before carbamazepine started); "
            "carbamazepine since 2024-01-10.") in card["detail"]
    assert "The latest trough (1250 ng/mL on 2026-10-02) is at or above the target." in card["detail"]


def test_a_start_above_the_standard_dose_while_the_inducer_ran_counts_as_raised(call):
    card = renewal_card(call, 600, active=[carbamazepine("2022-05-01"), imatinib_order("ima-600", 600, "2023-01-15")])
    assert not increases(card)
    assert "up from 400 mg/day (the standard dose for chronic" in card["detail"]
    assert "No trough level is on record: check one." in card["detail"]


def test_a_raised_dose_with_a_low_trough_is_still_not_raised_a_second_time(call):
    card = renewal_card(
        call, 600,
        active=[carbamazepine("2024-01-10"), imatinib_order("ima-600", 600, "2024-02-01")],
        history=[imatinib_order("ima-400", 400, "2023-06-01", status="completed")],
        levels=[trough(700, "2026-10-02T08:00:00Z")],
    )
    assert not increases(card)
    assert "The latest trough (700 ng/mL on 2026-10-02) is below the target." in card["detail"]


def test_a_renewal_below_the_raised_dose_is_flagged(call):
    card = renewal_card(
        call, 400,
        active=[carbamazepine("2024-01-10"), imatinib_order("ima-600", 600, "2024-02-01")],
        history=[imatinib_order("ima-400", 400, "2023-06-01", status="completed")],
    )
    assert not increases(card)
    assert "The dose being ordered (400 mg/day) is below the raised dose: check it is intended." in card["detail"]


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # Never raised: 400 before and during the inducer.
        ([imatinib_order("ima-old", 400, "2023-06-01", status="completed"),
          imatinib_order("ima-400", 400, "2024-06-01", status="completed")], 600),
        # Raised before the inducer started (for response, not for it): that dose is the baseline.
        ([imatinib_order("ima-600", 600, "2023-06-01", status="completed")], 800),
    ],
)
def test_a_dose_never_raised_for_the_inducer_is_still_offered_the_increase(call, history, expected):
    card = renewal_card(call, history[-1]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"],
                        active=[carbamazepine("2024-01-10")], history=history)
    assert daily_mg(updated_order(card), {}) == expected


def test_an_inducer_being_ordered_now_has_raised_nothing_yet(call):
    active = imatinib_order("ima-600", 600, "2024-02-01")
    draft = resource("carbamazepine-active-r4.json")
    draft.update(id="cbz-draft", status="draft")
    body = hook_request("order-sign", [draft], prefetch={"activeMedications": bundle(active)})
    card = next(c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + carbamazepine"))
    assert "already raised" not in card["detail"]


def phenytoin_draft() -> dict:
    order = resource("carbamazepine-active-r4.json")
    order.update(id="phenytoin-draft", status="draft")
    order["medicationCodeableConcept"] = {"text": "phenytoin sodium 100 MG Extended Release Oral Capsule"}
    return order


def test_a_dose_raised_for_one_inducer_is_not_raised_again_when_a_second_is_ordered(call):
    """Carbamazepine runs and imatinib was raised for it; phenytoin is ordered now: the card is about phenytoin,
    and the dose raised for carbamazepine still counts."""
    active = [carbamazepine("2026-09-01"), imatinib_order("ima-600", 600, "2026-09-10")]
    body = hook_request("order-select", [phenytoin_draft()], prefetch={
        "activeMedications": bundle(*active),
        "medicationHistory": bundle(*active, imatinib_order("ima-400", 400, "2026-06-01", status="completed")),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    [card] = [c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + phenytoin")]
    assert "No further increase: imatinib was already raised while carbamazepine ran: 600 mg/day since " \
        "2026-09-10" in card["detail"]
    assert "800 mg" not in card["detail"]


def rifampin_card_without_its_start(call, draft_mg: int) -> dict:
    """Rifampin active with no start date on record, imatinib `draft_mg` being ordered."""
    rifampin = resource("rifampin-active-r4.json")
    rifampin.pop("authoredOn", None)
    body = hook_request("order-sign", [imatinib_draft(value=draft_mg, unit="mg")], prefetch={
        "activeMedications": bundle(rifampin),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    [card] = [c for c in cards_of(call(body)) if c["summary"].startswith("Imatinib + rifampin")]
    return card


def test_an_inducer_without_a_start_date_and_a_dose_above_the_standard_one_is_not_raised_again(call):
    card = rifampin_card_without_its_start(call, 600)
    assert not increases(card)
    assert ("No further increase: rifampin has no start date on record and the dose is already above the standard "
            "dose for chronic myeloid leukaemia (400 mg/day), so it may have been raised for rifampin already; rely "
            "on the trough level.") in card["detail"]


def test_an_inducer_without_a_start_date_and_the_standard_dose_is_raised(call):
    assert daily_mg(updated_order(rifampin_card_without_its_start(call, 400)), {}) == 600


def _stopped(order: dict, start: str, end: str) -> dict:
    order = dict(order, status="stopped", authoredOn=start)
    order["dispenseRequest"] = {"validityPeriod": {"start": start, "end": end}}
    return order


def _inducer_card(call, draft_mg: int, active: list[dict], history: list[dict]) -> dict:
    body = hook_request("order-sign", [imatinib_draft(value=draft_mg, unit="mg")], prefetch={
        "activeMedications": bundle(*active), "medicationHistory": bundle(*active, *history),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    cards = [c for c in cards_of(call(body)) if "strong CYP3A4 induction" in c["summary"]]
    assert len(cards) == 1
    return cards[0]


@pytest.mark.parametrize(("first_until", "second_from"), [
    ("2026-11-13", "2026-10-15"),  # phenytoin started while carbamazepine still ran
    ("2026-11-13", "2026-11-13"),  # started the day carbamazepine stopped
])
def test_a_dose_raised_for_one_inducer_is_not_raised_again_when_another_takes_over_without_a_gap(
    call, first_until, second_from
):
    """Raised to 600 for carbamazepine; phenytoin took over before it stopped, so the patient stayed induced: a
    renewal was offered a second +50 % (800 mg/day) because the dose before phenytoin was already 600."""
    phenytoin = dict(
        carbamazepine(second_from), id="phenytoin-1",
        medicationCodeableConcept={"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                               "code": "855671"}],
                                   "text": "phenytoin sodium 100 MG Extended Release Oral Capsule"})
    card = _inducer_card(
        call, 600,
        active=[phenytoin, imatinib_order("ima-600", 600, "2026-10-01")],
        history=[imatinib_order("ima-400", 400, "2026-01-01", status="completed"),
                 _stopped(carbamazepine("2026-10-01"), "2026-10-01", first_until)],
    )
    assert not increases(card)
    assert "imatinib was already raised while carbamazepine then phenytoin ran: 600 mg/day since 2026-10-01" in \
        card["detail"]
    assert "up from 400 mg/day (before carbamazepine started)" in card["detail"]


def test_a_new_inducer_after_a_gap_starts_a_new_induction_and_its_dose_is_raised(call):
    """Carbamazepine stopped in June, its raise stepped back to 400; phenytoin from October: +50 % is due again."""
    phenytoin = dict(carbamazepine("2026-10-15"), id="phenytoin-1", medicationCodeableConcept={
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "855671"}],
        "text": "phenytoin sodium 100 MG Extended Release Oral Capsule"})
    card = _inducer_card(
        call, 400,
        active=[phenytoin, imatinib_order("ima-400b", 400, "2026-07-01")],
        history=[imatinib_order("ima-400", 400, "2026-01-01", status="completed"),
                 imatinib_order("ima-600", 600, "2026-03-01", status="completed"),
                 _stopped(carbamazepine("2026-03-01"), "2026-03-01", "2026-06-15")],
    )
    assert [s["label"] for s in increases(card)] == ["Increase imatinib to 600 mg/day"]
