"""Imatinib with CYP3A4 inducers: detection in both directions, the dose increase, the trough level, the text."""

import copy
from datetime import UTC, datetime, timedelta

import pytest

from cds_service.fhir_validation import emitted_version, validation_problems
from tests.helpers import bundle, cards_of, hook_request, request_fixture, resource, suggestion
from tests.meds import order, statement

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
IMATINIB_DRAFT = "imatinib-400-draft-r4.json"


def imatinib_draft(**dose) -> dict:
    """The R4 imatinib draft with its dose replaced: value, unit, frequency, product code/display."""
    draft = resource(IMATINIB_DRAFT)
    dosage = draft["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"]
    if "value" in dose:
        quantity["value"] = dose["value"]
    if "unit" in dose:
        quantity.update(unit=dose["unit"], code=dose["unit"])
    if "frequency" in dose:
        dosage["timing"]["repeat"]["frequency"] = dose["frequency"]
    if "code" in dose:
        draft["medicationCodeableConcept"] = {
            "text": dose["display"],
            "coding": [{"system": RXNORM, "code": dose["code"], "display": dose["display"]}],
        }
    return draft


def with_active(*resources: dict) -> dict:
    return {"activeMedications": bundle(*resources)}


def only_card(response) -> dict:
    cards = cards_of(response)
    assert len(cards) == 1, [c["summary"] for c in cards]
    return cards[0]


def rifampin_card(call, draft: dict) -> dict:
    """The one card for signing `draft` while rifampin is active: the set-up of every dose-reading test."""
    return only_card(
        call(hook_request("order-sign", [draft], prefetch=with_active(resource("rifampin-active-r4.json"))))
    )


def updated_order(card: dict) -> dict:
    action = suggestion(card, "Increase imatinib")["actions"][0]
    assert action["type"] == "update"
    return action["resource"]


def daily_mg(order: dict, strength_by_code: dict[str, int]) -> float:
    dosage = order["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"] if "doseAndRate" in dosage else dosage["doseQuantity"]
    frequency = dosage["timing"]["repeat"]["frequency"]
    if quantity.get("code") == "mg" or quantity.get("unit") == "mg":
        return quantity["value"] * frequency
    code = order["medicationCodeableConcept"]["coding"][0]["code"]
    return quantity["value"] * strength_by_code[code] * frequency


STRENGTH = {"403878": 100, "403879": 400, "404588": 100, "404589": 400}


# --- detection -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "status"),
    [("activeMedications", "active"), ("activeMedications", "on-hold")],
)
def test_imatinib_draft_with_an_active_or_on_hold_inducer_order_warns(call, where, status):
    rifampin = resource("rifampin-active-r4.json")
    rifampin["status"] = status
    card = only_card(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch={where: bundle(rifampin)})))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Imatinib + rifampin")


def test_imatinib_and_inducer_both_being_ordered_warns_and_offers_removing_the_inducer(call):
    drafts = [resource(IMATINIB_DRAFT), resource("rifampin-draft-r4.json")]
    card = only_card(call(hook_request("order-sign", drafts)))
    removal = suggestion(card, "Remove the Rifampin")["actions"][0]
    assert removal == {
        "type": "delete",
        "description": removal["description"],
        "resourceId": "MedicationRequest/rifampin-draft",
    }
    assert suggestion(card, "Increase imatinib")


def test_inducer_in_an_active_medication_statement_counts(call):
    statement = {
        "resourceType": "MedicationStatement",
        "id": "cbz",
        "status": "active",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "308979", "display": "Carbamazepine 200 MG Oral Tablet"}]
        },
        "subject": {"reference": "Patient/pt-cml-1"},
    }
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch={"medicationStatements": bundle(statement)})
    assert "carbamazepine" in only_card(call(body))["summary"]


@pytest.mark.parametrize("status", ["stopped", "completed", "cancelled", "entered-in-error", "expired"])
def test_inducer_orders_that_ended_do_not_count(call, status):
    rifampin = resource("rifampin-active-r4.json")
    rifampin["status"] = status
    assert cards_of(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(rifampin)))) == []


def test_a_stopped_medication_statement_does_not_count(call):
    statement = resource("st-johns-wort-statement-r4.json")
    statement["status"] = "stopped"
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch={"medicationStatements": bundle(statement)})
    assert cards_of(call(body)) == []


