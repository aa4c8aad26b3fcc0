"""Prefetch read exactly as the spec says, the rest fetched from fhirServer with the caller's token."""

import logging

import httpx
import pytest
import respx

from cds_service.gather.prefetch import PREFETCH_QUERIES
from tests.helpers import bundle, cards_of, hook_request, incomplete_check_card, request_fixture, resource

FHIR = "https://ehr.example.org/fhir"
TOKEN = "SECRET-ACCESS-TOKEN-abc123"


def with_server(body: dict) -> dict:
    body["fhirServer"] = FHIR
    body["fhirAuthorization"] = {
        "access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
        "scope": "patient/*.read", "subject": "imatinib-cds", "patient": "pt-cml-1",
    }
    return body


def mock_searches(router: respx.MockRouter, medications: dict | None = None, **others: dict) -> None:
    empty = bundle()
    router.get(f"{FHIR}/Patient/pt-cml-1").respond(json=resource("patient-cml-1.json"))
    router.get(f"{FHIR}/MedicationRequest", params={"status": "active,on-hold"}).respond(json=medications or empty)
    router.get(f"{FHIR}/MedicationRequest", params={"_sort": "-authoredon"}).respond(json=others.get("history", empty))
    router.get(f"{FHIR}/MedicationStatement").respond(json=others.get("statements", empty))
    router.get(f"{FHIR}/Condition").respond(json=others.get("conditions", empty))
    router.get(f"{FHIR}/Observation").respond(json=others.get("labs", empty))
    router.get(f"{FHIR}/MedicationAdministration").respond(json=others.get("administrations", empty))


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_missing_prefetch_is_fetched_with_the_bearer_token(respx_mock, call):
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    response = call(request_fixture("order-sign-no-prefetch.json"))
    assert "rifampin" in cards_of(response)[0]["summary"]
    sent = [c.request for c in respx_mock.calls]
    assert len(sent) == len(PREFETCH_QUERIES)  # every key fetched, each once
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in sent)


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_prefetched_keys_are_not_fetched_again(respx_mock, call):
    route = respx_mock.get(f"{FHIR}/MedicationRequest").respond(json=bundle())
    other = respx_mock.route(host="ehr.example.org").respond(json=bundle())
    body = with_server(hook_request(
        "order-sign", [resource("imatinib-400-draft-r4.json")],
        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))},
    ))
    assert len(cards_of(call(body))) == 1
    assert not route.called and not other.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_null_prefetch_means_no_data_and_is_not_refetched(respx_mock, call):
    any_call = respx_mock.route(host="ehr.example.org").respond(json=bundle())
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")]))
    assert cards_of(call(body)) == []
    assert not any_call.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_operation_outcome_in_prefetch_is_fetched_instead(respx_mock, call):
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    outcome = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": outcome}))
    assert "rifampin" in cards_of(call(body))[0]["summary"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_paginated_prefetch_is_followed_to_the_end(respx_mock, call):
    page2 = f"{FHIR}/MedicationRequest?page=2"
    respx_mock.get(page2).respond(json=bundle(resource("rifampin-active-r4.json")))
    first_page = bundle(resource("dexamethasone-eye-drops-active-r4.json"), next_url=page2)
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": first_page}))
    assert "rifampin" in cards_of(call(body))[0]["summary"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_next_link_to_another_host_is_not_followed_and_the_token_not_sent(respx_mock, call):
    evil = respx_mock.get("https://evil.example.com/steal").respond(json=bundle())
    first_page = bundle(resource("rifampin-active-r4.json"), next_url="https://evil.example.com/steal")
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": first_page}))
    [card] = cards_of(call(body))
    assert not evil.called
    # The first page still counts: its rifampin gets its card, which says the rest of the list was not read.
    assert "rifampin" in card["summary"]
    assert "Not checked: the active medication list" in card["detail"] and "another server" in card["detail"]


def test_paginated_prefetch_without_a_server_is_not_taken_as_complete(call):
    first_page = bundle(resource("dexamethasone-eye-drops-active-r4.json"), next_url=f"{FHIR}/MedicationRequest?p=2")
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": first_page})
    card = incomplete_check_card(call(body))
    assert card["indicator"] == "info"
    assert "the active medication list (only the first page was prefetched" in card["detail"]


def test_medication_list_missing_without_a_server_is_an_incomplete_check_card_not_a_412(call):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch=False)
    card = incomplete_check_card(call(body))
    assert card["summary"].startswith("Imatinib interaction check incomplete: the active medication list")
    assert "not prefetched and no fhirServer was given" in card["detail"]
    assert "CYP3A4 inducer" in card["detail"]  # what the gap could hide


def test_optional_data_missing_still_gives_cards_and_says_what_was_not_checked(call):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    del body["prefetch"]["medicationStatements"]
    card = cards_of(call(body))[0]
    assert "Not checked: the medicines recorded as taken (medication statements)" in card["detail"]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(401),
        httpx.Response(403),
        httpx.Response(404),
        httpx.Response(500),
        httpx.Response(200, content=b"<html>not json</html>"),
    ],
    ids=["refused", "timeout", "401", "403", "404", "500", "not-json"],
)
@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_fhir_server_fault_on_the_medication_list_is_named_in_a_card(respx_mock, call, failure):
    mock_searches(respx_mock)
    route = respx_mock.get(f"{FHIR}/MedicationRequest", params={"status": "active,on-hold"})
    if isinstance(failure, Exception):
        route.side_effect = failure
    else:
        route.return_value = failure
    card = incomplete_check_card(call(request_fixture("order-sign-no-prefetch.json")))
    assert "the active medication list" in card["summary"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_fault_on_optional_data_still_answers_with_cards(respx_mock, call):
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    respx_mock.get(f"{FHIR}/Condition").respond(500)
    response = call(request_fixture("order-sign-no-prefetch.json"))
    card = cards_of(response)[0]
    assert "Not checked: the patient's conditions (the FHIR server answered HTTP 500)" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_slow_fhir_server_is_cut_off_by_the_time_budget(respx_mock, call, settings):
    import asyncio

    async def slow(_request):
        await asyncio.sleep(5)
        return httpx.Response(200, json=bundle())

    mock_searches(respx_mock)
    respx_mock.get(f"{FHIR}/MedicationRequest", params={"status": "active,on-hold"}).mock(side_effect=slow)
    card = incomplete_check_card(call(request_fixture("order-sign-no-prefetch.json")))
    assert "the active medication list (the FHIR server did not answer within the time budget)" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_dstu2_drafts_fetch_medication_orders(respx_mock, call):
    orders = respx_mock.get(f"{FHIR}/MedicationOrder", params={"status": "active,on-hold"}).respond(json=bundle())
    respx_mock.route(host="ehr.example.org").respond(json=bundle())
    body = with_server(request_fixture("medication-prescribe-dstu2-legacy-array.json"))
    del body["prefetch"]
    assert call(body).status_code == 200
    assert orders.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_medication_reference_is_fetched_from_the_server(respx_mock, call):
    rifampin = resource("rifampin-active-r4.json")
    concept = rifampin.pop("medicationCodeableConcept")
    rifampin["medicationReference"] = {"reference": "Medication/rif-9"}
    medication = respx_mock.get(f"{FHIR}/Medication/rif-9").respond(
        json={"resourceType": "Medication", "id": "rif-9", "code": concept}
    )
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": bundle(rifampin)}))
    assert "rifampin" in cards_of(call(body))[0]["summary"]
    assert medication.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_context_values_are_percent_encoded_into_the_queries_the_service_makes(respx_mock, call):
    # Filled in raw, "#" cut the query short (another patient's id), "?" and "&" added parameters, and "../" took
    # the bearer token to paths outside the allow-listed fhirServer.
    respx_mock.route(host="ehr.example.org").respond(json=bundle())
    patient_id = "a#b/../../c?x&y"
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], patient_id=patient_id,
                                    prefetch=False))
    call(body)
    urls = [c.request.url for c in respx_mock.calls]
    assert len(urls) == len(PREFETCH_QUERIES)
    assert all(url.raw_path.startswith(b"/fhir/") for url in urls)
    assert b"/fhir/Patient/a%23b%2F..%2F..%2Fc%3Fx%26y" in [url.raw_path for url in urls]
    searches = [url for url in urls if url.query]
    assert searches and all(url.params["patient"] == patient_id for url in searches)
    assert {url.params.get("status") for url in searches} >= {"active,on-hold"}


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_fhir_server_without_fhir_authorization_is_read_without_a_token(respx_mock, call):
    # The sandbox on an open FHIR server sends fhirServer alone (CDS Hooks 2.0: fhirAuthorization is omitted when
    # the client lends no token); the service still fetches what was not prefetched, and sends no Authorization.
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch=False,
                        fhirServer=FHIR)
    assert "rifampin" in cards_of(call(body))[0]["summary"]
    sent = [c.request for c in respx_mock.calls]
    assert sent and all("Authorization" not in r.headers for r in sent)


