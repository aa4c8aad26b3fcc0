"""Imatinib plasma levels already measured for the patient, converted to ng/mL, with when each was drawn and
whether it was a trough.

A trough is drawn just before the next dose; a level drawn hours after a dose is higher and cannot be held against
a trough target. So each level carries what its record says about its timing, and where it says it.
"""

import re
from dataclasses import dataclass, replace
from typing import Literal

from cds_service.facts.timeline import Instant, parse_instant
from cds_service.fhir import Resource, concept_text, has_code_in, one_or_many, raw_codings

RESULT_STATUSES = frozenset({"final", "amended", "corrected"})


def is_result(observation: Resource) -> bool:
    """A final, amended or corrected Observation (a status of the wrong JSON type is not one)."""
    status = observation.get("status")
    return isinstance(status, str) and status in RESULT_STATUSES
# Factors to ng/mL. Imatinib's molar mass is 493.6 g/mol (free base).
_TO_NG_ML = {
    "ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "mcg/l": 1.0,
    "mg/l": 1000.0, "ug/ml": 1000.0, "µg/ml": 1000.0, "mcg/ml": 1000.0,
    "nmol/l": 0.4936, "umol/l": 493.6, "µmol/l": 493.6,
}


# LOINC 103609-4 names the sample by its time after the dose ("--24 hours post dose").
_CODED_HOURS_AFTER_DOSE: dict[tuple[str, str], float] = {("http://loinc.org", "103609-4"): 24.0}
# "the dose", "the morning dose", "her last imatinib dose", "this morning's tablet": up to three words between
# "after" and the dose; never "after the dose change" (a trough is drawn days after a dose change).
_DOSE_AFTER = (r"(?:post|after)[- ]?(?:[\w']+\s+){0,3}?(?:dose|dosing|administration|intake|tablet|imatinib|gleevec|"
               r"glivec)s?\b"
               r"(?!\s*(?:change|increase|reduction|adjust|escalat|modif|titrat))")
_HOURS_AFTER = re.compile(rf"\b(\d+(?:\.\d+)?)\s*(h|hr|hrs|hours?|min|mins|minutes)\s*{_DOSE_AFTER}", re.IGNORECASE)
_TROUGH = r"(?:trough|pre[- ]?dose|before (?:the )?(?:next )?dose)"
_NOT_TROUGH_WORDS = {
    # "Not a trough sample", "non-trough", "this is not a pre-dose sample": the word "trough" said of what it was not.
    "not-trough": re.compile(rf"\b(?:not|non|no longer)[- ](?:(?:a|an|the|drawn|taken|as)\s+){{0,3}}{_TROUGH}",
                             re.IGNORECASE),
    "peak": re.compile(r"\bpeak\b|\bc\s?max\b", re.IGNORECASE),
    "random": re.compile(r"\brandom\b", re.IGNORECASE),
    "post-dose": re.compile(rf"\bpost[- ]?dose\b|\b{_DOSE_AFTER}", re.IGNORECASE),
}
_TROUGH_WORDS = re.compile(
    r"\btrough\b|\bpre[- ]?dose\b|\bbefore (?:the )?(?:next )?dose\b|\bc\s?min\b|\bc0\b", re.IGNORECASE
)

# Any of the words above: a text none of them can match (most names: "Imatinib level") is passed over in one search.
_ANY_TIMING_WORDS = re.compile(
    "|".join(f"(?:{p.pattern})" for p in (_HOURS_AFTER, *_NOT_TROUGH_WORDS.values(), _TROUGH_WORDS)), re.IGNORECASE
)

SampleKind = Literal["trough", "not-trough", "unknown"]


@dataclass(frozen=True, slots=True)
class SampleTiming:
    """What the record says about when the sample was drawn relative to the dose, and where it says it."""

    kind: SampleKind
    text: str  # "4 h after a dose", "peak", "trough"; "" when nothing is said
    read_from: str  # "its code", "its note", "the last recorded dose (MedicationAdministration/x)"; "" when unknown
    hours_after_dose: float | None = None


UNKNOWN_TIMING = SampleTiming("unknown", "", "")