@pytest.mark.parametrize(
    ("hook", "draft", "statement"),
    [
        ("order-sign", "imatinib-400-draft-stu3.json", "carbamazepine-statement-not-taken-stu3.json"),
        ("medication-prescribe", "imatinib-400-draft-dstu2.json", "carbamazepine-statement-not-taken-dstu2.json"),
    ],
)
def test_an_inducer_recorded_as_not_taken_does_not_count(call, hook, draft, statement):
    # STU3 says so with taken "n", DSTU2 with wasNotTaken; both keep status "active".
    body = hook_request(hook, [resource(draft)], prefetch={"medicationStatements": bundle(resource(statement))})
    assert cards_of(call(body)) == []


def test_an_inducer_statement_taken_unknown_still_counts(call):
    statement = resource("carbamazepine-statement-not-taken-stu3.json")
    statement["taken"] = "unk"
    body = hook_request(
        "order-sign", [resource("imatinib-400-draft-stu3.json")], prefetch={"medicationStatements": bundle(statement)}
    )
    assert "carbamazepine" in only_card(call(body))["summary"]


def test_inducer_ordered_for_a_patient_on_imatinib_offers_removal_or_a_trough(call):
    card = only_card(call(request_fixture("order-select-rifampin-for-patient-on-imatinib.json")))
    assert card["summary"].startswith("Imatinib + rifampin")
    remove = suggestion(card, "Remove the Rifampin")["actions"][0]
    assert remove["type"] == "delete" and remove["resourceId"] == "MedicationRequest/rifampin-draft"
    keep = suggestion(card, "Keep rifampin and order an imatinib trough level")["actions"][0]
    assert keep["type"] == "create" and keep["resource"]["resourceType"] == "ServiceRequest"
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]
    # The imatinib dose advice is in the text: 400 mg/day today, 600 mg/day with the inducer.
    assert "Current imatinib dose 400 mg/day" in card["detail"]
    assert "600 mg once daily" in card["detail"]
    # No button can change the active imatinib order, so the text says where the change is made.
    assert "The imatinib order is not the one being written: change its dose there." in card["detail"]


def test_imatinib_recorded_as_taken_says_the_dose_is_changed_with_its_prescriber(call):
    taken = statement("R4", "ima", "imatinib 400 mg tablet")
    taken["dosage"] = [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                        "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "mg"}}]}]
    body = hook_request("order-sign", [resource("rifampin-draft-r4.json")], prefetch={
        "medicationStatements": bundle(taken)})
    card = only_card(call(body))
    assert "Imatinib is not being ordered here: change its dose with its prescriber." in card["detail"]
    assert not [s for s in card.get("suggestions") or [] if s["label"].startswith("Increase")]


STATEMENT_DOSAGE = {  # 400 mg once daily as each version writes a MedicationStatement's dosage
    "DSTU2": {"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnits": "d"}},
              "quantityQuantity": {"value": 400, "unit": "mg"}},
    "STU3": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
              "doseQuantity": {"value": 400, "unit": "mg"}}],
    "R4": [{"timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 400, "unit": "mg"}}]}],
}


@pytest.mark.parametrize("version", ["DSTU2", "STU3", "R4"])
def test_the_dose_of_imatinib_recorded_as_taken_is_read_in_every_version(call, version):
    taken = statement(version, "ima", "imatinib 400 mg tablet")
    taken["dosage"] = STATEMENT_DOSAGE[version]
    body = hook_request("order-sign", [order(version, "rif", "rifampin 300 mg capsule", status="draft", mg=600)],
                        prefetch={"medicationStatements": bundle(taken)})
    card = only_card(call(body))
    assert "Current imatinib dose 400 mg/day" in card["detail"]
    assert "**600 mg once daily" in card["detail"]


def test_inducer_ordered_without_imatinib_anywhere_gives_no_card(call):
    assert cards_of(call(hook_request("order-select", [resource("rifampin-draft-r4.json")]))) == []


def test_imatinib_without_any_inducer_gives_no_card(call):
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch=with_active(resource("dexamethasone-eye-drops-active-r4.json")),
    )
    assert cards_of(call(body)) == []


