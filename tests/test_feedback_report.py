"""The CDS committee's report, computed from cards answered and feedback sent through the real HTTP API, and the
retention of what feedback holds (purge by date, free-text comments cleared after a set number of days)."""

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from cds_service.app import create_app
from cds_service.settings import Settings
from cds_service.store import FeedbackStore
from cds_service.store.reports import feedback_report, iso_week
from tests.helpers import SERVICE_FOR_HOOK, request_fixture
from tests.jwt_helpers import sandbox_token, write_issuers
from tests.test_metrics import moved, scrape

INDUCER = "imatinib-strong-cyp3a4-inducer"
THIS_WEEK = iso_week(datetime.now(UTC))
TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def report_settings(store_url) -> Settings:
    return Settings(database_url=store_url, fhir_server_allowlist=[])


def show(client: TestClient, fixture: str) -> list[dict]:
    """Answer one request fixture; the cards the EHR would show."""
    body = request_fixture(fixture)
    response = client.post(f"/cds-services/{SERVICE_FOR_HOOK[body['hook']]}", json=body)
    assert response.status_code == 200, response.text
    return response.json()["cards"]


def feedback(client: TestClient, service_id: str, *entries: dict) -> None:
    response = client.post(f"/cds-services/{service_id}/feedback", json={"feedback": list(entries)})
    assert response.status_code == 200, response.text