@dataclass(frozen=True, slots=True)
class ImatinibLevel:
    ng_ml: float
    # When it was drawn (effectiveDateTime or effectivePeriod.start); never the report time (`issued`).
    drawn: Instant | None
    reference: str | None
    timing: SampleTiming = UNKNOWN_TIMING
    reported: str | None = None  # `issued`, shown only when no draw time is recorded
    # valueQuantity.comparator ("<", "<=", ">=", ">"): the value is a bound (a result below the assay's limit is
    # "<50"), not a measured concentration. "" for a measured value.
    comparator: str = ""
    # A result that cannot be read as a concentration (no number, a unit not convertible to ng/mL): why, as a
    # clause ("its unit "IU/mL" is not one ..."), and the value as recorded. `ng_ml` is then 0, which no rule
    # reads as a measurement (rules/levels.py: reported_value).
    unread: str = ""
    recorded: str = ""

    @property
    def shown(self) -> str:
        """The value as reported, with its comparator: "<50 ng/mL", "640 ng/mL"; as recorded when unread."""
        if self.unread:
            return self.recorded
        value = f"{self.ng_ml:g}" if abs(self.ng_ml) < 1e5 else f"{self.ng_ml:,.0f}"
        return f"{self.comparator}{value} ng/mL"

    @property
    def is_bound(self) -> bool:
        return self.comparator != ""

    @property
    def when(self) -> str | None:
        """The draw time as the record gives it."""
        return self.drawn.text if self.drawn else None


def draw_time(observation: Resource) -> Instant | None:
    """When the sample was taken: effectiveDateTime, or the start of effectivePeriod. `issued` is when the report
    was released, which can be days later, so it is never read as the draw time."""
    period = observation.get("effectivePeriod")
    return parse_instant(observation.get("effectiveDateTime")) or parse_instant(
        period.get("start") if isinstance(period, dict) else None
    )


def _texts(observation: Resource) -> list[tuple[str, str]]:
    """(where, text) for every free text an Observation may describe its sample in, in every FHIR version."""
    found: list[tuple[str, str]] = []
    code = observation.get("code")
    for text in (concept_text(code), *(c.get("display") for c in raw_codings(code))):
        if isinstance(text, str) and text:
            found.append(("its name", text))
    if isinstance(observation.get("valueString"), str):
        found.append(("its value", observation["valueString"]))
    for key in ("comments", "comment"):  # DSTU2, STU3
        if isinstance(observation.get(key), str):
            found.append(("its comment", observation[key]))
    for note in one_or_many(observation.get("note")):  # R4 (an object where a client sends one)
        if isinstance(note, dict) and isinstance(note.get("text"), str):
            found.append(("its note", note["text"]))
    return found


def sample_timing(observation: Resource) -> SampleTiming:
    """The sample's timing from its own record: a code that names it, then its name, comments and notes.

    Anything that says the sample was not a trough wins over the word "trough": a level is never called a trough
    on weaker evidence than the evidence that it was not one.
    """
    for coding in raw_codings(observation.get("code")):
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):  # what `codings` would drop
            continue
        hours = _CODED_HOURS_AFTER_DOSE.get((system, code))
        if hours is not None:
            return SampleTiming("unknown", f"{hours:g} h after a dose", "its code", hours)
    said_trough: tuple[str, str] | None = None
    for where, text in _texts(observation):
        if _ANY_TIMING_WORDS.search(text) is None:
            continue
        match = _HOURS_AFTER.search(text)
        if match:
            hours = float(match.group(1)) / (60 if match.group(2).lower().startswith("min") else 1)
            return SampleTiming("unknown", f"{hours:g} h after a dose", where, hours)
        for word, pattern in _NOT_TROUGH_WORDS.items():
            if pattern.search(text):
                text = {"post-dose": "a post-dose sample", "not-trough": "recorded as not a trough"}.get(
                    word, f"a {word} sample")
                return SampleTiming("not-trough", text, where)
        if said_trough is None and _TROUGH_WORDS.search(text):
            said_trough = (where, text)
    if said_trough:
        return SampleTiming("trough", "a trough", said_trough[0])
    return UNKNOWN_TIMING


def timed_by_interval(timing: SampleTiming, interval_hours: float, window_hours: float) -> SampleTiming:
    """A sample N hours after a dose is a trough when N is within `window_hours` of the dosing interval."""
    if timing.hours_after_dose is None:
        return timing
    kind: SampleKind = "trough" if abs(timing.hours_after_dose - interval_hours) <= window_hours else "not-trough"
    return SampleTiming(kind, timing.text, timing.read_from, timing.hours_after_dose)