@pytest.mark.parametrize(
    "concept",
    [
        {"text": "Dexamethasone 0.1 % ophthalmic suspension"},
        {"text": "Carbamazepine cream 2 %"},
        {"text": "Phenytoin 5% topical ointment"},
    ],
)
def test_non_systemic_forms_of_an_inducer_do_not_induce(call, concept):
    order = resource("rifampin-active-r4.json")
    order["medicationCodeableConcept"] = concept
    assert cards_of(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order)))) == []


def test_ophthalmic_route_alone_makes_an_inducer_non_systemic(call):
    order = resource("dexamethasone-oral-active-r4.json")
    order["dosageInstruction"][0]["route"] = {"text": "Ophthalmic"}
    assert cards_of(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order)))) == []


def test_multi_ingredient_product_with_rifampin_is_recognised(call):
    order = resource("rifampin-active-r4.json")
    order["medicationCodeableConcept"] = {
        "coding": [{"system": RXNORM, "code": "198203", "display": "isoniazid 150 MG / Rifampin 300 MG Oral Capsule"}]
    }
    card = only_card(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order))))
    assert "rifampin" in card["summary"]
    assert "recognised by its name" not in card["detail"]


@pytest.mark.parametrize("text", ["Tegretol XR 200mg", "CARBAMAZEPINE 100 mg chewable"])
def test_inducer_known_only_by_brand_or_name_is_recognised_and_the_card_says_so(call, text):
    order = resource("carbamazepine-active-r4.json")
    order["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": "99999999", "display": text}]}
    card = only_card(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order))))
    assert "carbamazepine" in card["summary"]
    assert "recognised by its name" in card["detail"]


def test_imatinib_recognised_by_atc_code(call):
    draft = resource(IMATINIB_DRAFT)
    draft["medicationCodeableConcept"] = {
        "coding": [{"system": "http://www.whocc.no/atc", "code": "L01EA01"}],
        "text": "Imatinib 400 mg",
    }
    body = hook_request("order-sign", [draft], prefetch=with_active(resource("rifampin-active-r4.json")))
    assert only_card(call(body))["summary"].startswith("Imatinib + rifampin")


def test_words_inside_other_words_are_not_matched(call):
    order = resource("rifampin-active-r4.json")
    order["medicationCodeableConcept"] = {"text": "Xrifampinol 10 mg"}
    assert cards_of(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order)))) == []


# --- moderate inducers and St John's wort ---------------------------------------------------------------------


def test_moderate_inducer_gets_an_info_card_with_a_trough_and_no_dose_change(call):
    body = hook_request(
        "order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(resource("dexamethasone-oral-active-r4.json"))
    )
    card = only_card(call(body))
    assert card["indicator"] == "info"
    assert "dexamethasone" in card["summary"]
    assert [a["type"] for s in card["suggestions"] for a in s["actions"]] == ["create"]
    assert "no dose change" in card["detail"]


def test_st_johns_wort_says_stop_it_not_raise_the_dose(call):
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch={"medicationStatements": bundle(resource("st-johns-wort-statement-r4.json"))},
    )
    card = only_card(call(body))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("Stop St John's wort")
    assert "Do not raise the imatinib dose" in card["detail"]
    assert not card.get("suggestions")  # a statement cannot be deleted; the text says to record it as stopped
    assert "record it as stopped" in card["detail"]


def test_st_johns_wort_being_ordered_can_be_removed(call):
    sjw = {
        "resourceType": "MedicationRequest",
        "id": "sjw",
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": "200145", "display": "ST. JOHN'S WORT EXTRACT 300 MG Oral Capsule"}]
        },
    }
    body = hook_request("order-select", [sjw], prefetch=with_active(resource("imatinib-400-active-r4.json")))
    card = only_card(call(body))
    assert card["summary"].startswith("Stop St John's wort")
    assert card["suggestions"][0]["actions"][0] == {
        "type": "delete",
        "description": card["suggestions"][0]["actions"][0]["description"],
        "resourceId": "MedicationRequest/sjw",
    }


