"""Safety notes when a combination is ordered: the monitoring plan, and a PD-1 inhibitor with IBD."""

from tests.helpers import bundle, cards_of, hook_request, request_fixture, resource


def topics(cards) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards]


def test_pd1_inhibitor_with_crohns_warns_and_offers_removal(call):
    cards = cards_of(call(request_fixture("order-select-pembrolizumab-gist-with-crohns.json")))
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "pd-1-inhibitor-ibd"]
    assert card["indicator"] == "warning"
    assert card["summary"] == "Pembrolizumab with Crohn's disease on record: higher risk of severe colitis"
    assert "41 % of 102 patients with IBD vs 11 % without" in card["detail"]
    assert "(Abu-Sbeih 2020; combination-therapy review 2025; status V)" in card["detail"]
    assert card["suggestions"][0]["actions"][0] == {
        "type": "delete", "description": "Remove the pembrolizumab order",
        "resourceId": "MedicationRequest/pembrolizumab-draft",
    }


def test_pd1_inhibitor_without_ibd_gets_no_ibd_warning(call):
    body = hook_request("order-select", [resource("pembrolizumab-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-gist-r4.json")),
    })
    assert "pd-1-inhibitor-ibd" not in topics(cards_of(call(body)))


def test_ibd_without_a_pd1_order_gets_no_ibd_warning(call):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-gist-r4.json"), resource("condition-crohns-r4.json")),
    })
    assert "pd-1-inhibitor-ibd" not in topics(cards_of(call(body)))


def test_combination_being_ordered_gets_the_monitoring_plan(call):
    cards = cards_of(call(request_fixture("order-select-pembrolizumab-gist-with-crohns.json")))
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "combination-imatinib-pd-1"]
    assert card["indicator"] == "info"
    assert "Blood count weekly and liver function tests every two weeks. (status U)" in card["detail"]
    assert "BCR-ABL1 PCR" not in card["detail"]  # the molecular plan is for CML; this patient has GIST


def test_interferon_added_to_imatinib_in_cml(call):
    body = hook_request("order-sign", [resource("peginterferon-alfa-2a-draft-r4.json")], prefetch={
        "activeMedications": bundle(resource("imatinib-400-active-r4.json")),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
    })
    [card] = cards_of(call(body))
    assert card["source"]["topic"]["code"] == "combination-imatinib-interferon"
    assert card["summary"].startswith("Imatinib + peginterferon alfa-2a: monitoring plan")
    assert "with a second agent, every 1-2 months for the first 6 months" in card["detail"]
    assert "Interferon-alpha: flu-like symptoms" in card["detail"]
    # On imatinib already: SPIRIT enrolled untreated patients, so it lends this patient no evidence.
    assert "Not counted: NCT00219739, SPIRIT (France), enrolled untreated (newly diagnosed) chronic-phase CML; " \
        "this patient: imatinib before." in card["detail"]
    assert "Level for this patient: the review's claim only; no registered trial fits this patient." in card["detail"]


def test_dual_tki_monitoring_when_imatinib_is_ordered_for_a_patient_on_dasatinib(call):
    dasatinib = resource("dasatinib-draft-r4.json")
    dasatinib["status"] = "active"
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "activeMedications": bundle(dasatinib),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == "combination-dual-tki"]
    assert "more frequent liver function tests and ECGs" in card["detail"]


def test_no_combination_card_when_neither_side_is_being_ordered(call):
    body = hook_request("order-sign", [resource("rifampin-draft-r4.json")], prefetch={
        "activeMedications": bundle(resource("imatinib-400-active-r4.json"), resource("pembrolizumab-draft-r4.json")
                                    | {"status": "active"}),
    })
    assert not [t for t in topics(cards_of(call(body))) if t.startswith("combination-")]
