"""The patient as the dose depends on them: age from the birth date, the latest weight and height, and the BSA.

A birth date may give only a year or a month; the age is then a range, and a patient who may be under 18 is
treated as a child (the paediatric maximum is the lower dose). Weights and heights come in kg, g or lb and cm, m or
in; body-surface area is Mosteller's.

A weight or height that is not a finite positive number in one of those units is set aside and named, never computed
with (1e200 kg and 1e200 cm overflowed the BSA into a 500). A child's dose is computed only from measures within the
range of a person (HUMAN_WEIGHT_KG, HUMAN_HEIGHT_CM): a height of 1.35 "cm" for a 30 kg child gave "0 mg/day".
"""

import math
from dataclasses import dataclass
from datetime import date
from typing import Literal

from cds_service.facts.labs import draw_time, is_result
from cds_service.facts.timeline import Instant, parse_instant
from cds_service.fhir import Resource, belongs_to, has_code_in, local_reference
from cds_service.knowledge.models import Paediatric

# Factors to kg and to cm (definitions of the units; UCUM codes and the words clients write).
_TO_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237,
          "[oz_av]": 0.028349523125, "oz": 0.028349523125}
_TO_CM = {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54, "inch": 2.54, "inches": 2.54}
# What this service reads as the weight and height of a person, for a dose by BSA: a check of the data (a unit or
# typing error: metres written as cm, kg as g), not a clinical limit. Wide on purpose: a newborn's measures and the
# largest adult's lie inside (500 kg is the PK model's own upper bound, MAX_WEIGHT_KG).
HUMAN_WEIGHT_KG = (0.2, 500.0)
HUMAN_HEIGHT_CM = (20.0, 300.0)


@dataclass(frozen=True, slots=True)
class Measurement:
    """A body weight (kg) or height (cm), when it was measured, and how it was written."""

    value: float
    on: Instant | None
    reference: str | None
    as_written: str

    def shown(self, unit: str) -> str:
        when = f" on {self.on.shown()}" if self.on else " (no date)"
        written = f" ({self.as_written})" if not self.as_written.endswith(f" {unit}") else ""
        return f"{self.value:.4g} {unit}{written}{when}"

    def age_days(self, today: date) -> int | None:
        return (today - self.on.day).days if self.on else None


@dataclass(frozen=True, slots=True)
class SetAside:
    """A weight or height that could not be used, when it was measured, and why (said on the card)."""

    on: Instant | None
    text: str  # e.g. "4.4 [ft_i] on 2026-12-01: a unit this service cannot convert"


@dataclass(frozen=True, slots=True)
class PatientProfile:
    birth: Instant | None
    youngest_age: int | None  # the age at today's date, for the latest birth date the record allows
    oldest_age: int | None
    weight: Measurement | None
    height: Measurement | None
    sex: Literal["male", "female", "unknown"] = "unknown"  # from Patient.gender (other, unknown: unknown)
    # The latest weight or height that could not be used, when it is newer than the one used (or none is).
    weight_set_aside: SetAside | None = None
    height_set_aside: SetAside | None = None

    def may_be_child(self, adult_from: int) -> bool:
        return self.youngest_age is not None and self.youngest_age < adult_from

    def age_text(self) -> str:
        if self.birth is None or self.youngest_age is None:
            return "age not known"
        if self.youngest_age == self.oldest_age:
            return f"{self.youngest_age} years old (born {self.birth.shown()})"
        return f"{self.youngest_age} or {self.oldest_age} years old (born {self.birth.shown()})"


NO_PROFILE = PatientProfile(None, None, None, None, None)


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _age_range(birth: Instant, today: date) -> tuple[int, int]:
    """Youngest and oldest possible age: a year-only birth date may be any day of that year."""
    first = birth.day
    if birth.precision == "year":
        last = date(first.year, 12, 31)
    elif birth.precision == "month":
        following = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
        last = date.fromordinal(following.toordinal() - 1)
    else:
        last = first
    return _age(last, today), _age(first, today)


def _measurement(observation: Resource, factors: dict[str, float]) -> Measurement | SetAside | None:
    """The measure in kg or cm; why it cannot be used (not a finite positive number, a unit not converted); or None
    when the Observation carries no quantity at all."""
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    on = draw_time(observation)
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    shown_unit = str(quantity.get("unit") or unit or "no unit")
    when = f" on {on.shown()}" if on else " (no date)"
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        number = math.inf
    if not math.isfinite(number):
        return SetAside(on, f"{'a value too large to read' if isinstance(value, int) else f'{value}'} {shown_unit}"
                            f"{when}: not a finite number")
    if number <= 0:
        return SetAside(on, f"{number:g} {shown_unit}{when}: not above zero")
    factor = factors.get(unit) or factors.get(unit.lower())
    if factor is None:
        return SetAside(on, f"{number:g} {shown_unit}{when}: a unit this service cannot convert")
    written = f"{number:g} {shown_unit}"
    return Measurement(number * factor, on, local_reference(observation), written)