# --- the dose increase -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dose", "expected_daily"),
    [
        ({"value": 400, "unit": "mg"}, 600),
        ({"value": 300, "unit": "mg"}, 500),
        ({"value": 200, "unit": "mg", "frequency": 2}, 600),
        ({"value": 600, "unit": "mg"}, 800),  # 900 would exceed the 800 mg/day cap
        ({"value": 1, "unit": "{tbl}", "code": "403879", "display": "imatinib 400 MG Oral Tablet"}, 600),
        ({"value": 4, "unit": "{pill}", "code": "403878", "display": "imatinib 100 MG Oral Tablet"}, 600),
        ({"value": 1, "unit": "tablet", "code": "404588", "display": "imatinib 100 MG Oral Tablet [Gleevec]"}, 200),
    ],
)
def test_dose_increase_is_at_least_half_again_in_whole_tablets_and_never_above_800(call, dose, expected_daily):
    draft = imatinib_draft(**dose)
    before = copy.deepcopy(draft)
    card = rifampin_card(call, draft)
    order = updated_order(card)
    old_daily = daily_mg(before, STRENGTH)
    new_daily = daily_mg(order, STRENGTH)
    assert new_daily == expected_daily
    assert new_daily <= 800
    assert new_daily >= 1.5 * old_daily or new_daily == 800
    assert new_daily % 100 == 0
    quantity = order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert quantity["value"] == int(quantity["value"])  # whole tablets, or whole-tablet mg amounts


def test_dose_update_keeps_every_other_field_of_the_draft(call):
    draft = resource(IMATINIB_DRAFT)
    draft["note"] = [{"text": "take with a large glass of water"}]
    draft["dispenseRequest"] = {"numberOfRepeatsAllowed": 2}
    card = rifampin_card(call, draft)
    order = updated_order(card)
    for field in (
        "id",
        "status",
        "intent",
        "subject",
        "authoredOn",
        "note",
        "dispenseRequest",
        "medicationCodeableConcept",
    ):
        assert order[field] == draft[field], field
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 600


def test_800_mg_a_day_is_written_as_400_mg_twice_daily(call):
    draft = imatinib_draft(value=600, unit="mg")
    card = rifampin_card(call, draft)
    dosage = updated_order(card)["dosageInstruction"][0]
    assert dosage["timing"]["repeat"] == {"frequency": 2, "period": 1, "periodUnit": "d"}
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 400
    assert "Capped at 800 mg/day" in card["detail"]


def test_tablet_count_the_product_cannot_make_is_written_in_mg_keeping_the_product(call):
    # Changing the product would be unsafe: the sandbox applies only the medication of an update and keeps its own
    # tablet count, so "6 x 100 mg" would become "1 x 100 mg".
    draft = imatinib_draft(value=1, unit="{tbl}", code="403879", display="imatinib 400 MG Oral Tablet")
    card = rifampin_card(call, draft)
    order = updated_order(card)
    assert order["medicationCodeableConcept"] == draft["medicationCodeableConcept"]
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] == {
        "value": 600,
        "unit": "mg",
        "system": "http://unitsofmeasure.org",
        "code": "mg",
    }
    assert "1 x 400 mg + 2 x 100 mg tablets" in order["dosageInstruction"][0]["text"]


def test_tablet_count_the_product_can_make_stays_a_tablet_count_and_the_text_matches(call):
    draft = imatinib_draft(value=4, unit="{pill}", code="403878", display="imatinib 100 MG Oral Tablet")
    card = rifampin_card(call, draft)
    order = updated_order(card)
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 6
    assert "6 x 100 mg tablets" in order["dosageInstruction"][0]["text"]
    assert "6 x 100 mg tablets" in card["detail"]


def test_no_dose_suggestion_at_the_maximum_and_the_card_leans_on_the_trough(call):
    draft = imatinib_draft(value=400, unit="mg", frequency=2)
    card = rifampin_card(call, draft)
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]
    assert "already at the 800 mg/day maximum" in card["detail"]
    assert suggestion(card, "Order an imatinib trough level")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["dosageInstruction"][0].pop("timing"), "frequency could not be read"),
        (lambda d: d["dosageInstruction"][0].pop("doseAndRate"), "no single dose quantity"),
        (lambda d: d.pop("dosageInstruction"), "no dosage instructions"),
        (
            lambda d: d["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(unit="mL", code="mL"),
            "neither mg nor a tablet count",
        ),
    ],
)
def test_unreadable_dose_gives_no_dose_suggestion_and_says_why(call, change, reason):
    draft = resource(IMATINIB_DRAFT)
    change(draft)
    card = rifampin_card(call, draft)
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]
    assert reason in card["detail"]


