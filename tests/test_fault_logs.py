"""Every refusal the service decides leaves one log line with its status and reason, and every 500 its traceback;
none of them carries patient data. The lines are checked as written (through the JSON formatter)."""

import asyncio
import logging
import sys

import httpx
import orjson
import pytest
import respx

from cds_service.logs import JsonFormatter
from tests.helpers import bundle, hook_request, request_fixture, resource

FHIR = "https://ehr.example.org/fhir"
PATIENT = "pt-cml-1"
SERVICE = "/cds-services/imatinib-order-sign"


def lines(caplog) -> list[dict]:
    formatter = JsonFormatter()
    return [orjson.loads(formatter.format(record)) for record in caplog.records if record.name.startswith("cds_")]


def no_patient_data(written: list[dict]) -> None:
    text = orjson.dumps(written).decode()
    assert PATIENT not in text and "SECRET" not in text


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_a_412_after_a_timeout_is_logged_with_its_reason_after_the_lines_of_the_optional_keys(
    respx_mock, call, caplog
):
    """The order names its medicine by a reference the FHIR server never answers: a 412. Its line names the
    reference and the timeout, and the lines of the data that was missing meanwhile are all still written."""

    async def hangs(_request):
        await asyncio.sleep(5)
        return httpx.Response(200, json={})

    draft = resource("imatinib-400-draft-r4.json")
    draft.pop("medicationCodeableConcept")
    draft["medicationReference"] = {"reference": "Medication/ima-1"}
    respx_mock.get(f"{FHIR}/Medication/ima-1").mock(side_effect=hangs)
    respx_mock.get(f"{FHIR}/Condition").respond(500)
    respx_mock.route(host="ehr.example.org").respond(json=bundle())
    body = hook_request("order-sign", [draft], prefetch=False, fhirServer=FHIR,
                        fhirAuthorization={"access_token": "SECRET-token", "token_type": "Bearer"})
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = call(body)
    assert response.status_code == 412, response.text
    written = lines(caplog)
    timed_out = [line for line in written if line.get("prefetch_key") == "Medication/ima-1"]
    assert timed_out and "time budget" in timed_out[0]["reason"]
    conditions = [line for line in written if line.get("prefetch_key") == "conditions"]
    assert any(line["reason"] == "the FHIR server answered HTTP 500" for line in conditions), conditions
    refused = [line for line in written if line.get("status") == 412]
    assert len(refused) == 1
    assert refused[0]["reason"] == response.json()["issue"][0]["diagnostics"]
    assert "Medication/ima-1" in refused[0]["reason"] and refused[0]["path"] == SERVICE
    assert written.index(refused[0]) > max(written.index(line) for line in (*timed_out, *conditions))
    no_patient_data(written)


def test_the_keys_a_call_could_not_have_are_named_on_one_log_line_each_with_its_reason(call, caplog):
    """The sandbox leaves several keys out of every call and gives no fhirServer: one line names them all."""
    body = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = call(body)
    assert response.status_code == 200, response.text
    unavailable = [line for line in lines(caplog) if line["message"] == "FHIR data unavailable"]
    assert len(unavailable) == 1, unavailable
    named = unavailable[0]["unavailable"]
    assert {"vitalSigns", "medicationAdministrations", "stoppedMedicationStatements"} <= set(named)
    assert unavailable[0]["count"] == len(named)
    assert all("no fhirServer was given" in reason for reason in named.values()), named
    # The card says the same in words, with the same reason.
    detail = " ".join(card["detail"] for card in response.json()["cards"])
    assert "Not checked: the medication administrations (not prefetched and no fhirServer was given)" in detail
    no_patient_data(unavailable)


REFUSALS = {
    "malformed JSON": (lambda c: c.post(SERVICE, content=b"{not json", headers={"Content-Type": "application/json"}),
                       400),
    "not JSON": (lambda c: c.post(SERVICE, content=b"x", headers={"Content-Type": "text/plain"}), 415),
    "unknown service": (lambda c: c.post("/cds-services/nope", json={}), 404),
    "too large": (lambda c: c.post(SERVICE, content=b" " * 6_000_000, headers={"Content-Type": "application/json"}),
                  413),
    "context missing its patient": (
        lambda c: c.post(SERVICE, json={"hook": "order-sign", "hookInstance": "x",
                                        "context": {"draftOrders": bundle()}}), 400),
    "wrong hook": (lambda c: c.post(SERVICE, json={"hook": "order-select", "hookInstance": "x", "context": {}}),
                   400),
    "bad feedback": (lambda c: c.post(SERVICE + "/feedback", json={"feedback": []}), 400),
    "unknown route": (lambda c: c.get("/nothing-here"), 404),
    "wrong method": (lambda c: c.get(SERVICE), 405),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_every_refusal_is_one_line_with_its_status_and_reason(client, caplog, case):
    send, status = REFUSALS[case]
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = send(client)
    assert response.status_code == status
    refused = [line for line in lines(caplog) if line.get("status") == status]
    assert len(refused) == 1, lines(caplog)
    assert refused[0]["reason"] == response.json()["issue"][0]["diagnostics"]
    assert refused[0]["level"] in ("info", "warning")


def test_a_500_is_logged_with_its_traceback_but_not_the_exception_message(client, caplog, monkeypatch):
    def misread(*_args):
        raise KeyError(f"Patient/{PATIENT}")  # an exception's message can hold anything, patient ids included

    monkeypatch.setattr(client.app.state.engine, "evaluate", misread)
    with caplog.at_level(logging.INFO, logger="cds_service"):
        response = client.post(SERVICE, json=request_fixture("order-sign-no-prefetch.json"))
    assert response.status_code == 500
    failed = [line for line in lines(caplog) if line["message"] == "unexpected error"]
    assert len(failed) == 1
    assert failed[0]["error"] == "KeyError" and failed[0]["path"] == SERVICE
    trace = failed[0]["traceback"]
    assert "Traceback (most recent call last)" in trace and "in misread" in trace and "KeyError" in trace
    no_patient_data(failed)


def test_the_formatter_writes_the_traceback_of_any_record_with_exc_info():
    patient = "pt-" + "cml-1"
    try:
        raise ValueError(f"{patient} went wrong")
    except ValueError:
        record = logging.getLogger("cds_service.x").makeRecord(
            "cds_service.x", logging.ERROR, "f.py", 1, "failed", (), exc_info=sys.exc_info())
    line = orjson.loads(JsonFormatter().format(record))
    assert "test_the_formatter_writes_the_traceback_of_any_record_with_exc_info" in line["traceback"]
    assert "ValueError" in line["traceback"] and "pt-cml-1" not in line["traceback"]
