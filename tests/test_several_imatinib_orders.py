"""Two imatinib orders written at once (a twice-daily dose written as two orders, or a duplicate): no card changes
either dose. Each card used to raise its own draft: two 400 mg orders with rifampin came back as two +50 %
updates, 1200 mg/day in all if both were accepted, above the 800 mg/day this service ever suggests."""

import copy

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource
from tests.meds import order
from tests.test_de_induction import ago, de_induction_cards
from tests.test_tdm_cards import DRAFTS, level, prefetch, tdm_cards

RIFAMPIN = {"R4": "rifampin-active-r4.json", "DSTU2": "rifampin-active-dstu2.json"}
HOOK = {"R4": "order-sign", "DSTU2": "medication-prescribe"}


def second_draft(draft: dict, mg: float | None = None) -> dict:
    other = copy.deepcopy(draft)
    other["id"] = f"{draft['id']}-evening"
    if mg is not None:
        dosage = other["dosageInstruction"][0]
        quantity = dosage["doseAndRate"][0]["doseQuantity"] if "doseAndRate" in dosage else dosage["doseQuantity"]
        quantity["value"] = mg
    return other


def dose_updates(cards: list[dict]) -> list[dict]:
    return [action for card in cards for s in card.get("suggestions") or () for action in s["actions"]
            if action["type"] == "update"]


@pytest.mark.parametrize("version", ["R4", "DSTU2"])
def test_two_imatinib_drafts_with_rifampin_get_one_card_and_no_dose_change(call, version):
    draft = resource(DRAFTS[version])
    body = hook_request(HOOK[version], [draft, second_draft(draft)],
                        prefetch={"activeMedications": bundle(resource(RIFAMPIN[version]))})
    if version == "DSTU2":
        body["prefetch"]["activeMedicationOrders"] = body["prefetch"].pop("activeMedications")
    cards = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    assert len(cards) == 1, [c["summary"] for c in cards]
    assert dose_updates(cards) == []
    assert ("No dose suggestion: 2 imatinib orders are being written together (400 mg/day and 400 mg/day: 800 mg/day "
            "if all are taken): check whether they are one regimen") in cards[0]["detail"]
    assert [s["label"] for s in cards[0]["suggestions"]] == ["Order an imatinib trough level"]


def test_one_imatinib_draft_with_rifampin_is_still_raised(call):
    body = hook_request("order-sign", [resource(DRAFTS["R4"])],
                        prefetch={"activeMedications": bundle(resource(RIFAMPIN["R4"]))})
    [update] = dose_updates(cards_of(call(body)))
    assert update["resource"]["id"] == resource(DRAFTS["R4"])["id"]


def test_two_imatinib_drafts_with_a_low_level_get_the_models_numbers_but_no_update(call):
    draft = resource(DRAFTS["R4"])
    response = call(hook_request("order-select", [draft, second_draft(draft, mg=200)], prefetch=prefetch(level(640))))
    [card] = tdm_cards(response)
    assert dose_updates([card]) == []
    assert ("The proposal is not written into an order: 2 imatinib orders are being written together (400 mg/day "
            "and 200 mg/day: 600 mg/day if all are taken)") in card["detail"]


def test_two_imatinib_drafts_after_rifampin_stopped_get_no_step_back_update(call):
    stopped = order("R4", "inducer-stopped", "Rifampin 300 MG Oral Capsule", status="stopped", mg=600,
                    authored=ago(70), ended=ago(30))
    raised = order("R4", "imatinib-raised", "imatinib 400 MG Oral Tablet", mg=600, authored=ago(67))
    before = order("R4", "imatinib-before", "imatinib 400 MG Oral Tablet", status="completed", mg=400,
                   authored=ago(130))
    drafts = [order("R4", "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", mg=600),
              order("R4", "imatinib-draft-2", "imatinib 400 MG Oral Tablet", status="draft", mg=600)]
    body = hook_request("order-sign", drafts, prefetch={"medicationHistory": bundle(stopped, before, raised),
                                                        "activeMedications": bundle(raised)})
    [card] = de_induction_cards(call(body))
    assert "Step imatinib back to **400 mg/day** now" in card["detail"]
    assert dose_updates([card]) == []
    assert "(The order is not updated: 2 imatinib orders are being written together (600 mg/day and 600 mg/day: " \
        "1200 mg/day if all are taken)" in card["detail"]
