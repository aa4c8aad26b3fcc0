"""The service calls only allow-listed FHIR servers, never a cloud-metadata address, and the token goes nowhere else."""

import logging

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.outbound import OutboundPolicy
from tests.helpers import bundle, cards_of, hook_request, incomplete_check_card, request_fixture, resource
from tests.test_prefetch_and_fetch import FHIR, TOKEN, mock_searches, with_server

PATIENT_ID = "pt-cml-1"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://2852039166/latest/meta-data", "link-local"),  # 169.254.169.254 as one decimal number
        ("http://0xa9.0xfe.0xa9.0xfe/", "link-local"),
        ("http://[fd00:ec2::254]/latest/meta-data", "link-local"),
        ("http://[::ffff:169.254.169.254]/", "link-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://100.100.100.200/latest/meta-data", "link-local"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud-metadata hosts"),
        ("http://METADATA.google.internal./computeMetadata/v1/", "cloud-metadata hosts"),
        ("file:///etc/passwd", "only http(s)"),
        ("gopher://ehr.example.org/fhir", "only http(s)"),
        ("https://user:pw@ehr.example.org/fhir", "credentials"),
        ("https://ehr.example.org:99999/fhir", "malformed"),
    ],
)
def test_metadata_and_non_http_urls_are_refused_even_when_any_server_is_allowed(url, reason):
    refusal = OutboundPolicy.of(["*"]).refusal(url)
    assert refusal is not None and reason in refusal


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://ehr.example.org/fhir", True),
        ("https://ehr.example.org/fhir/", True),
        ("https://EHR.example.org/fhir/r4", True),
        ("https://ehr.example.org:443/fhir", True),
        ("https://ehr.example.org/fhir-other", False),  # a string prefix, but another path
        ("https://ehr.example.org.evil.com/fhir", False),  # a string prefix, but another host
        ("https://ehr.example.org:8443/fhir", False),
        ("http://ehr.example.org/fhir", False),
        ("https://other.example.org/fhir", False),
        ("https://ehr.example.org/fhir/../admin", False),  # the client resolves the dot segments: /admin
        ("https://ehr.example.org/fhir/%2E%2E/admin", False),
    ],
)
def test_allow_list_matches_scheme_host_port_and_whole_path_segments(url, allowed):
    policy = OutboundPolicy.of(["https://ehr.example.org/fhir"])
    assert (policy.refusal(url) is None) is allowed


def test_empty_allow_list_refuses_every_server():
    assert "not on the allow-list" in OutboundPolicy().refusal("https://ehr.example.org/fhir")


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_server_not_on_the_allow_list_is_not_called_and_the_card_says_so(respx_mock, call):
    anywhere = respx_mock.route().respond(json=bundle())
    body = request_fixture("order-sign-no-prefetch.json")
    body["fhirServer"] = "https://unlisted.example.net/fhir"
    card = incomplete_check_card(call(body))
    assert "not on the allow-list (CDS\\_FHIR\\_SERVER\\_ALLOWLIST)" in card["detail"]
    assert not anywhere.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_server_not_on_the_allow_list_still_gets_cards_from_prefetch(respx_mock, call):
    anywhere = respx_mock.route().respond(json=bundle())
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))}))
    body["fhirServer"] = "https://unlisted.example.net/fhir"
    del body["prefetch"]["conditions"]
    card = cards_of(call(body))[0]
    assert "rifampin" in card["summary"]
    assert "Not checked: the patient's conditions" in card["detail"]
    assert not anywhere.called


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_metadata_fhir_server_is_never_called_even_with_a_wildcard(respx_mock, settings, knowledge):
    anywhere = respx_mock.route().respond(json=bundle())
    body = request_fixture("order-sign-no-prefetch.json")
    body["fhirServer"] = "http://169.254.169.254/latest"
    wildcard = settings.model_copy(update={"fhir_server_allowlist": ["*"]})
    with TestClient(create_app(wildcard, knowledge), raise_server_exceptions=False) as client:
        response = client.post("/cds-services/imatinib-order-sign", json=body)
    assert "cloud-metadata" in incomplete_check_card(response)["detail"]
    assert not anywhere.called


def _huge(_request: httpx.Request) -> httpx.Response:
    """An answer that never ends, sent chunked (no Content-Length to refuse it by)."""

    async def endless_body():
        yield b'{"resourceType": "Bundle", "entry": ['
        while True:
            yield b'{"resource": {"resourceType": "Basic"}},' * 10_000

    return httpx.Response(200, content=endless_body())


