"""Screenshots of the service's pages at 400 px (an EHR side panel) and 1280 px (a desktop), for the README.

Run from the repository root with the test environment: `.venv/bin/python docs/screenshots.py`. It starts the
service on a free port with a scratch database, stores a little feedback so the dashboard has something to draw,
and writes docs/screenshots/<page>-<width>.png with Debian's chromium (the browser the tests use).
"""

import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import CHROMIUM, CHROMIUM_ARGS, NARROW, WIDE  # noqa: E402
from tests.helpers import request_fixture  # noqa: E402
from tests.servers import running_server  # noqa: E402

OUT = ROOT / "docs" / "screenshots"
PASSWORD = "screenshot-password"
PAGES = {
    "guide": "/guide?cancer=gist&stage=advanced&mutation=kit-exon-17&prior=imatinib-failure",
    "evidence": "/evidence/imatinib-strong-cyp3a4-inducer",
    "dashboard": "/dashboard",
}


def _some_feedback(base: str) -> None:
    """Two hook calls and feedback on their cards: one accepted, one overridden with a reason."""
    for name, outcome in (("order-select-sandbox-imatinib-with-rifampin.json", "accepted"),
                          ("order-select-imatinib-cml-t315i.json", "overridden")):
        answer = httpx.post(f"{base}/cds-services/imatinib-order-select", json=request_fixture(name), timeout=10)
        for card in answer.json()["cards"]:
            entry = {"card": card["uuid"], "outcome": outcome, "outcomeTimestamp": "2026-12-01T10:00:00Z"}
            if outcome == "overridden" and card.get("overrideReasons"):
                entry["overrideReason"] = {"reason": card["overrideReasons"][0]}
            elif outcome == "accepted" and card.get("suggestions"):
                entry["acceptedSuggestions"] = [{"id": card["suggestions"][0]["uuid"]}]
            else:
                continue
            httpx.post(f"{base}/cds-services/imatinib-order-select/feedback", json={"feedback": [entry]}, timeout=10)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, running_server(Path(scratch), {
        "CDS_DATABASE_URL": f"sqlite:///{scratch}/feedback.db", "CDS_DASHBOARD_PASSWORD": PASSWORD,
    }) as server, sync_playwright() as playwright:
        _some_feedback(server.base)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        for width in (NARROW, WIDE):
            height = 900 if width == NARROW else 1000
            context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1,
                                          http_credentials={"username": "committee", "password": PASSWORD})
            page = context.new_page()
            for name, path in PAGES.items():
                response = page.goto(server.base + path)
                if response is None or response.status != 200:
                    print(f"skipped {name}: {response.status if response else 'no answer'}")
                    continue
                page.wait_for_load_state("networkidle")
                page.screenshot(path=str(OUT / f"{name}-{width}.png"))  # the first screen, as a reader sees it
                print(f"wrote docs/screenshots/{name}-{width}.png")
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
