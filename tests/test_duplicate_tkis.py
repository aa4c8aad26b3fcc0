"""Two BCR-ABL1 inhibitors at once: the card asks whether it is a switch, offers what it can, agrees with the
combination card."""

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource, suggestion
from tests.meds import order, statement
from tests.rendering import assert_renders_as_written

TOPIC = "duplicate-bcr-abl1-inhibitors"


def topics(cards) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards]


def only(cards, topic: str = TOPIC) -> dict:
    [card] = [c for c in cards if c["source"]["topic"]["code"] == topic]
    return assert_renders_as_written(card)


def test_dasatinib_ordered_while_imatinib_is_active_asks_and_says_to_stop_the_imatinib_order(call):
    body = hook_request("order-sign", [resource("dasatinib-draft-r4.json")], prefetch={
        "activeMedications": bundle(resource("imatinib-400-active-r4.json")),
    })
    cards = cards_of(call(body))
    card = only(cards)
    assert card["indicator"] == "warning"
    assert card["summary"] == "Dasatinib ordered while imatinib is on record: is this a switch?"
    assert ("If this is a switch to dasatinib: stop the imatinib order in the EHR (an active order: this card "
            "cannot remove it).") in card["detail"]
    # Imatinib is not a draft, so nothing deletes it; the only delete is the dasatinib draft ("not meant").
    [remove] = card["suggestions"]
    assert remove["actions"] == [{"type": "delete", "description": "Remove the dasatinib 100 MG Oral Tablet order",
                                  "resourceId": "MedicationRequest/dasatinib-draft"}]
    # Dasatinib with imatinib is a studied dual-TKI strategy: the monitoring card stays, and the two agree.
    assert "combination-dual-tki" in topics(cards)
    assert "its evidence and monitoring plan are on the combination card" in card["detail"]
    # What was found names the two medicines (a studied pairing once printed the evidence object here instead).
    assert card["detail"].startswith("Found: imatinib 400 MG Oral Tablet \\[Gleevec\\] (an active order); "
                                     "dasatinib 100 MG Oral Tablet (being ordered now).")


@pytest.mark.parametrize(("version", "hook"), [("R4", "order-sign"), ("STU3", "order-select"),
                                               ("DSTU2", "medication-prescribe")])
def test_imatinib_ordered_while_nilotinib_is_active_offers_removing_the_imatinib_draft(call, version, hook):
    draft = order(version, "imatinib-draft", "imatinib 400 MG Oral Tablet", status="draft", mg=400)
    nilotinib = order(version, "nilotinib-active", "nilotinib 150 MG Oral Capsule", mg=600, per_day=1)
    key = "activeMedicationOrders" if version == "DSTU2" else "activeMedications"
    cards = cards_of(call(hook_request(hook, [draft], prefetch={key: bundle(nilotinib)})))
    card = only(cards)
    assert card["summary"] == "Imatinib ordered while nilotinib is on record: is this a switch?"
    remove = suggestion(card, "Remove the imatinib")["actions"]
    assert remove == [{"type": "delete", "description": "Remove the imatinib 400 MG Oral Tablet order",
                       "resourceId": f"{draft['resourceType']}/imatinib-draft"}]
    assert "If this is a switch to imatinib: stop the nilotinib order in the EHR" in card["detail"]
    # Imatinib + nilotinib is no studied combination: no monitoring card, and the card says so.
    assert not [t for t in topics(cards) if t.startswith("combination-")]
    assert "no combination of the two is studied in the knowledge base" in card["detail"]


def test_imatinib_taken_by_statement_and_bosutinib_ordered_asks_to_record_imatinib_stopped(call):
    imatinib = statement("R4", "imatinib-taken", "imatinib 400 mg tablets", start="2026-01-01")
    body = hook_request("order-sign", [order("R4", "bos", "bosutinib 500 MG Oral Tablet", status="draft", mg=500)],
                        prefetch={"medicationStatements": bundle(imatinib)})
    card = only(cards_of(call(body)))
    assert "ask the patient to stop imatinib and record it as stopped" in card["detail"]


def test_no_card_for_imatinib_alone_or_when_neither_is_being_ordered(call):
    alone = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")])
    assert TOPIC not in topics(cards_of(call(alone)))
    dasatinib = resource("dasatinib-draft-r4.json") | {"status": "active"}
    neither = hook_request("order-sign", [resource("rifampin-draft-r4.json")], prefetch={
        "activeMedications": bundle(resource("imatinib-400-active-r4.json"), dasatinib),
    })
    assert TOPIC not in topics(cards_of(call(neither)))


def test_a_tki_that_is_not_a_bcr_abl1_inhibitor_is_no_duplicate(call):
    body = hook_request("order-sign", [order("R4", "sun", "sunitinib 50 MG Oral Capsule", status="draft", mg=50)],
                        prefetch={"activeMedications": bundle(resource("imatinib-400-active-r4.json"))})
    assert TOPIC not in topics(cards_of(call(body)))
