"""/dashboard: not served without its password setting; behind HTTP Basic with it; the report as charts."""

import base64
from datetime import UTC, datetime

import httpx
import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import Settings
from tests.browser import DASHBOARD_PASSWORD, DASHBOARD_USER
from tests.helpers import request_fixture

PASSWORD = "a long committee password"


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def committee_client(tmp_path, knowledge):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", dashboard_password=PASSWORD)
    with TestClient(create_app(settings, knowledge)) as client:
        yield client


def test_without_a_password_setting_the_dashboard_is_not_served(client):
    assert client.get("/dashboard").status_code == 404
    assert client.get("/dashboard", headers=_basic("committee", "")).status_code == 404


@pytest.mark.parametrize("headers", [
    {},
    _basic("committee", "wrong"),
    _basic("someone", PASSWORD),
    {"Authorization": "Basic not-base64!"},
    {"Authorization": "Bearer " + PASSWORD},
])
def test_without_the_committees_credential_the_answer_is_401_with_a_basic_challenge(committee_client, headers):
    response = committee_client.get("/dashboard", headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Basic realm="CDS committee dashboard"')
    assert "chart" not in response.text


def test_a_since_that_is_not_a_date_is_a_400(committee_client):
    response = committee_client.get("/dashboard?since=last-week", headers=_basic("committee", PASSWORD))
    assert response.status_code == 400 and "'since' must be a date" in response.text.replace("&#39;", "'")


def test_with_it_the_page_carries_the_report_for_the_charts(committee_client):
    response = committee_client.get("/dashboard", headers=_basic("committee", PASSWORD))
    assert response.status_code == 200
    assert '<script src="/static/vendor/chart.umd.min.js"' in response.text
    assert committee_client.get("/static/vendor/chart.umd.min.js").status_code == 200


def _post(base: str, path: str, body: dict) -> dict:
    response = httpx.post(base + path, json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_feedback_stored_through_the_api_appears_in_the_charts_data(committee_pages):
    base = committee_pages.server.base
    cards = _post(base, "/cds-services/imatinib-order-select",
                  request_fixture("order-select-rifampin-for-patient-on-imatinib.json"))["cards"]
    [inducer] = [c for c in cards if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    second = _post(base, "/cds-services/imatinib-order-select",
                   request_fixture("order-select-rifampin-for-patient-on-imatinib.json"))["cards"]
    [overridden] = [c for c in second if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    reason = overridden["overrideReasons"][0]
    _post(base, "/cds-services/imatinib-order-select/feedback", {"feedback": [
        {"card": inducer["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:00:00Z",
         "acceptedSuggestions": [{"id": inducer["suggestions"][0]["uuid"]}]},
        {"card": overridden["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
         "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}}},
    ]})
    response = committee_pages.open("/dashboard")
    assert response.status == 200
    charts = committee_pages.page.evaluate("""() => Object.fromEntries(
        ["acceptance", "override", "reasons", "per-day"].map((id) => {
            const chart = Chart.getChart(id);
            return [id, {labels: chart.data.labels,
                         series: chart.data.datasets.map((d) => ({label: d.label, data: d.data}))}];
        }))""")
    now = datetime.now(UTC)
    week, today = f"{now.isocalendar()[0]}-W{now.isocalendar()[1]:02d}", now.date().isoformat()

    def value(chart: str, label: str) -> object:
        data = charts[chart]
        [series] = [s for s in data["series"] if s["label"] == "imatinib-strong-cyp3a4-inducer"]
        return series["data"][data["labels"].index(label)]

    assert value("acceptance", week) == 0.5  # one of the two cards shown was accepted
    assert value("override", week) == 0.5
    assert value("reasons", reason["code"]) == 1
    assert value("per-day", today) == 2
    assert committee_pages.outside == []


def test_the_fixture_credential_is_the_servers(page_server):
    assert httpx.get(f"{page_server.base}/dashboard", headers=_basic(DASHBOARD_USER, DASHBOARD_PASSWORD),
                     timeout=10).status_code == 200