def _latest(found: list[Measurement]) -> Measurement | None:
    """The latest dated measurement (the first of equals), else the first undated one."""
    dated = [m for m in found if m.on is not None]
    if dated:
        return max(dated, key=lambda m: m.on.at if m.on else 0)
    return found[0] if found else None


def _newer_set_aside(used: Measurement | None, set_aside: list[SetAside]) -> SetAside | None:
    """The latest measure set aside, when none was used or it is newer than the one used."""
    if not set_aside:
        return None
    dated = [s for s in set_aside if s.on is not None]
    latest = max(dated, key=lambda s: s.on.at if s.on else 0) if dated else set_aside[0]
    if used is None:
        return latest
    if used.on is not None and latest.on is not None and latest.on.at > used.on.at:
        return latest
    return None


def patient_profile(
    patients: list[Resource], observations: list[Resource], patient_id: str, today: date, paediatric: Paediatric
) -> PatientProfile:
    patient = next((p for p in patients if p.get("resourceType") == "Patient" and p.get("id") == patient_id), None)
    birth = parse_instant(patient.get("birthDate")) if patient else None
    youngest, oldest = _age_range(birth, today) if birth else (None, None)
    weight_codes = {(c.system, c.code) for c in paediatric.weight_codes}
    height_codes = {(c.system, c.code) for c in paediatric.height_codes}
    either = weight_codes | height_codes
    weights: list[Measurement] = []
    heights: list[Measurement] = []
    weights_aside: list[SetAside] = []
    heights_aside: list[SetAside] = []
    # One pass, and the code test first: it sets aside the many results that are neither a weight nor a height.
    for o in observations:
        code = o.get("code")
        if o.get("resourceType") != "Observation" or not has_code_in(code, either):
            continue
        if not belongs_to(o, patient_id) or not is_result(o):
            continue
        for codes, factors, used, aside in ((weight_codes, _TO_KG, weights, weights_aside),
                                            (height_codes, _TO_CM, heights, heights_aside)):
            if has_code_in(code, codes):
                m = _measurement(o, factors)
                if isinstance(m, Measurement):
                    used.append(m)
                elif m is not None:
                    aside.append(m)
    gender = patient.get("gender") if patient else None
    sex: Literal["male", "female", "unknown"] = "male" if gender == "male" else "female" if gender == "female" \
        else "unknown"
    weight, height = _latest(weights), _latest(heights)
    return PatientProfile(birth, youngest, oldest, weight, height, sex,
                          _newer_set_aside(weight, weights_aside), _newer_set_aside(height, heights_aside))


@dataclass(frozen=True, slots=True)
class BodySurfaceArea:
    m2: float
    weight: Measurement
    height: Measurement


def body_surface_area(profile: PatientProfile, today: date, paediatric: Paediatric) -> BodySurfaceArea | str:
    """Mosteller's BSA from the latest weight and height, or why it cannot be trusted for a dose."""
    weight, height = profile.weight, profile.height
    measures = (("body weight", weight, profile.weight_set_aside, "kg", HUMAN_WEIGHT_KG),
                ("height", height, profile.height_set_aside, "cm", HUMAN_HEIGHT_CM))
    missing = [name for name, m, _, _, _ in measures if m is None]
    if missing:
        unused = [f"the {name} {a.text}" for name, m, a, _, _ in measures if m is None and a is not None]
        named = f" that can be used (set aside: {'; '.join(unused)}): check the measurement and its unit"
        return f"no {' and no '.join(missing)} is on record" + (named if unused else "")
    assert weight is not None and height is not None
    for name, m, aside, unit, (low, high) in measures:
        if aside is not None:
            return f"the latest {name} on record cannot be used ({aside.text}): check the measurement and its unit"
        if m is not None and not low <= m.value <= high:
            return (f"the latest {name}, {m.shown(unit)}, is not a measure of a person (outside {low:g}-{high:g} "
                    f"{unit}, the range this service reads as a person's {name}: a check of the data, not a clinical "
                    "limit): check the measurement and its unit")
    for name, m, limit in (("body weight", weight, paediatric.max_weight_age_days),
                           ("height", height, paediatric.max_height_age_days)):
        age = m.age_days(today)
        if age is None:
            return f"the {name} on record has no date"
        if age > limit:
            return (f"the latest {name} is from {m.on.shown() if m.on else '?'}, {age} days ago: older than the "
                    f"{limit} days a child's dose is computed from")
    return BodySurfaceArea(math.sqrt(height.value * weight.value / 3600), weight, height)