def _endless(request: httpx.Request) -> httpx.Response:
    page = int(request.url.params.get("page", "1"))
    return httpx.Response(200, json=bundle(next_url=f"{FHIR}/MedicationRequest?status=active,on-hold&page={page + 1}"))


FAULTS = {
    "refused": (httpx.ConnectError("refused"), "could not be reached (ConnectError)"),
    "timeout": (httpx.ReadTimeout("slow"), "timed out"),
    "401": (httpx.Response(401), "answered HTTP 401"),
    "403": (httpx.Response(403), "answered HTTP 403"),
    "404": (httpx.Response(404), "answered HTTP 404"),
    "500": (httpx.Response(500), "answered HTTP 500"),
    "not-json": (httpx.Response(200, content=b"<html>login</html>"), "not JSON"),
    "not-fhir": (httpx.Response(200, json=[1, 2]), "not a FHIR resource"),
    "operation-outcome": (httpx.Response(200, json={"resourceType": "OperationOutcome"}), "OperationOutcome"),
    "huge-declared": (httpx.Response(200, headers={"content-length": "999999999"}, content=b"{}"), "byte limit"),
    "huge-streamed": (_huge, "byte limit"),
    "endless-pages": (_endless, "more than 10 pages"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_each_fhir_server_fault_is_named_in_a_card_and_a_log_line_without_token_or_patient(
    respx_mock, call, caplog, fault
):
    failure, reason = FAULTS[fault]
    mock_searches(respx_mock)
    route = respx_mock.get(f"{FHIR}/MedicationRequest", params={"status": "active,on-hold"})
    if isinstance(failure, httpx.Response):
        route.return_value = failure
    else:
        route.side_effect = failure
    with caplog.at_level(logging.DEBUG, logger="cds_service"):
        response = call(request_fixture("order-sign-no-prefetch.json"))
    detail = incomplete_check_card(response)["detail"]
    assert "the active medication list" in detail and reason in detail.replace("\\", "")
    failed = [r for r in caplog.records if r.getMessage() == "FHIR fetch failed"]
    assert [(r.prefetch_key, reason in r.reason) for r in failed] == [("activeMedications", True)]
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    assert TOKEN not in logged and PATIENT_ID not in logged


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_huge_answer_for_optional_data_still_gives_cards(respx_mock, call):
    mock_searches(respx_mock, medications=bundle(resource("rifampin-active-r4.json")))
    respx_mock.get(f"{FHIR}/Observation").mock(side_effect=_huge)
    card = cards_of(call(request_fixture("order-sign-no-prefetch.json")))[0]
    assert "Not checked: the laboratory results (the FHIR server's answer is larger than" in card["detail"]


@pytest.mark.parametrize(
    ("next_url", "called_url"),
    [
        ("https://ehr.example.org/fhir-admin/export", "https://ehr.example.org/fhir-admin/export"),
        # "/fhir/../admin/export" starts with "/fhir/", but httpx removes the dot segments and calls /admin/export.
        ("https://ehr.example.org/fhir/../admin/export", "https://ehr.example.org/admin/export"),
    ],
    ids=["another-path", "dot-segments"],
)
@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_next_link_out_of_the_server_path_on_the_same_host_is_not_followed(respx_mock, call, next_url, called_url):
    admin = respx_mock.get(called_url).respond(json=bundle())
    first_page = bundle(resource("rifampin-active-r4.json"), next_url=next_url)
    body = with_server(hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                                    prefetch={"activeMedications": first_page}))
    [card] = cards_of(call(body))
    assert "rifampin" in card["summary"] and "Not checked: the active medication list" in card["detail"]
    assert not admin.called


def test_a_complete_prefetch_never_consults_the_allow_list_or_logs_a_refusal(call, caplog):
    """The sandbox sends a fhirServer on every call; when prefetch has everything, there is nothing to refuse."""
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    body["fhirServer"] = "https://unlisted.example.net/fhir"
    with caplog.at_level(logging.DEBUG, logger="cds_service"):
        [card] = cards_of(call(body))
    assert "rifampin" in card["summary"]
    assert not [r for r in caplog.records if r.getMessage() == "fhirServer refused"]
