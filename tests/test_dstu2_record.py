"""A DSTU2 record read in DSTU2's own element names, end to end: what a DSTU2 EHR (or the sandbox's default mode)
sends gets the same advice as R4, and every resource written back is DSTU2."""

from cds_service.fhir_validation import validation_problems
from tests.helpers import bundle, cards_of, hook_request, resource


def dstu2_call(call, **prefetch):
    body = hook_request("order-sign", [resource("imatinib-draft-morning-dstu2.json")], prefetch={
        "activeMedicationOrders": bundle(resource("carbamazepine-active-dstu2.json")),
        "medicationStatements": bundle(resource("st-johns-wort-statement-dstu2.json")),
        "conditions": bundle(resource("condition-gist-dstu2.json")),
        **prefetch,
    })
    del body["prefetch"]["activeMedications"]  # a DSTU2 client fills only the MedicationOrder key
    return cards_of(call(body))


def by_topic(cards, code):
    [card] = [c for c in cards if c["source"]["topic"]["code"] == code]
    return card


def test_dstu2_order_statement_and_condition_give_the_inducer_and_st_johns_wort_cards(call):
    cards = dstu2_call(call)
    inducer = by_topic(cards, "imatinib-strong-cyp3a4-inducer")
    assert "carbamazepine" in inducer["summary"]
    # The DSTU2 Condition (patient, string statuses) is read: the GIST target, not CML's.
    assert "at least 1100 ng/mL" in inducer["detail"]
    assert "Stop St John's wort" in by_topic(cards, "imatinib-st-johns-wort")["summary"]


def test_the_dstu2_dose_update_keeps_the_order_in_dstu2(call):
    inducer = by_topic(dstu2_call(call), "imatinib-strong-cyp3a4-inducer")
    resources = [a["resource"] for s in inducer["suggestions"] for a in s["actions"] if "resource" in a]
    [update] = [r for r in resources if r["resourceType"] == "MedicationOrder"]
    dosage = update["dosageInstruction"][0]
    assert dosage["doseQuantity"]["value"] == 600 and dosage["doseQuantity"]["code"] == "mg"
    # A single DSTU2 `when` only places the dose: it is read, kept, and still one code.
    assert dosage["timing"] == {"repeat": {"frequency": 1, "period": 1, "periodUnits": "d", "when": "CM"}}
    assert update["note"] == "Take with food and a large glass of water."  # DSTU2 note is one string
    assert update["reasonCodeableConcept"] == {"text": "Gastrointestinal stromal tumour"}
    [trough] = [r for r in resources if r["resourceType"] == "DiagnosticOrder"]
    for written in (update, trough):
        assert validation_problems(written, "DSTU2") == [], written["resourceType"]


def test_a_dstu2_statement_recorded_as_not_taken_is_no_inducer(call):
    statement = resource("st-johns-wort-statement-dstu2.json")
    statement["wasNotTaken"] = True
    cards = dstu2_call(call, medicationStatements=bundle(statement))
    assert not [c for c in cards if c["source"]["topic"]["code"] == "imatinib-st-johns-wort"]
