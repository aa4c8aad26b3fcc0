"""When a medicine started and ended, read as instants from whatever each FHIR version records.

Times are compared as parsed instants with their precision, never as strings: "2026-11-20T23:30:00-05:00" is the
21st in UTC, and "2026-11" is a month, not a day.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Literal

from cds_service.facts.medications import MedicationUse
from cds_service.fhir import Resource, dosages

Precision = Literal["year", "month", "day", "time"]

_DATE_TIME = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class Instant:
    """A FHIR date or dateTime as a UTC instant (the start of its period when it is only a date or month)."""

    at: datetime
    precision: Precision
    text: str

    @property
    def day(self) -> date:
        return self.at.date()

    def shown(self) -> str:
        """The date as the record gives it, for a card: a day, or the month or year when that is all it says."""
        if self.precision == "year":
            return f"{self.at.year} (year only)"
        if self.precision == "month":
            return f"{self.at:%Y-%m} (month only)"
        return self.day.isoformat()


def parse_instant(value: object) -> Instant | None:
    """A FHIR date/dateTime/instant; None for anything else. A time without a zone is read as UTC."""
    if not isinstance(value, str):
        return None
    match = _DATE_TIME.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, zone = match.groups()  # by position: a dict of the groups cost more
    try:
        if hour is not None:
            tz = UTC
            if zone and zone != "Z":
                sign = -1 if zone[0] == "-" else 1
                tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)
            return Instant(local.astimezone(UTC), "time", value)
        precision: Precision = "day" if day else "month" if month else "year"
        at = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
        return Instant(at, precision, value)
    except ValueError:  # 2026-02-30, hour 25: not a date
        return None


def _period(value: object) -> tuple[Instant | None, Instant | None]:
    if not isinstance(value, dict):
        return None, None
    return parse_instant(value.get("start")), parse_instant(value.get("end"))


def _bounds(resource: Resource) -> tuple[Instant | None, Instant | None]:
    """The dosage's Timing.repeat.boundsPeriod, the first one that gives a start or an end."""
    for dosage in dosages(resource):
        timing = dosage.get("timing")
        repeat = timing.get("repeat") if isinstance(timing, dict) else None
        if isinstance(repeat, dict):
            start, end = _period(repeat.get("boundsPeriod"))
            if start or end:
                return start, end
    return None, None


@dataclass(frozen=True, slots=True)
class Span:
    """When a use started and ended, and which element said so (a card names it)."""

    start: Instant | None
    end: Instant | None
    end_from: str | None


def span_of(use: MedicationUse) -> Span:
    """Start and end of an order or statement.

    Orders: DSTU2 `dateWritten`/`dateEnded`; STU3/R4 `authoredOn`; all: `dispenseRequest.validityPeriod` and the
    dosage's `boundsPeriod`. Statements: `effectivePeriod` or `effectiveDateTime`.
    """
    resource = use.resource
    if resource.get("resourceType") == "MedicationStatement":
        start, end = _period(resource.get("effectivePeriod"))
        start = start or parse_instant(resource.get("effectiveDateTime"))
        if end is None and use.status in ("completed", "stopped"):
            # Recorded as no longer taken, with no end date: it ended by the day that was recorded, at the latest.
            asserted = parse_instant(resource.get("dateAsserted"))
            return Span(start, asserted, "by dateAsserted, the day it was recorded as stopped" if asserted else None)
        return Span(start, end, "effectivePeriod.end" if end else None)
    dispense = resource.get("dispenseRequest")
    valid_start, valid_end = _period(dispense.get("validityPeriod") if isinstance(dispense, dict) else None)
    bounds_start, bounds_end = _bounds(resource)
    written = parse_instant(resource.get("authoredOn")) or parse_instant(resource.get("dateWritten"))
    ended = parse_instant(resource.get("dateEnded"))
    start = bounds_start or valid_start or written
    for end, where in (
        (ended, "dateEnded"),
        (bounds_end, "the dosage's boundsPeriod.end"),
        (valid_end, "dispenseRequest.validityPeriod.end"),
    ):
        if end is not None:
            return Span(start, end, where)
    return Span(start, None, None)


def written_on(use: MedicationUse) -> Instant | None:
    """When an order was written or a statement says the use began: the date its dose applies from."""
    resource = use.resource
    if resource.get("resourceType") == "MedicationStatement":
        return span_of(use).start
    return (
        parse_instant(resource.get("authoredOn"))
        or parse_instant(resource.get("dateWritten"))
        or span_of(use).start
    )


def taken_until(use: MedicationUse) -> Instant | None:
    """The end of taking a medicine as its record states it, whatever its status says: DSTU2 `dateEnded`, the
    dosage's `boundsPeriod.end`, a statement's `effectivePeriod.end`. (`validityPeriod.end` bounds dispensing, not
    taking, so it does not end an active order.)"""
    resource = use.resource
    if resource.get("resourceType") == "MedicationStatement":
        return _period(resource.get("effectivePeriod"))[1]
    return parse_instant(resource.get("dateEnded")) or _bounds(resource)[1]


def ended_before(use: MedicationUse, day: date) -> bool:
    end = taken_until(use)
    return end is not None and end.day < day
