"""Feedback acknowledged with 200 is never lost: a real server is SIGKILLed right after answering, then restarted."""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.servers import running_server

FEEDBACK_URL = "/cds-services/imatinib-order-select/feedback"


def send_feedback(base: str, writer: int, count: int) -> list[str]:
    """POST `count` requests of two entries each; the cards of every entry acknowledged with 200."""
    acknowledged = []
    with httpx.Client(base_url=base, timeout=10) as http:
        for i in range(count):
            cards = [f"writer{writer}-call{i}-a", f"writer{writer}-call{i}-b"]
            body = {"feedback": [{"card": card, "outcome": "accepted", "outcomeTimestamp": "2026-11-21T10:00:00Z"}
                                 for card in cards]}
            response = http.post(FEEDBACK_URL, json=body)
            assert response.status_code == 200, response.text
            assert response.json() == {"received": 2, "stored": 2}
            acknowledged.extend(cards)
    return acknowledged


def exported_cards(database_url: str) -> list[str]:
    result = subprocess.run([sys.executable, "-m", "cds_service", "feedback", "export"], capture_output=True,
                            text=True, check=True, env={**os.environ, "CDS_DATABASE_URL": database_url})
    return [json.loads(line)["card"] for line in result.stdout.splitlines()]


@pytest.mark.parametrize(("workers", "writers", "calls"), [(1, 1, 40), (2, 4, 15)], ids=["1-worker", "2-workers"])
def test_acknowledged_feedback_survives_sigkill_and_restart(tmp_path, store_url, workers, writers, calls):
    env = {"CDS_DATABASE_URL": store_url}
    with running_server(tmp_path, env, workers=workers) as server:
        with ThreadPoolExecutor(max_workers=writers) as pool:
            batches = list(pool.map(lambda w: send_feedback(server.base, w, calls), range(writers)))
        server.kill()  # right after the last answer: no graceful shutdown
    acknowledged = [card for batch in batches for card in batch]
    assert len(acknowledged) == writers * calls * 2

    with running_server(tmp_path, env) as restarted:
        assert httpx.get(f"{restarted.base}/healthz").status_code == 200
        stored = exported_cards(store_url)
    assert sorted(stored) == sorted(acknowledged)  # every acknowledged entry, each once
