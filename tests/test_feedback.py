"""Feedback is stored durably in SQL, duplicates are harmless, and the sandbox's lean override reasons are accepted."""

import json
import subprocess
import sys

import pytest

from cds_service.store import FeedbackStore

URL = "/cds-services/imatinib-order-select/feedback"


def entry(card: str = "5f1b8d1e-0000-4000-8000-000000000001", **extra) -> dict:
    return {"card": card, "outcome": "accepted", "acceptedSuggestions": [{"id": "sugg-1"}],
            "outcomeTimestamp": "2026-11-21T10:00:00Z", **extra}


def test_feedback_is_stored_and_acknowledged(client, settings):
    response = client.post(URL, json={"feedback": [entry()]})
    assert response.status_code == 200
    store = FeedbackStore(settings.database_url)
    rows = list(store.export())
    assert [r["card"] for r in rows] == ["5f1b8d1e-0000-4000-8000-000000000001"]
    assert rows[0]["entry"]["acceptedSuggestions"] == [{"id": "sugg-1"}]


def test_same_feedback_twice_is_stored_once(client, settings):
    for _ in range(3):
        assert client.post(URL, json={"feedback": [entry()]}).status_code == 200
    assert FeedbackStore(settings.database_url).count() == 1


def test_override_reason_without_display_is_accepted(client, settings):
    overridden = {
        "card": "card-2", "outcome": "overridden", "outcomeTimestamp": "2026-11-21T10:00:00Z",
        "overrideReason": {"reason": {"code": "short-inducer-course", "system": "urn:imatinib-cds:override-reason"},
                           "userComment": "two-week course"},
    }
    assert client.post(URL, json={"feedback": [overridden]}).status_code == 200
    stored = next(FeedbackStore(settings.database_url).export())
    assert stored["entry"]["overrideReason"]["userComment"] == "two-week course"


def test_invalid_feedback_is_400_and_nothing_stored(client, settings):
    for body in ({"feedback": []}, {"feedback": [{"outcome": "accepted"}]}, {"feedback": [entry(outcome="maybe")]},
                 {"nope": 1}):
        response = client.post(URL, json=body)
        assert response.status_code == 400, body
        assert response.json()["resourceType"] == "OperationOutcome"
    assert FeedbackStore(settings.database_url).count() == 0


def test_feedback_for_unknown_service_is_404(client):
    assert client.post("/cds-services/nope/feedback", json={"feedback": [entry()]}).status_code == 404


def test_feedback_export_prints_json_lines(client, settings, tmp_path):
    client.post(URL, json={"feedback": [entry("card-a"), entry("card-b")]})
    result = subprocess.run(
        [sys.executable, "-m", "cds_service", "feedback", "export"],
        env={"CDS_DATABASE_URL": settings.database_url, "PATH": ""},
        capture_output=True, text=True, check=True,
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["card"] for line in lines] == ["card-a", "card-b"]
    assert lines[0]["service_id"] == "imatinib-order-select"


def test_store_failure_is_503_with_an_operation_outcome_and_the_retry_is_stored(client, settings):
    from sqlalchemy import create_engine, text

    engine = create_engine(settings.database_url)
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE card_feedback RENAME TO card_feedback_away"))
    failed = client.post(URL, json={"feedback": [entry()]})
    assert failed.status_code == 503
    assert failed.json()["resourceType"] == "OperationOutcome"
    assert "not acknowledged; retry" in failed.json()["issue"][0]["diagnostics"]
    with engine.begin() as connection:
        connection.execute(text("ALTER TABLE card_feedback_away RENAME TO card_feedback"))
    engine.dispose()
    assert client.post(URL, json={"feedback": [entry()]}).status_code == 200
    assert FeedbackStore(settings.database_url).count() == 1


@pytest.mark.parametrize(
    "sent",
    [
        entry("x" * 201),
        entry("card-\u0000-3"),
        entry(outcomeTimestamp="2" * 65),
        entry(outcomeTimestamp="2026-11-21T10:00:00\u0000Z"),
    ],
)
def test_feedback_the_store_cannot_hold_is_400_not_a_503_that_asks_for_retries(client, settings, sent):
    # PostgreSQL refuses such values in the card and timestamp columns: without this check the client was told
    # to retry (503) a request that can never succeed.
    response = client.post(URL, json={"feedback": [sent]})
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert FeedbackStore(settings.database_url).count() == 0