def observation_time(observation: Resource) -> str | None:
    when = observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get("start")
    when = when or observation.get("issued")
    return when if isinstance(when, str) else None


def _short(text: object, limit: int = 40) -> str:
    shown = " ".join(str(text).split())
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


def _concentration(obs: Resource) -> float | tuple[str, str]:
    """The value in ng/mL, or (why, as recorded) when the result cannot be read as a concentration. A final level
    the service cannot read is still a level on record: the cards say so rather than act as if there were none."""
    quantity = obs.get("valueQuantity")
    if isinstance(quantity, dict):
        value, unit = quantity.get("value"), quantity.get("code") or quantity.get("unit")
        if value is None:
            return "its quantity has no number", "no value"
        if not isinstance(value, int | float) or isinstance(value, bool):
            return "its value is not a number", f"{_short(value)} {_short(unit or '')}".strip()
        if not isinstance(unit, str) or not unit.strip():
            return "it has no unit", f"{value:g} (no unit)"
        factor = _factor(unit)
        if factor is None:
            return (f"its unit \"{_short(unit, 20)}\" is not one the service converts to ng/mL",
                    f"{value:g} {_short(unit, 20)}")
        return float(value) * factor
    if isinstance(obs.get("valueString"), str):
        return "it is recorded as text, not as a number with a unit", f'"{_short(obs["valueString"])}" (text)'
    if isinstance(concept := obs.get("valueCodeableConcept"), dict):
        text = concept_text(concept) or next((c.get("display") for c in raw_codings(concept) if c.get("display")),
                                             None)
        return "it is recorded as a coded answer, not as a number with a unit", f'"{_short(text or "a code")}"'
    absent = obs.get("dataAbsentReason")
    why = (concept_text(absent) or next((c.get("code") for c in raw_codings(absent) if c.get("code")), None)
           if isinstance(absent, dict) else None)
    return "it has no value" + (f" (data absent: {_short(why, 30)})" if why else ""), "no value"


def _factor(unit: str) -> float | None:
    # The Greek small mu (U+03BC) is typed for the micro sign (U+00B5) as often as not: both are micro.
    return _TO_NG_ML.get(unit.strip().lower().replace("\u03bc", "\u00b5"))


def imatinib_levels(
    observations: list[Resource], level_codes: set[tuple[str, str]] | None
) -> list[ImatinibLevel]:
    """Final results only, newest drawn first (levels without a draw time last); one that cannot be read as a
    concentration is kept, marked `unread`. With `level_codes` None, every result given is read (for naming)."""
    levels = []
    for obs in observations:
        if not is_result(obs):
            continue
        if level_codes is not None and not has_code_in(obs.get("code"), level_codes):
            continue
        ref = f"Observation/{obs['id']}" if isinstance(obs.get("id"), str) else None
        issued = obs.get("issued")
        reported = issued if isinstance(issued, str) else None
        value = _concentration(obs)
        if isinstance(value, tuple):
            levels.append(ImatinibLevel(0.0, draw_time(obs), ref, sample_timing(obs), reported,
                                        unread=value[0], recorded=value[1]))
            continue
        comparator = obs["valueQuantity"].get("comparator")
        levels.append(ImatinibLevel(value, draw_time(obs), ref, sample_timing(obs), reported,
                                    comparator.strip() if isinstance(comparator, str) else ""))
    levels.sort(key=lambda level: (level.drawn is not None, level.drawn.at if level.drawn else 0), reverse=True)
    return levels


@dataclass(frozen=True, slots=True)
class UncodedLevel:
    """A result named as an imatinib level under a code the knowledge base does not know: named, never used."""

    level: ImatinibLevel
    name: str
    codes: str  # "system|code" of its codings, as the card quotes them; "" when it has none


def uncoded_levels(observations: list[Resource]) -> list[UncodedLevel]:
    """Each final result named as an imatinib level under a code the knowledge base does not know, read as a level
    would be (so the card can say what it holds), newest first."""
    found = []
    for obs in observations:
        level = next(iter(imatinib_levels([obs], None)), None)
        if level is None:
            continue
        concept = obs.get("code")
        codes = ", ".join(f"{c.get('system') or 'no system'}|{c['code']}" for c in raw_codings(concept)
                          if isinstance(c.get("code"), str))
        found.append(UncodedLevel(level, concept_text(concept) or "an unnamed result", codes))
    found.sort(key=lambda u: (u.level.drawn is not None, u.level.drawn.at if u.level.drawn else 0), reverse=True)
    return found