def _draft_by_reference() -> dict:
    draft = resource("imatinib-400-draft-r4.json")
    del draft["medicationCodeableConcept"]
    draft["medicationReference"] = {"reference": "Medication/med-unknown"}
    return draft


def test_an_order_whose_medication_cannot_be_read_is_the_one_412_and_it_is_logged(call, caplog):
    """Nothing at all can be said when the drug being ordered is unknown: that, and only that, is a 412."""
    body = hook_request("order-sign", [_draft_by_reference()])
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = call(body)
    assert response.status_code == 412
    diagnostics = response.json()["issue"][0]["diagnostics"]
    assert "Medication/med-unknown" in diagnostics and "no fhirServer was given" in diagnostics
    assert [r for r in caplog.records if r.getMessage() == "order medication unreadable"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_an_order_by_reference_is_read_through_the_fhir_server(respx_mock, call):
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    respx_mock.get(f"{FHIR}/Medication/med-unknown").respond(json={
        "resourceType": "Medication", "id": "med-unknown",
        "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "403879"}]},
    })
    body = with_server(hook_request("order-sign", [_draft_by_reference()], prefetch=False))
    assert "rifampin" in cards_of(call(body))[0]["summary"]


def test_without_the_active_list_an_active_order_in_the_history_still_counts(call):
    """The history search answered and the active one did not: rifampin active in the history gets its card, and
    the card still says the active list itself was not read."""
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"medicationHistory": bundle(resource("rifampin-active-r4.json"))})
    del body["prefetch"]["activeMedications"]
    [card] = cards_of(call(body))
    assert "rifampin" in card["summary"]
    assert "Not checked: the active medication list" in card["detail"]