@pytest.mark.parametrize(
    "repeat",
    [
        # 400 mg at 08:00 and 20:00 is 800 mg/day: read as once daily, the kept times made "600 mg" 1200 mg/day.
        {"frequency": 1, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00", "20:00:00"]},
        {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN", "EVE"]},
        {"frequency": 1, "frequencyMax": 2, "period": 1, "periodUnit": "d"},
        {"frequency": 1, "period": 1, "periodMax": 2, "periodUnit": "d"},
        {"frequency": 1, "period": 1, "periodUnit": "d", "dayOfWeek": ["mon", "wed", "fri"]},
    ],
)
def test_schedule_the_reader_cannot_count_gives_no_dose_update(call, repeat):
    draft = resource(IMATINIB_DRAFT)
    draft["dosageInstruction"][0]["timing"] = {"repeat": repeat}
    card = rifampin_card(call, draft)
    assert not [s for s in card["suggestions"] if s["label"].startswith("Increase")]
    assert "frequency could not be read" in card["detail"]
    assert suggestion(card, "Order an imatinib trough level")


@pytest.mark.parametrize(
    "repeat",
    [
        {"frequency": 1, "period": 1, "periodUnit": "d", "timeOfDay": ["08:00:00"]},
        {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["MORN"]},
    ],
)
def test_once_daily_at_one_time_of_day_still_gets_the_dose_update(call, repeat):
    draft = resource(IMATINIB_DRAFT)
    draft["dosageInstruction"][0]["timing"] = {"repeat": repeat}
    card = rifampin_card(call, draft)
    order = updated_order(card)
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 600
    assert order["dosageInstruction"][0]["timing"]["repeat"] == repeat  # still once a day, at that time


def test_tablet_count_of_an_unknown_product_strength_gives_no_dose_suggestion(call):
    draft = imatinib_draft(value=1, unit="{tbl}")
    draft["medicationCodeableConcept"] = {"text": "Imatinib tablets"}
    card = rifampin_card(call, draft)
    assert "tablet strength is not known" in card["detail"]


def test_sandbox_pill_count_dose_becomes_six_100_mg_pills(call):
    card = only_card(call(request_fixture("order-select-sandbox-imatinib-with-rifampin.json")))
    order = updated_order(card)
    assert order["id"] == "request-123"
    assert order["medicationCodeableConcept"]["text"] and order["medicationCodeableConcept"]["coding"][0]["code"]
    assert order["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 6
    assert isinstance(order["category"], list)  # the sandbox's single category object is repaired for R4


def test_stu3_dose_update_keeps_the_stu3_dose_structure(call):
    card = only_card(call(request_fixture("medication-prescribe-stu3-bundle.json")))
    dosage = updated_order(card)["dosageInstruction"][0]
    assert "doseAndRate" not in dosage
    assert dosage["doseQuantity"] == {"value": 600, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    trough = suggestion(card, "Order an imatinib trough level")["actions"][0]["resource"]
    assert trough["resourceType"] == "ProcedureRequest"


def test_dstu2_dose_update_is_a_medication_order(call):
    card = only_card(call(request_fixture("medication-prescribe-dstu2-legacy-array.json")))
    order = updated_order(card)
    assert order["resourceType"] == "MedicationOrder" and order["id"] == "order-123"
    assert order["dosageInstruction"][0]["doseQuantity"]["value"] == 600
    trough = suggestion(card, "Order an imatinib trough level")["actions"][0]["resource"]
    assert trough["resourceType"] == "DiagnosticOrder"
    assert trough["item"][0]["code"]["coding"][0]["code"] == "57844-3"


# --- the trough level ------------------------------------------------------------------------------------------


def test_trough_order_is_for_this_patient_with_loinc_and_steady_state_timing(call):
    card = only_card(call(request_fixture("order-sign-imatinib-with-carbamazepine.json")))
    order = suggestion(card, "Order an imatinib trough level")["actions"][0]["resource"]
    assert order["resourceType"] == "ServiceRequest"
    assert order["subject"] == {"reference": "Patient/pt-cml-1"}
    assert order["code"]["coding"][0] == {"system": "http://loinc.org", "code": "57844-3"}
    # No imatinib on record: a new start, sampled after 29 days of uninterrupted therapy (ARUP), not at 14 days.
    expected = (datetime.now(UTC).date() + timedelta(days=29)).isoformat()
    assert order["occurrenceDateTime"] == expected
    assert "just before the next dose" in order["note"][0]["text"]
    assert "1000 ng/mL" in order["note"][0]["text"]


def test_latest_trough_below_the_cml_target_makes_the_card_critical(call):
    card = only_card(call(request_fixture("order-sign-imatinib-with-carbamazepine.json")))
    assert card["indicator"] == "critical"
    assert "Latest imatinib level: **640 ng/mL** on 2026-10-20, below the 1000 ng/mL target" in card["detail"]


@pytest.mark.parametrize(
    ("condition", "indicator"), [("condition-cml-chronic-r4.json", "warning"), ("condition-gist-r4.json", "critical")]
)
def test_a_1050_ng_ml_trough_is_enough_for_cml_but_not_for_gist(call, condition, indicator):
    level = resource("imatinib-trough-low-r4.json")
    level["valueQuantity"]["value"] = 1050
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch={
            "activeMedications": bundle(resource("rifampin-active-r4.json")),
            "conditions": bundle(resource(condition)),
            "labResults": bundle(level),
        },
    )
    assert only_card(call(body))["indicator"] == indicator


def test_latest_of_several_troughs_is_the_one_shown(call):
    old = resource("imatinib-trough-low-r4.json")
    new = copy.deepcopy(old)
    new.update(id="trough-2", effectiveDateTime="2026-11-15T08:00:00Z")
    new["valueQuantity"].update(value=1.2, unit="mg/L", code="mg/L")
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json")), "labResults": bundle(old, new)},
    )
    card = only_card(call(body))
    assert "**1200 ng/mL** on 2026-11-15" in card["detail"]
    assert card["indicator"] == "warning"


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (900, "\u00b5g/L", "900"),  # micro sign
        (900, "\u03bcg/L", "900"),  # Greek small mu, as often typed
        (1.5, "\u03bcmol/L", "740.4"),  # 493.6 g/mol
        (0.9, "mg/L", "900"),
        (2.0, "umol/L", "987.2"),
    ],
)
def test_trough_in_any_mass_or_molar_unit_is_read_in_ng_ml(call, value, unit, shown):
    level = resource("imatinib-trough-low-r4.json")
    level["valueQuantity"] = {"value": value, "unit": unit}
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json")), "labResults": bundle(level)},
    )
    card = only_card(call(body))
    assert f"Latest imatinib level: **{shown} ng/mL**" in card["detail"]
    assert card["indicator"] == "critical"


