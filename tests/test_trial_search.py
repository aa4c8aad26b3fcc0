"""Live ClinicalTrials.gov search: off by default, bounded by the call's budget, cached, and never in the way."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.gather.trials import REGISTRY_URL, TrialQuery, TrialRegistry
from cds_service.knowledge import Knowledge
from cds_service.settings import Settings
from tests.helpers import bundle, cards_of, hook_request, resource

STUDIES = {"studies": [
    {"protocolSection": {
        "identificationModule": {"nctId": "NCT09990001", "briefTitle": "Imatinib with peginterferon <b>in CML</b>"},
        "statusModule": {"overallStatus": "RECRUITING"},
        "designModule": {"phases": ["PHASE2"]},
    }},
    {"protocolSection": {"identificationModule": {"nctId": "javascript:alert(1)", "briefTitle": "not a registry id"}}},
]}


def warning_response_request(**extra) -> dict:
    """Chronic-phase CML on imatinib with a warning response: the guide shows interferon and dual-TKI strategies."""
    return hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
        "labResults": bundle(resource("bcr-abl1-is-warning-r4.json")),
        "medicationHistory": bundle(resource("imatinib-history-2025-r4.json")),
    }, **extra)


def guide_card(response) -> dict:
    [card] = [c for c in cards_of(response) if c["source"]["topic"]["code"].startswith("decision-guide")]
    return card


def make_client(tmp_path: Path, knowledge: Knowledge, **settings) -> TestClient:
    defaults = {"database_url": f"sqlite:///{tmp_path / 'feedback.db'}", "fhir_timeout_seconds": 1.0,
                "trials_live_search": True, "trials_timeout_seconds": 0.3}
    # model_copy does not validate: a budget of 0 s, refused as a setting, stands for one already spent.
    return TestClient(create_app(Settings(**defaults).model_copy(update=settings), knowledge),
                      raise_server_exceptions=False)


@pytest.fixture
def live(tmp_path: Path, knowledge: Knowledge) -> Iterator[TestClient]:
    with make_client(tmp_path, knowledge) as client:
        yield client


def post(client: TestClient, body: dict):
    return client.post("/cds-services/imatinib-order-select", json=body)


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_off_by_default_the_registry_is_never_called(respx_mock, call):
    registry = respx_mock.get(REGISTRY_URL).respond(json=STUDIES)
    card = guide_card(call(warning_response_request()))
    assert not registry.called
    assert "Live search" not in card["detail"] and "Recruiting now" not in card["detail"]
    assert "NCT03578367" in {link["label"].split()[0] for link in card["links"]}  # not SPIRIT: untreated


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_recruiting_trials_are_listed_with_registry_links(respx_mock, live):
    registry = respx_mock.get(REGISTRY_URL).respond(json=STUDIES)
    body = warning_response_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization={
        "access_token": "SECRET-TOKEN", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "imatinib-cds",
    })
    card = guide_card(post(live, body))
    sent = registry.calls.last.request
    assert sent.url.params["query.cond"] == "Chronic myeloid leukemia"
    assert sent.url.params["query.intr"] == \
        "imatinib AND (interferon OR peginterferon OR dasatinib OR ponatinib OR asciminib)"
    assert sent.url.params["filter.overallStatus"] == "RECRUITING,NOT_YET_RECRUITING"
    assert "Authorization" not in sent.headers  # the EHR's token never leaves for the registry
    assert "**Recruiting now** (live search of ClinicalTrials.gov)" in card["detail"]
    assert "[NCT09990001](https://clinicaltrials.gov/study/NCT09990001) Imatinib with peginterferon &lt;b&gt;in " \
        "CML&lt;/b&gt; (PHASE2; RECRUITING)" in card["detail"]
    assert "javascript" not in card["detail"] and "javascript" not in str(card["links"])
    assert "https://clinicaltrials.gov/study/NCT03578367" in {link["url"] for link in card["links"]}


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_mutation_terms_go_into_the_search(respx_mock, live):
    registry = respx_mock.get(REGISTRY_URL).respond(json={"studies": []})
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
        "labResults": bundle(resource("lab-text-abl1-t315i-detected-r4.json")),
    })
    card = guide_card(post(live, body))
    assert registry.calls.last.request.url.params["query.term"] == "T315I"
    assert "no recruiting trial matches" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_answers_are_cached(respx_mock, live):
    registry = respx_mock.get(REGISTRY_URL).respond(json=STUDIES)
    first = guide_card(post(live, warning_response_request()))
    second = guide_card(post(live, warning_response_request()))
    assert registry.call_count == 1
    assert "NCT09990001" in first["detail"] and "NCT09990001" in second["detail"]


@pytest.mark.parametrize(("failure", "said"), [
    (httpx.ConnectTimeout("slow"), "the registry did not answer within 0.3 s"),
    (httpx.Response(503, text="Service Unavailable"), "the registry answered HTTP 503"),
    (httpx.Response(200, text="<html>maintenance</html>"), "the registry's answer could not be read"),
    (httpx.ConnectError("refused"), "the registry could not be reached (ConnectError)"),
    (httpx.Response(200, content=b"[" * 2_000_001), "the registry's answer was too large"),
])
def test_a_failing_registry_leaves_the_curated_trials_and_says_so(live, failure, said):
    with respx.mock(assert_all_mocked=True) as router:
        route = router.get(REGISTRY_URL)
        route.side_effect = failure if isinstance(failure, Exception) else None
        if isinstance(failure, httpx.Response):
            route.return_value = failure
        card = guide_card(post(live, warning_response_request()))
        assert f"_Live search of ClinicalTrials.gov unavailable ({said}" in card["detail"]
        assert "the trials above are the curated list only._" in card["detail"]
        assert "NCT03578367" in {link["label"].split()[0] for link in card["links"]}  # not SPIRIT: untreated
        # After a failure the registry is left alone for a while: the next call does not wait on it again.
        again = guide_card(post(live, warning_response_request()))
        assert route.call_count == 1
        assert "failed less than a minute ago" in again["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_a_registry_slower_than_the_budget_is_cut_off(respx_mock, live):
    async def slow(request):
        await asyncio.sleep(30)
        return httpx.Response(200, json=STUDIES)

    respx_mock.get(REGISTRY_URL).mock(side_effect=slow)
    card = guide_card(post(live, warning_response_request()))
    assert "unavailable (the registry did not answer within 0.3 s)" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_no_search_once_the_service_budget_is_spent(respx_mock, tmp_path, knowledge):
    registry = respx_mock.get(REGISTRY_URL).respond(json=STUDIES)
    with make_client(tmp_path, knowledge, fhir_timeout_seconds=0.0) as client:
        card = guide_card(post(client, warning_response_request()))
    assert not registry.called
    assert "unavailable (no time was left within the service's time budget)" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_no_search_when_the_guide_has_no_card(respx_mock, live):
    registry = respx_mock.get(REGISTRY_URL).respond(json=STUDIES)
    body = warning_response_request()
    body["hook"] = "order-sign"
    del body["context"]["selections"]
    response = live.post("/cds-services/imatinib-order-sign", json=body)
    assert response.status_code == 200
    assert not registry.called


def test_cached_answers_expire():
    now = [1000.0]
    registry = TrialRegistry(timeout_seconds=1.0, cache_seconds=60.0, clock=lambda: now[0])
    query = TrialQuery("Chronic myeloid leukemia", ("interferon",))

    async def search_twice() -> int:
        with respx.mock(assert_all_mocked=True) as router:
            route = router.get(REGISTRY_URL).respond(json=STUDIES)
            async with httpx.AsyncClient() as http:
                await registry.search(query, http, 1.0)
                now[0] += 59.0
                await registry.search(query, http, 1.0)  # still fresh
                now[0] += 2.0
                found = await registry.search(query, http, 1.0)  # expired: asked again
            assert [t.nct for t in found.trials] == ["NCT09990001"]
            return route.call_count

    assert asyncio.run(search_twice()) == 2
