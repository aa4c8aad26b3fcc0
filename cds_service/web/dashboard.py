"""/dashboard: the CDS committee's feedback report as charts, behind a password from the settings.

Off by default, and off means not served: without CDS_DASHBOARD_PASSWORD the route does not exist (404, like any
unknown path), so a deployment never shows it by accident. With it, HTTP Basic (user CDS_DASHBOARD_USER): the report
holds no patient data, but it is for staff. The charts are drawn by the vendored Chart.js from the same numbers the
page also gives as tables (for screen readers and for copying).
"""

import base64
import binascii
import logging
from collections.abc import Callable
from datetime import date
from secrets import compare_digest
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from cds_service.settings import Settings
from cds_service.store.reports import feedback_report

log = logging.getLogger("cds_service.pages")
REALM = 'Basic realm="CDS committee dashboard", charset="UTF-8"'


def committee_member(request: Request, settings: Settings) -> bool:
    """Whether the request carries the dashboard's user and password (compared in constant time)."""
    if settings.dashboard_password is None:
        return False
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, sep, password = base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    expected = settings.dashboard_password.get_secret_value()
    user_ok = compare_digest(user.encode(), settings.dashboard_user.encode())
    password_ok = compare_digest(password.encode(), expected.encode())
    return bool(sep) and user_ok and password_ok


def _rate(part: int, shown: int) -> float | None:
    return round(part / shown, 3) if shown else None


def chart_data(report: dict[str, Any]) -> dict[str, Any]:
    """The report reshaped for the charts: weeks on the x axis, one series per card topic."""
    topics = report["topics"]
    weeks = sorted({w["week"] for t in topics for w in t["weeks"]})
    days = sorted({d["day"] for t in topics for d in t.get("days", [])})
    by_week = {t["topic"]: {w["week"]: w for w in t["weeks"]} for t in topics}
    by_day = {t["topic"]: {d["day"]: d for d in t.get("days", [])} for t in topics}
    reasons = sorted({r for t in topics for r in t["overridden_by_reason"]})
    shown_topics = [t for t in topics if t["shown"]]
    return {
        "topics": [t["topic"] for t in topics],
        "weeks": weeks,
        "acceptance": [
            {"topic": t["topic"], "data": [
                _rate(by_week[t["topic"]][w]["accepted"], by_week[t["topic"]][w]["shown"])
                if w in by_week[t["topic"]] else None for w in weeks]}
            for t in shown_topics
        ],
        "override": [
            {"topic": t["topic"], "data": [
                _rate(by_week[t["topic"]][w]["overridden"], by_week[t["topic"]][w]["shown"])
                if w in by_week[t["topic"]] else None for w in weeks]}
            for t in shown_topics
        ],
        "reasons": reasons,
        "reasons_by_topic": [
            {"topic": t["topic"], "data": [t["overridden_by_reason"].get(r, 0) for r in reasons]}
            for t in topics if t["overridden_by_reason"]
        ],
        "days": days,
        "shown_per_day": [
            {"topic": t["topic"], "data": [by_day[t["topic"]].get(d, {}).get("shown", 0) for d in days]}
            for t in shown_topics
        ],
    }


async def dashboard_page(request: Request, settings: Settings, render: Callable[..., HTMLResponse]) -> HTMLResponse:
    if not committee_member(request, settings):
        response = render("error.html", 401, title="The committee's dashboard needs its password",
                          message="Sign in with the dashboard's user name and password (CDS_DASHBOARD_USER and "
                          "CDS_DASHBOARD_PASSWORD of the service).")
        response.headers["WWW-Authenticate"] = REALM
        return response
    since_text = request.query_params.get("since", "").strip()
    try:
        since = date.fromisoformat(since_text) if since_text else None
    except ValueError:
        return render("error.html", 400, title="Not a date",
                      message=f"'since' must be a date (YYYY-MM-DD); got {since_text[:40]!r}.",
                      links=[{"url": "/dashboard", "label": "The whole report"}])
    recorder = getattr(request.app.state, "cards_shown", None)
    if recorder is not None:
        await recorder.flush()  # this worker's cards shown so far are in the report
    try:
        report = await run_in_threadpool(feedback_report, request.app.state.store.engine, since=since)
    except SQLAlchemyError as exc:
        log.error("dashboard report failed", extra={"error": type(exc).__name__})
        return render("error.html", 503, title="The report could not be read",
                      message="The feedback report could not be read from the database; retry.")
    return render("dashboard.html", report=report, charts=chart_data(report), since=since_text)