def test_preliminary_trough_is_not_used(call):
    level = resource("imatinib-trough-low-r4.json")
    level["status"] = "preliminary"
    body = hook_request(
        "order-sign",
        [resource(IMATINIB_DRAFT)],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json")), "labResults": bundle(level)},
    )
    card = only_card(call(body))
    assert "Latest imatinib level" not in card["detail"]
    assert card["indicator"] == "warning"


def test_unknown_indication_states_both_targets(call):
    body = hook_request(
        "order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(resource("rifampin-active-r4.json"))
    )
    detail = only_card(call(body))["detail"]
    assert "1000 ng/mL for CML, 1100 ng/mL for GIST" in detail


# --- the card itself ------------------------------------------------------------------------------------------


def test_card_meets_the_spec_and_carries_evidence_source_and_version(call, knowledge):
    card = only_card(call(request_fixture("order-sign-imatinib-with-carbamazepine.json")))
    assert len(card["summary"]) < 140
    assert "carbamazepine" in card["summary"].lower() and "imatinib" in card["summary"].lower()
    assert card["uuid"] and all(s["uuid"] for s in card["suggestions"])
    assert card["selectionBehavior"] == "any"
    assert card["source"]["label"].endswith(f"(knowledge base {knowledge.version})")
    assert card["source"]["topic"]["system"] and card["source"]["topic"]["code"]
    assert "AUC -73 %" in card["detail"]  # the one line of why; every source is on the evidence page it links
    assert any(link["url"].endswith("/evidence/imatinib-strong-cyp3a4-inducer") for link in card["links"])
    assert f"Knowledge base {knowledge.version}" in card["detail"]
    reasons = card["overrideReasons"]
    assert {"short-inducer-course", "dose-already-adjusted", "level-already-planned"} <= {r["code"] for r in reasons}
    assert all(r["system"] and r["display"] for r in reasons)


