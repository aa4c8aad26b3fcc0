"""Each prescribing hook, each FHIR version the clients send, and the sandbox's quirks."""

import copy

from tests.helpers import bundle, cards_of, hook_request, request_fixture, resource


def test_sandbox_draft_without_medication_gets_no_cards(call):
    body = request_fixture("order-select-sandbox-no-medication.json")
    response = call(body)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_sandbox_order_select_with_quirks_gets_the_inducer_card(call):
    cards = cards_of(call(request_fixture("order-select-sandbox-imatinib-with-rifampin.json")))
    assert [c["summary"].split(":")[0] for c in cards] == ["Imatinib + rifampin"]


def test_order_sign_r4_bundle(call):
    cards = cards_of(call(request_fixture("order-sign-imatinib-with-carbamazepine.json")))
    assert "carbamazepine" in cards[0]["summary"]



def test_order_sign_reads_a_revised_order_that_is_no_longer_a_draft(call):
    # order-sign also fires when signed orders are "re-signed" after revision: "the orders would typically have a
    # status other than 'draft'". Such an order is still decided now.
    revised = resource("imatinib-400-draft-r4.json")
    revised["status"] = "active"
    prefetch = {"activeMedications": bundle(resource("rifampin-active-r4.json"))}
    body = hook_request("order-sign", [revised], prefetch=prefetch)
    card = cards_of(call(body))[0]
    assert card["summary"].startswith("Imatinib + rifampin")
    assert any(a["type"] == "update" for s in card["suggestions"] for a in s["actions"])

def test_medication_prescribe_dstu2_legacy_array(call):
    cards = cards_of(call(request_fixture("medication-prescribe-dstu2-legacy-array.json")))
    assert "rifampin" in cards[0]["summary"]


def test_medication_prescribe_stu3_bundle(call):
    cards = cards_of(call(request_fixture("medication-prescribe-stu3-bundle.json")))
    assert "phenytoin" in cards[0]["summary"]


def test_order_select_advises_only_on_the_selected_orders(call):
    imatinib = resource("imatinib-400-draft-r4.json")
    aspirin = {
        "resourceType": "MedicationRequest", "id": "aspirin", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"text": "aspirin 81 MG Oral Tablet"},
    }
    prefetch = {"activeMedications": bundle(resource("rifampin-active-r4.json"))}
    selected_aspirin = hook_request("order-select", [imatinib, aspirin], prefetch=prefetch,
                                    selections=["MedicationRequest/aspirin"])
    assert cards_of(call(selected_aspirin)) == []
    selected_imatinib = hook_request("order-select", [imatinib, aspirin], prefetch=prefetch,
                                     selections=["MedicationRequest/imatinib-draft"])
    assert len(cards_of(call(selected_imatinib))) == 1



def test_order_select_reads_the_unselected_drafts_as_context(call):
    # order-select: "non-selected orders are included in the context ... to allow decision support to take into
    # account other pending actions": rifampin selected, imatinib drafted earlier in the session.
    imatinib, rifampin = resource("imatinib-400-draft-r4.json"), resource("rifampin-draft-r4.json")
    body = hook_request("order-select", [imatinib, rifampin], selections=["MedicationRequest/rifampin-draft"])
    card = cards_of(call(body))[0]
    assert card["summary"].startswith("Imatinib + rifampin")
    removals = [a["resourceId"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert removals == ["MedicationRequest/rifampin-draft"]

def test_resources_of_another_patient_are_ignored(call):
    body = hook_request(
        "order-sign", [resource("imatinib-400-draft-r4.json")],
        prefetch={"activeMedications": bundle(resource("rifampin-other-patient-r4.json"))},
    )
    assert cards_of(call(body)) == []


def test_draft_order_for_another_patient_is_ignored(call):
    draft = resource("imatinib-400-draft-r4.json")
    draft["subject"] = {"reference": "Patient/someone-else"}
    body = hook_request("order-sign", [draft],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    assert cards_of(call(body)) == []


def test_contained_medication_reference_is_resolved(call):
    draft = resource("imatinib-400-draft-r4.json")
    concept = draft.pop("medicationCodeableConcept")
    draft["contained"] = [{"resourceType": "Medication", "id": "med1", "code": concept}]
    draft["medicationReference"] = {"reference": "#med1"}
    body = hook_request("order-sign", [draft],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    assert len(cards_of(call(body))) == 1


def test_medication_reference_to_a_bundled_medication_is_resolved(call):
    rifampin = resource("rifampin-active-r4.json")
    concept = rifampin.pop("medicationCodeableConcept")
    rifampin["medicationReference"] = {"reference": "Medication/rif"}
    medication = {"resourceType": "Medication", "id": "rif", "code": concept}
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(rifampin, medication)})
    assert "rifampin" in cards_of(call(body))[0]["summary"]


def test_drug_recognised_by_name_says_so(call):
    rifampin = resource("rifampin-active-r4.json")
    rifampin["medicationCodeableConcept"] = {"text": "Rifadin 300mg capsules"}
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(rifampin)})
    card = cards_of(call(body))[0]
    assert "rifampin" in card["summary"]
    assert "recognised by its name" in card["detail"]


def test_unrelated_drug_needs_no_fhir_data_and_gets_no_cards(call):
    aspirin = {
        "resourceType": "MedicationRequest", "id": "aspirin", "status": "draft", "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                  "code": "243670", "display": "aspirin 81 MG Oral Tablet"}]},
    }
    body = hook_request("order-sign", [aspirin], prefetch=False)  # nothing prefetched, no fhirServer
    assert cards_of(call(body)) == []


def test_legacy_medication_prescribe_plain_array_of_r4_resources(call):
    body = hook_request("medication-prescribe", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    body["context"]["medications"] = [copy.deepcopy(resource("imatinib-400-draft-r4.json"))]
    assert len(cards_of(call(body))) == 1
