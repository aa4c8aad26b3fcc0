"""The calls the real CDS Hooks sandbox sends, in each of its FHIR modes, get the cards a prescriber needs.

The captured calls are in fixtures/fhir/requests/sandbox/. The DSTU2 ones were sent before the service advertised
`MedicationOrder` templates, so they carry no medication list: exactly what a client whose server cannot answer the
medication search sends. With the DSTU2 templates the sandbox fills `activeMedicationOrders` from its DSTU2 server;
`with_dstu2_orders` adds that key the way the sandbox does (a searchset Bundle of MedicationOrders).
"""

import copy
from typing import Any

import pytest

from cds_service.fhir_validation import emitted_version, validation_problems
from tests.helpers import INCOMPLETE_TOPIC, cards_of, incomplete_check_card, request_fixture

ORDER_TYPE = {"dstu2": "MedicationOrder", "stu3": "MedicationRequest", "r4": "MedicationRequest"}
TROUGH_TYPE = {"dstu2": "DiagnosticOrder", "stu3": "ProcedureRequest", "r4": "ServiceRequest"}


def captured(name: str) -> dict[str, Any]:
    return request_fixture(f"sandbox/{name}.json")


def dstu2_order(patient_id: str, order_id: str, text: str, rxnorm: str, pills: int, written: str) -> dict[str, Any]:
    """An active DSTU2 MedicationOrder as the sandbox's DSTU2 server returns one."""
    return {
        "resourceType": "MedicationOrder",
        "id": order_id,
        "status": "active",
        "patient": {"reference": f"Patient/{patient_id}"},
        "dateWritten": written,
        "medicationCodeableConcept": {
            "text": text,
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm, "display": text}],
        },
        "dosageInstruction": [{
            "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnits": "d"}},
            "doseQuantity": {"value": pills, "system": "http://unitsofmeasure.org", "code": "{pill}"},
        }],
    }