def test_drug_names_from_the_request_cannot_inject_markup(call):
    order = resource("rifampin-active-r4.json")
    order["medicationCodeableConcept"]["text"] = "<img src=x onerror=alert(1)> rifampin"
    card = only_card(call(hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch=with_active(order))))
    assert "<img" not in card["detail"]


REQUESTS = [
    "order-select-sandbox-imatinib-with-rifampin.json",
    "order-sign-imatinib-with-carbamazepine.json",
    "order-select-rifampin-for-patient-on-imatinib.json",
    "medication-prescribe-dstu2-legacy-array.json",
    "medication-prescribe-stu3-bundle.json",
]


@pytest.mark.parametrize("name", REQUESTS)
def test_every_suggested_resource_validates_as_fhir(call, name):
    card = only_card(call(request_fixture(name)))
    resources = [a["resource"] for s in card["suggestions"] for a in s["actions"] if "resource" in a]
    assert resources
    for emitted in resources:
        assert validation_problems(emitted, emitted_version(emitted)) == [], emitted["resourceType"]


def test_strict_mode_drops_a_suggestion_whose_resource_is_invalid(knowledge, tmp_path):
    from fastapi.testclient import TestClient

    from cds_service.app import create_app
    from cds_service.settings import Settings

    draft = resource(IMATINIB_DRAFT)
    draft["authoredOn"] = "last tuesday"  # kept as-is in the update, so the update is invalid R4
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", strict_fhir=True)
    with TestClient(create_app(settings, knowledge)) as strict:
        body = hook_request("order-sign", [draft], prefetch=with_active(resource("rifampin-active-r4.json")))
        card = only_card(strict.post("/cds-services/imatinib-order-sign", json=body))
    assert [s["label"] for s in card["suggestions"]] == ["Order an imatinib trough level"]


# --- every hook, every FHIR version --------------------------------------------------------------------------

HOOKS = ["order-select", "order-sign", "medication-prescribe"]
VERSIONS = {
    "DSTU2": ("imatinib-400-draft-dstu2.json", "rifampin-active-dstu2.json", "MedicationOrder", "DiagnosticOrder"),
    "STU3": ("imatinib-400-draft-stu3.json", "rifampin-active-stu3.json", "MedicationRequest", "ProcedureRequest"),
    "R4": ("imatinib-400-draft-r4.json", "rifampin-active-r4.json", "MedicationRequest", "ServiceRequest"),
}


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_and_fhir_version_gets_a_valid_dose_update_and_trough_order(call, hook, version):
    draft_file, inducer_file, order_type, trough_type = VERSIONS[version]
    body = hook_request(hook, [resource(draft_file)], prefetch=with_active(resource(inducer_file)))
    card = only_card(call(body))
    assert card["summary"].startswith("Imatinib + rifampin")
    order = updated_order(card)
    assert order["resourceType"] == order_type
    dosage = order["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"] if version == "R4" else dosage["doseQuantity"]
    assert quantity["value"] == 600
    trough = suggestion(card, "Order an imatinib trough level")["actions"][0]["resource"]
    assert trough["resourceType"] == trough_type
    for emitted in (order, trough):
        assert validation_problems(emitted, version) == []


@pytest.mark.parametrize("version", list(VERSIONS))
@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_and_fhir_version_ignores_a_stopped_inducer(call, hook, version):
    draft_file, inducer_file, _, _ = VERSIONS[version]
    stopped = resource(inducer_file)
    stopped["status"] = "stopped"
    assert cards_of(call(hook_request(hook, [resource(draft_file)], prefetch=with_active(stopped)))) == []


def test_one_order_of_two_inducing_ingredients_is_removed_once(call):
    """A phenobarbital / phenytoin capsule ordered for a patient on imatinib: one order, one 'Remove' suggestion
    (there was one per inducing ingredient)."""
    draft = order("R4", "pb-pht", "Phenobarbital 30 MG / Phenytoin sodium 100 MG Oral Capsule", status="draft",
                  mg=100, code="855922")
    body = hook_request("order-sign", [draft], prefetch=with_active(resource("imatinib-400-active-r4.json")))
    card = only_card(call(body))
    assert "phenobarbital + phenytoin" in card["summary"]
    removals = [s["label"] for s in card["suggestions"] if s["label"].startswith("Remove")]
    assert removals == ["Remove the Phenobarbital 30 MG / Phenytoin sodium 100 MG Oral Capsule order"]
