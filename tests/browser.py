"""The shared browser for page tests: Playwright for Python driving Debian's chromium (no browser download, ever).

`.ci/run` installs the Debian package; under CI a missing chromium fails the tests, locally it skips them. Every
page is opened in a context that refuses (and records) any request leaving the service: pages must work on a
hospital network without internet.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.servers import Server, running_server

CHROMIUM = Path(os.environ.get("CDS_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
NARROW, WIDE = 400, 1280  # an EHR side panel, a desktop
DASHBOARD_USER, DASHBOARD_PASSWORD = "committee", "committee-test-password"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}: the browser tests cannot run in CI (.ci/run installs Debian's chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Per module: Playwright's sync API keeps an event loop running while it is open, which would break the
    `asyncio.run` of tests in other modules."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Pages:
    """A browser tab on a running service, the requests that tried to leave it (refused), and what the page's
    Content-Security-Policy blocked (an inline style or script the page needed and did not get)."""

    server: Server
    page: object
    outside: list[str] = field(default_factory=list)
    blocked_by_policy: list[str] = field(default_factory=list)

    def open(self, path: str) -> object:
        response = self.page.goto(self.server.base + path)
        self.page.wait_for_load_state("load")
        return response


def _pages(browser, server: Server, width: int, **context_options) -> Iterator[Pages]:
    context = browser.new_context(viewport={"width": width, "height": 900}, **context_options)
    tab = Pages(server, context.new_page())
    tab.page.on("console", lambda message: tab.blocked_by_policy.append(message.text)
                if "Content Security Policy" in message.text else None)
    local = urlsplit(server.base).netloc

    def guard(route) -> None:
        url = route.request.url
        if urlsplit(url).netloc == local:
            route.continue_()
        else:
            tab.outside.append(url)
            route.abort()

    context.route("**/*", guard)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture(scope="module")
def page_server(tmp_path_factory) -> Iterator[Server]:
    """A real `cds-service serve` (uvicorn) with its own SQLite file and a dashboard password."""
    folder = tmp_path_factory.mktemp("pages")
    env = {
        "CDS_DATABASE_URL": f"sqlite:///{folder / 'feedback.db'}",
        "CDS_DASHBOARD_PASSWORD": DASHBOARD_PASSWORD,
    }
    with running_server(folder, env) as server:
        yield server


@pytest.fixture
def pages(browser, page_server: Server) -> Iterator[Pages]:
    yield from _pages(browser, page_server, WIDE)


@pytest.fixture
def narrow_pages(browser, page_server: Server) -> Iterator[Pages]:
    yield from _pages(browser, page_server, NARROW)


@pytest.fixture
def committee_pages(browser, page_server: Server) -> Iterator[Pages]:
    """A tab signed in to the dashboard (HTTP Basic)."""
    yield from _pages(browser, page_server, WIDE,
                      http_credentials={"username": DASHBOARD_USER, "password": DASHBOARD_PASSWORD})