@dataclass(frozen=True, slots=True)
class GivenDose:
    """An imatinib dose recorded as given (a MedicationAdministration), when it was given."""

    at: Instant
    reference: str | None


_NOT_GIVEN = frozenset({"not-done", "entered-in-error", "stopped", "on-hold"})


def given_at(administration: Resource) -> Instant | None:
    """When a MedicationAdministration was given, to the minute (STU3/R4 effective[x], DSTU2 effectiveTime[x]);
    None when it was not given or the time is not precise enough to time a sample by."""
    if administration.get("wasNotGiven") is True or administration.get("status") in _NOT_GIVEN:
        return None
    for key in ("effectiveDateTime", "effectiveTimeDateTime"):
        at = parse_instant(administration.get(key))
        if at is not None:
            return at if at.precision == "time" else None
    for key in ("effectivePeriod", "effectiveTimePeriod"):
        period = administration.get(key)
        at = parse_instant(period.get("start")) if isinstance(period, dict) else None
        if at is not None:
            return at if at.precision == "time" else None
    return None


def timed_by_doses(
    level: ImatinibLevel, given: list[GivenDose], interval_hours: float, window_hours: float
) -> ImatinibLevel:
    """The level's timing from its own record and from the last dose given before it was drawn.

    The two are combined so that either saying "not a trough" makes it not a trough."""
    own = timed_by_interval(level.timing, interval_hours, window_hours)
    from_dose = UNKNOWN_TIMING
    if level.drawn is not None and level.drawn.precision == "time":
        before = [g for g in given if g.at.at <= level.drawn.at]
        if before:
            last = max(before, key=lambda g: g.at.at)
            hours = (level.drawn.at - last.at.at).total_seconds() / 3600
            where = f"the last recorded dose ({last.reference or 'a MedicationAdministration'}, {last.at.text})"
            from_dose = timed_by_interval(SampleTiming("unknown", f"{hours:.3g} h after a dose", where, hours),
                                          interval_hours, window_hours)
    for kind in ("not-trough", "trough"):
        for timing in (from_dose, own):
            if timing.kind == kind:
                return _with_timing(level, timing)
    return _with_timing(level, own)


def _with_timing(level: ImatinibLevel, timing: SampleTiming) -> ImatinibLevel:
    """The level with `timing`: itself when that is the timing it already has (it is frozen), most levels."""
    if timing is level.timing:
        return level
    return replace(level, timing=timing)


LATER_THAN_TROUGH = "its draw time against the labelled trough"


def trough_before_untimed(
    levels: list[ImatinibLevel], interval_hours: float, window_hours: float
) -> list[ImatinibLevel]:
    """Levels latest first, except that a level labelled a trough comes first when the latest, which the record does
    not time, was drawn after it and well inside one dosing interval (earlier than the interval less the trough
    window): two samples of one interval cannot both be troughs, and the labelled one is the trough; one drawn about
    an interval later may be the next trough, and stays the latest. Without this the untimed later sample (read as
    a trough, as an untimed level is) hid a labelled trough below target drawn the same morning. The later sample
    is kept, timed as not a trough by its draw time against the trough's."""
    latest = levels[0] if levels else None
    if latest is None or latest.timing.kind != "unknown" or latest.drawn is None or latest.drawn.precision != "time":
        return levels
    for index, level in enumerate(levels[1:], start=1):
        if level.drawn is None or level.drawn.precision != "time":
            continue
        hours = (latest.drawn.at - level.drawn.at).total_seconds() / 3600
        if hours >= interval_hours - window_hours:
            break  # about one interval or more before it: the untimed one may be the next trough
        if level.timing.kind == "trough" and hours > 0:
            timing = SampleTiming(
                "not-trough", f"drawn {hours:.3g} h after the trough of {level.drawn.text} ({level.shown})",
                f"{LATER_THAN_TROUGH} ({level.reference or 'an earlier result'})",
            )
            return [level, replace(latest, timing=timing), *levels[1:index], *levels[index + 1:]]
    return levels