def accepted(card: dict) -> dict:
    return {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": "2026-12-01T10:00:00Z",
            "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}]}


def overridden(card: dict, code: str | None = None, comment: str | None = None) -> dict:
    reason: dict = {}
    if code:
        reason["reason"] = {"code": code, "system": "urn:imatinib-cds:override-reason"}
    if comment:
        reason["userComment"] = comment
    return {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-12-01T10:00:00Z",
            **({"overrideReason": reason} if reason else {})}


def topic(report: dict, name: str) -> dict:
    return next(t for t in report["topics"] if t["topic"] == name)


def test_report_counts_cards_shown_and_their_latest_feedback_per_topic(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        inducer = [show(client, "order-select-rifampin-for-patient-on-imatinib.json")[0] for _ in range(4)]
        variant, guide = show(client, "order-select-imatinib-cml-t315i.json")
        select = "imatinib-order-select"
        feedback(client, select, accepted(inducer[0]), overridden(inducer[1], "patient-declined"))
        feedback(client, select, overridden(inducer[2]))  # overridden without a reason
        feedback(client, select, overridden(inducer[3], "patient-declined"))
        feedback(client, select, accepted(inducer[3]))  # the clinician changed their mind: the latest counts
        feedback(client, select, overridden(variant, "benefit-outweighs-risk"))
        feedback(client, select, {"card": "shown-before-cards-were-recorded", "outcome": "accepted"})
        report = client.get("/feedback/report").json()

    assert report["topics"][0]["topic"] == INDUCER  # the most shown first
    assert topic(report, INDUCER) == {
        "topic": INDUCER, "shown": 4, "accepted": 2, "overridden": 2, "acceptance_rate": 0.5,
        "overridden_by_reason": {"patient-declined": 1, "(none given)": 1},
        "shown_by_indicator": {"warning": 4},
        "weeks": [{"week": THIS_WEEK, "shown": 4, "accepted": 2, "overridden": 2, "acceptance_rate": 0.5}],
        "days": [{"day": TODAY, "shown": 4}],
    }
    variants = topic(report, variant["source"]["topic"]["code"])
    assert (variants["shown"], variants["overridden"], variants["overridden_by_reason"]) == (
        1, 1, {"benefit-outweighs-risk": 1})
    assert variants["shown_by_indicator"] == {"critical": 1}
    guides = topic(report, guide["source"]["topic"]["code"])
    assert (guides["shown"], guides["accepted"], guides["acceptance_rate"]) == (1, 0, 0.0)  # alert fatigue shows
    unknown = topic(report, "(unknown)")
    assert (unknown["shown"], unknown["accepted"], unknown["acceptance_rate"]) == (0, 1, None)


def test_acceptance_rate_per_week_and_the_since_and_service_filters(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        earlier, _now = (show(client, "order-select-rifampin-for-patient-on-imatinib.json")[0] for _ in range(2))
        signed = show(client, "order-sign-imatinib-with-carbamazepine.json")[0]
        feedback(client, "imatinib-order-select", accepted(earlier))
        feedback(client, "imatinib-order-sign", overridden(signed, "patient-declined"))
        last_month = datetime.now(UTC) - timedelta(days=28)
        engine = create_engine(report_settings.database_url)
        client.get("/feedback/report")  # flushes this worker's cards shown
        with engine.begin() as connection:  # as if the first card had been shown four weeks ago
            connection.execute(text("UPDATE cards_shown SET shown_at = :at WHERE card_uuid = :card"),
                               {"at": last_month, "card": earlier["uuid"]})
        engine.dispose()

        everything = client.get("/feedback/report").json()
        recent = client.get("/feedback/report", params={"since": (date.today() - timedelta(days=7)).isoformat()})
        signing = client.get("/feedback/report", params={"service": "imatinib-order-sign"}).json()

    weeks = topic(everything, INDUCER)["weeks"]
    assert weeks == [
        {"week": iso_week(last_month), "shown": 1, "accepted": 1, "overridden": 0, "acceptance_rate": 1.0},
        {"week": THIS_WEEK, "shown": 2, "accepted": 0, "overridden": 1, "acceptance_rate": 0.0},
    ]
    assert topic(everything, INDUCER)["shown_by_indicator"] == {"critical": 1, "warning": 2}
    assert recent.status_code == 200
    assert topic(recent.json(), INDUCER)["shown"] == 2 and topic(recent.json(), INDUCER)["accepted"] == 0
    assert signing["service_id"] == "imatinib-order-sign"
    assert [(t["topic"], t["shown"], t["overridden"]) for t in signing["topics"]] == [(INDUCER, 1, 1)]


def test_the_command_line_report_is_the_same_computation(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        card = show(client, "order-sign-imatinib-with-carbamazepine.json")[0]
        feedback(client, "imatinib-order-sign", accepted(card))
        served = client.get("/feedback/report", params={"since": "2026-01-01"}).json()
    printed = subprocess.run(
        [sys.executable, "-m", "cds_service", "feedback", "report", "--since", "2026-01-01"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "CDS_DATABASE_URL": report_settings.database_url},
    )
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == served
    assert topic(served, INDUCER)["accepted"] == 1


@pytest.mark.parametrize(
    ("params", "named"),
    [({"since": "2026-13-01"}, "since must be a date"), ({"since": "last week"}, "since must be a date"),
     ({"service": "no-such-service"}, "service must be one of")],
)
def test_bad_report_parameters_are_400_naming_them(client, params, named):
    response = client.get("/feedback/report", params=params)
    assert response.status_code == 400
    assert named in response.json()["issue"][0]["diagnostics"]


def test_bad_dates_on_the_command_line_name_the_option(report_settings):
    refused = subprocess.run([sys.executable, "-m", "cds_service", "feedback", "purge", "--before", "yesterday"],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "CDS_DATABASE_URL": report_settings.database_url})
    assert refused.returncode == 2 and "--before must be a date as YYYY-MM-DD" in refused.stderr


def test_the_report_is_authenticated_like_feedback(settings, knowledge, tmp_path: Path):
    secured = settings.model_copy(update={"auth_required": True, "trusted_issuers_file": str(write_issuers(tmp_path))})
    with TestClient(create_app(secured, knowledge)) as client:
        assert client.get("/feedback/report").status_code == 401
        token = sandbox_token("http://testserver/feedback/report")
        response = client.get("/feedback/report", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json()["topics"] == []


def test_cards_shown_never_hold_up_or_fail_an_answer_when_their_table_is_gone(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        engine = create_engine(report_settings.database_url)
        with engine.begin() as connection:
            connection.execute(text("DROP TABLE cards_shown"))
        engine.dispose()
        cards = show(client, "order-select-rifampin-for-patient-on-imatinib.json")
        assert [c["source"]["topic"]["code"] for c in cards] == [INDUCER]  # answered as usual
        assert client.get("/feedback/report").status_code == 503  # the report, not the answer, says so


def test_a_full_queue_drops_cards_shown_and_counts_them(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        recorder = client.app.state.cards_shown
        recorder.capacity = 1  # a tiny queue, as if the database lagged
        before = scrape(client)
        card = show(client, "order-select-imatinib-cml-t315i.json")  # two cards: one queued, one dropped
        assert len(card) == 2
        assert recorder.dropped == 1
        report = client.get("/feedback/report").json()
        after = scrape(client)
    assert sum(t["shown"] for t in report["topics"]) == 1
    assert moved(before, after, "cds_cards_shown_dropped_total") == 1
    assert moved(before, after, "cds_cards_shown_recorded_total") == 1


def test_comments_are_cleared_after_the_set_days_and_purge_deletes_before_a_day(report_settings, knowledge):
    with TestClient(create_app(report_settings, knowledge)) as client:
        old, recent = (show(client, "order-select-rifampin-for-patient-on-imatinib.json")[0] for _ in range(2))
        feedback(client, "imatinib-order-select", overridden(old, "patient-declined", "Pt prefers to wait"))
        feedback(client, "imatinib-order-select", overridden(recent, "patient-declined", "discussed with pharmacy"))
        client.get("/feedback/report")
    engine = create_engine(report_settings.database_url)
    forty_days_ago = datetime.now(UTC) - timedelta(days=40)
    with engine.begin() as connection:
        connection.execute(text("UPDATE card_feedback SET received_at = :at WHERE card_uuid = :card"),
                           {"at": forty_days_ago, "card": old["uuid"]})
        connection.execute(text("UPDATE cards_shown SET shown_at = :at WHERE card_uuid = :card"),
                           {"at": forty_days_ago, "card": old["uuid"]})
    engine.dispose()

    env = {**os.environ, "CDS_DATABASE_URL": report_settings.database_url, "CDS_FEEDBACK_COMMENT_DAYS": "30"}
    keep_all = subprocess.run([sys.executable, "-m", "cds_service", "feedback", "purge", "--before", "2000-01-01"],
                              capture_output=True, text=True, timeout=60, env=env)
    assert keep_all.returncode == 0, keep_all.stderr
    assert json.loads(keep_all.stdout) == {"before": "2000-01-01", "feedback": 0, "cards_shown": 0,
                                           "comments_cleared": 1}
    store = FeedbackStore(report_settings.database_url, migrate_schema=False)
    try:
        entries = {row["card"]: row["entry"] for row in store.export()}
        assert entries[old["uuid"]]["overrideReason"] == {"reason": {"code": "patient-declined",
                                                                     "system": "urn:imatinib-cds:override-reason"}}
        assert entries[recent["uuid"]]["overrideReason"]["userComment"] == "discussed with pharmacy"
        assert topic(feedback_report(store.engine), INDUCER)["overridden_by_reason"] == {"patient-declined": 2}

        cutoff = (datetime.now(UTC) - timedelta(days=10)).date().isoformat()
        purged = subprocess.run([sys.executable, "-m", "cds_service", "feedback", "purge", "--before", cutoff],
                                capture_output=True, text=True, timeout=60, env=env)
        assert json.loads(purged.stdout) == {"before": cutoff, "feedback": 1, "cards_shown": 1, "comments_cleared": 0}
        assert [row["card"] for row in store.export()] == [recent["uuid"]]
        assert topic(feedback_report(store.engine), INDUCER)["shown"] == 1
    finally:
        store.close()
