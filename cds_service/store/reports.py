"""The CDS committee's feedback report: per card topic, how often cards were shown, accepted and overridden (and
why), week by week. It is how a hospital sees alert fatigue: a topic shown often and rarely accepted.

`feedback_report` is a pure function of the store's rows (no settings, no HTTP), shared by
`cds-service feedback report`, `GET /feedback/report` and the dashboard page.

How a card is counted: each card shown is one row of `cards_shown`; its outcome is the latest feedback sent for its
uuid (an EHR may send feedback for a card more than once), so a card counts once, as accepted or overridden, or as
neither when no feedback came. The acceptance rate is accepted / shown. Feedback for a card the store has no
"shown" row for (shown before cards were recorded, or dropped when the queue was full) is reported under the topic
`(unknown)`, by the week it was received, so nothing the EHR sent is left out.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.engine import Engine

from cds_service.store.schema import card_feedback, cards_shown

UNKNOWN_TOPIC = "(unknown)"
NO_REASON = "(none given)"


@dataclass
class _Tally:
    shown: int = 0
    accepted: int = 0
    overridden: int = 0

    def add(self, shown: bool, outcome: str | None) -> None:
        self.shown += shown
        self.accepted += outcome == "accepted"
        self.overridden += outcome == "overridden"

    def as_dict(self) -> dict[str, Any]:
        return {
            "shown": self.shown,
            "accepted": self.accepted,
            "overridden": self.overridden,
            "acceptance_rate": round(self.accepted / self.shown, 3) if self.shown else None,
        }


@dataclass
class _Topic:
    total: _Tally = field(default_factory=_Tally)
    weeks: dict[str, _Tally] = field(default_factory=dict)
    reasons: Counter[str] = field(default_factory=Counter)
    indicators: Counter[str] = field(default_factory=Counter)
    days: Counter[str] = field(default_factory=Counter)  # cards shown per UTC day (the dashboard's daily chart)

    def add(self, week: str, shown: bool, outcome: str | None, reason: Any) -> None:
        self.total.add(shown, outcome)
        self.weeks.setdefault(week, _Tally()).add(shown, outcome)
        if outcome == "overridden":
            self.reasons[_reason_code(reason)] += 1


def iso_week(moment: datetime) -> str:
    year, week, _day = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _reason_code(override_reason: Any) -> str:
    reason = override_reason.get("reason") if isinstance(override_reason, dict) else None
    code = reason.get("code") if isinstance(reason, dict) else None
    return code if isinstance(code, str) and code else NO_REASON


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC times


def feedback_report(engine: Engine, *, since: date | None = None, service_id: str | None = None) -> dict[str, Any]:
    """Per card topic: cards shown, accepted, overridden by reason, acceptance rate, and the same per ISO week.

    `since` keeps cards shown (and unmatched feedback received) on or after that day (UTC); `service_id` keeps one
    service's cards. Topics are sorted by cards shown, most first."""
    topics: dict[str, _Topic] = {}
    shown_filters = []
    feedback_filters = []
    if since is not None:
        shown_filters.append(cards_shown.c.shown_at >= _start_of(since))
        feedback_filters.append(card_feedback.c.received_at >= _start_of(since))
    if service_id is not None:
        shown_filters.append(cards_shown.c.service_id == service_id)
        feedback_filters.append(card_feedback.c.service_id == service_id)

    # Every card shown with each feedback sent for it, in order: the last row of a card holds its latest outcome.
    shown_with_feedback = (
        select(cards_shown.c.id, cards_shown.c.topic, cards_shown.c.indicator, cards_shown.c.shown_at,
               card_feedback.c.outcome, card_feedback.c.override_reason)
        .outerjoin(card_feedback, card_feedback.c.card_uuid == cards_shown.c.card_uuid)
        .where(*shown_filters)
        .order_by(cards_shown.c.id, card_feedback.c.id)
    )
    unmatched_feedback = (
        select(card_feedback.c.card_uuid, card_feedback.c.received_at, card_feedback.c.outcome,
               card_feedback.c.override_reason)
        .where(~exists().where(cards_shown.c.card_uuid == card_feedback.c.card_uuid), *feedback_filters)
        .order_by(card_feedback.c.card_uuid, card_feedback.c.id)
    )
    with engine.connect() as connection:
        last: Any = None
        for row in connection.execute(shown_with_feedback):
            if last is not None and last.id != row.id:
                _count_shown(topics, last)
            last = row
        if last is not None:
            _count_shown(topics, last)

        previous: Any = None
        for entry in connection.execute(unmatched_feedback):
            if previous is not None and previous.card_uuid != entry.card_uuid:
                _count_unmatched(topics, previous)
            previous = entry
        if previous is not None:
            _count_unmatched(topics, previous)

    ordered = sorted(topics.items(), key=lambda item: (-item[1].total.shown, item[0]))
    return {
        "since": since.isoformat() if since else None,
        "service_id": service_id,
        "topics": [
            {
                "topic": name,
                **topic.total.as_dict(),
                "overridden_by_reason": dict(topic.reasons.most_common()),
                "shown_by_indicator": dict(sorted(topic.indicators.items())),
                "weeks": [{"week": week, **tally.as_dict()} for week, tally in sorted(topic.weeks.items())],
                "days": [{"day": day, "shown": shown} for day, shown in sorted(topic.days.items())],
            }
            for name, topic in ordered
        ],
    }


def _count_shown(topics: dict[str, _Topic], row: Any) -> None:
    topic = topics.setdefault(row.topic, _Topic())
    topic.indicators[row.indicator] += 1
    topic.days[_utc(row.shown_at).date().isoformat()] += 1
    topic.add(iso_week(_utc(row.shown_at)), True, row.outcome, row.override_reason)


def _count_unmatched(topics: dict[str, _Topic], row: Any) -> None:
    topics.setdefault(UNKNOWN_TOPIC, _Topic()).add(iso_week(_utc(row.received_at)), False, row.outcome,
                                                   row.override_reason)