def with_dstu2_orders(body: dict[str, Any], *orders: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(body)
    entries = [{"resource": order, "search": {"mode": "match"}} for order in orders]
    for key in ("activeMedicationOrders", "medicationOrderHistory"):
        body["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries),
                                 "entry": entries}
    return body


def rifampin_for(patient_id: str) -> dict[str, Any]:
    return dstu2_order(patient_id, "rifampin-1", "Rifampin 300 MG Oral Capsule", "198202", 2, "2026-01-10")


def imatinib_for(patient_id: str) -> dict[str, Any]:
    return dstu2_order(patient_id, "imatinib-1", "imatinib 400 MG Oral Tablet", "403879", 1, "2025-06-01")


def imatinib_with_active_rifampin(version: str, hook: str) -> dict[str, Any]:
    body = captured(f"{version}-{hook}-imatinib-patient-on-rifampin")
    return with_dstu2_orders(body, rifampin_for("sbx-rifampin-1")) if version == "dstu2" else body


def emitted(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a["resource"] for s in card.get("suggestions", []) for a in s["actions"] if "resource" in a]


def assert_valid_in_its_version(card: dict[str, Any], version: str) -> None:
    for resource in emitted(card):
        assert emitted_version(resource) == version.upper(), resource["resourceType"]
        assert validation_problems(resource, version.upper()) == [], resource["resourceType"]


CASES = [("dstu2", "order-select"), ("dstu2", "order-sign"), ("stu3", "order-select"), ("stu3", "order-sign"),
         ("r4", "order-select"), ("r4", "order-sign")]


@pytest.mark.parametrize(("version", "hook"), CASES)
def test_imatinib_ordered_with_active_rifampin_gets_the_dose_update_and_trough_order_in_the_version_own_shape(
    call, version, hook
):
    [card] = cards_of(call(imatinib_with_active_rifampin(version, hook)))
    assert card["indicator"] == "warning" and "rifampin" in card["summary"]
    resources = emitted(card)
    update = next(r for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"
                  for r in [a["resource"]])
    assert update["resourceType"] == ORDER_TYPE[version]
    assert update["id"] == ("order-123" if version == "dstu2" else "request-123")
    # The sandbox's 1 x 400 mg tablet becomes 600 mg, written in mg (400 mg tablets cannot make it).
    dosage = update["dosageInstruction"][0]
    quantity = dosage["doseQuantity"] if version != "r4" else dosage["doseAndRate"][0]["doseQuantity"]
    assert (quantity["value"], quantity["code"]) == (600, "mg")
    assert {r["resourceType"] for r in resources} >= {TROUGH_TYPE[version]}
    assert_valid_in_its_version(card, version)
    if version == "dstu2":
        assert "intent" not in update and "category" not in update  # the sandbox's STU3/R4 elements
        assert update["patient"] == {"reference": "Patient/sbx-rifampin-1"} and update["dateWritten"] == "2026-12-01"
        assert dosage["timing"]["repeat"]["periodUnits"] == "d" and "periodUnit" not in dosage["timing"]["repeat"]
    if version == "stu3" and "reasonCode" in update:
        assert isinstance(update["reasonCode"], list)  # one object from the sandbox; an array in STU3


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_dstu2_without_a_medication_list_says_the_interaction_check_is_incomplete(call, hook):
    """The captured DSTU2 calls, as a client whose server cannot answer the medication search sends them."""
    response = call(captured(f"dstu2-{hook}-imatinib-patient-on-rifampin"))
    card = incomplete_check_card(response)
    assert card["summary"] == (
        "Imatinib interaction check incomplete: the active medication list could not be read"
    )
    assert "CYP3A4 inducer" in card["detail"] and "by hand" in card["detail"]


@pytest.mark.parametrize("version", ["stu3", "r4"])
@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_without_the_medication_search_stu3_and_r4_say_so_too(call, version, hook):
    body = imatinib_with_active_rifampin(version, hook)
    del body["prefetch"]["activeMedications"]  # the client's server could not answer it
    # The history still shows the active rifampin order: its card, naming the list it could not read.
    [card] = cards_of(call(body))
    assert "rifampin" in card["summary"] and "Not checked: the active medication list" in card["detail"]
    del body["prefetch"]["medicationHistory"]
    card = incomplete_check_card(call(body))
    assert "the active medication list" in card["summary"]


@pytest.mark.parametrize(("version", "with_list"), [("dstu2", True), ("dstu2", False), ("r4", True), ("r4", False)])
def test_t315i_with_imatinib_gets_the_critical_card_whatever_else_is_missing(call, version, with_list):
    body = captured(f"{version}-order-select-imatinib-patient-with-t315i")
    if with_list and version == "dstu2":
        body = with_dstu2_orders(body)
    if not with_list and version == "r4":
        del body["prefetch"]["activeMedications"]
    cards = cards_of(call(body))
    critical = [c for c in cards if c["indicator"] == "critical"]
    assert len(critical) == 1 and "T315I" in critical[0]["summary"]
    [delete] = [a for s in critical[0]["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert delete["resourceId"] == ("MedicationOrder/order-123" if version == "dstu2" else
                                    "MedicationRequest/request-123")
    incomplete = [c for c in cards if c["source"]["topic"]["code"] == INCOMPLETE_TOPIC]
    assert len(incomplete) == (0 if with_list else 1)


def test_rifampin_ordered_in_dstu2_for_a_patient_on_imatinib_gets_the_inducer_card(call):
    body = with_dstu2_orders(captured("dstu2-order-select-rifampin-patient-on-imatinib"),
                             imatinib_for("sbx-imatinib-1"))
    [card] = cards_of(call(body))
    assert card["indicator"] == "warning" and "rifampin" in card["summary"]
    [delete] = [a for s in card["suggestions"] for a in s["actions"] if a["type"] == "delete"]
    assert delete["resourceId"] == "MedicationOrder/order-123"  # the rifampin draft
    assert_valid_in_its_version(card, "dstu2")


def test_rifampin_ordered_without_a_medication_list_says_imatinib_could_not_be_checked(call):
    card = incomplete_check_card(call(captured("dstu2-order-select-rifampin-patient-on-imatinib")))
    assert "an active imatinib order" in card["detail"]


def test_rifampin_ordered_in_r4_for_a_patient_on_imatinib_gets_the_inducer_card(call):
    body = captured("r4-order-select-rifampin-patient-on-imatinib")
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    # The captured call was sent before a drug was chosen; the sandbox's drug picker then adds this.
    assert cards_of(call(body)) == []
    draft["medicationCodeableConcept"] = {
        "text": "Rifampin 300 MG Oral Capsule",
        "coding": [{"display": "Rifampin 300 MG Oral Capsule", "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                    "code": "198202"}],
    }
    [card] = cards_of(call(body))
    assert "rifampin" in card["summary"] and card["indicator"] == "warning"
    assert_valid_in_its_version(card, "r4")


def test_dstu2_dose_update_that_changes_the_timing_writes_period_units(call):
    """600 mg a day with rifampin becomes 400 mg twice daily: a new Timing, in DSTU2's names."""
    body = imatinib_with_active_rifampin("dstu2", "order-sign")
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft["dosageInstruction"][0]["doseQuantity"] = {"value": 600, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                     "code": "mg"}
    [card] = cards_of(call(body))
    [update] = [a["resource"] for s in card["suggestions"] for a in s["actions"] if a["type"] == "update"]
    assert update["dosageInstruction"][0]["timing"] == {"repeat": {"frequency": 2, "period": 1, "periodUnits": "d"}}
    assert_valid_in_its_version(card, "dstu2")


AFTER_FIX = [(version, scenario, hook) for version in ("dstu2", "stu3", "r4")
             for scenario in ("imatinib-patient-on-rifampin", "imatinib-patient-with-t315i",
                              "rifampin-patient-on-imatinib")
             for hook in ("order-select", "order-sign")]


@pytest.mark.parametrize(("version", "scenario", "hook"), AFTER_FIX)
def test_what_the_sandbox_sends_now_gets_its_card_in_every_mode(call, version, scenario, hook):
    """The real sandbox's calls once discovery offers the DSTU2 templates: every mode gets the same advice."""
    cards = cards_of(call(request_fixture(f"sandbox/after-fix/{version}-{scenario}-{hook}.json")))
    assert not [c for c in cards if c["source"]["topic"]["code"] == INCOMPLETE_TOPIC]
    first = cards[0]
    if scenario == "imatinib-patient-with-t315i":
        assert first["indicator"] == "critical" and "T315I" in first["summary"]
    else:
        assert first["indicator"] == "warning" and "rifampin" in first["summary"]
        assert {r["resourceType"] for r in emitted(first)} >= {TROUGH_TYPE[version]}
    if scenario == "imatinib-patient-on-rifampin":
        [update] = [r for r in emitted(first) if r["resourceType"] == ORDER_TYPE[version]]
        assert update["id"] == ("order-123" if version == "dstu2" else "request-123")
    for card in cards:
        assert_valid_in_its_version(card, version)


@pytest.mark.parametrize(("version", "scenario", "hook"), AFTER_FIX)
def test_what_the_sandbox_sends_when_its_server_cannot_answer_the_medication_search(call, version, scenario, hook):
    """The same calls without the medication lists (a server that answers 404 to the search): never "all clear"."""
    body = request_fixture(f"sandbox/after-fix/{version}-{scenario}-{hook}.json")
    for key in ("activeMedications", "activeMedicationOrders", "medicationHistory", "medicationOrderHistory"):
        body["prefetch"].pop(key, None)
    cards = cards_of(call(body))
    incomplete = [c for c in cards if c["source"]["topic"]["code"] == INCOMPLETE_TOPIC]
    assert len(incomplete) == 1 and "the active medication list" in incomplete[0]["summary"]
    if scenario == "imatinib-patient-with-t315i":  # the variant needs no medication list: its card stays
        assert cards[0]["indicator"] == "critical" and "T315I" in cards[0]["summary"]
    else:  # the other half of the interaction was on the list that could not be read
        assert not [c for c in cards if "rifampin" in c["summary"]]


@pytest.mark.parametrize(("version", "key"), [("dstu2", "medicationAdministrationsDstu2"),
                                              ("r4", "medicationAdministrations")])
def test_the_administrations_arrive_under_the_key_whose_sort_the_version_knows(call, version, key):
    """DSTU2 sorts administrations by `effectivetime`, STU3 and R4 by `effective-time`; a server that checks sort
    names (HAPI) answers 400 to the other, so the sandbox fills only the key its server can answer. Seen in the
    real sandbox's DSTU2 mode: every card said "Not checked: the medication administrations"."""
    body = request_fixture(f"sandbox/after-fix/{version}-imatinib-patient-on-rifampin-order-select.json")
    body["prefetch"]["vitalSigns"] = None
    [without] = [c for c in cards_of(call(copy.deepcopy(body))) if "rifampin" in c["summary"]]
    assert "the medication administrations (not prefetched" in without["detail"]
    body["prefetch"][key] = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    [card] = [c for c in cards_of(call(body)) if "rifampin" in c["summary"]]
    assert "the medication administrations" not in card["detail"]


def test_discovery_offers_the_administrations_search_in_each_versions_sort_name(client):
    services = client.get("/cds-services").json()["services"]
    prefetch = next(s["prefetch"] for s in services if s["hook"] == "order-select")
    assert "_sort=-effective-time" in prefetch["medicationAdministrations"]
    assert "_sort=-effectivetime" in prefetch["medicationAdministrationsDstu2"]
