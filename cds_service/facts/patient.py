"""The patient as the dose depends on them: age from the birth date, the latest weight and height, and the BSA.

A birth date may give only a year or a month; the age is then a range, and a patient who may be under 18 is
treated as a child (the paediatric maximum is the lower dose). Weights and heights come in kg, g or lb and cm, m or
in; body-surface area is Mosteller's.
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
_TO_KG = {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237}
_TO_CM = {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54, "inch": 2.54, "inches": 2.54}


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
class PatientProfile:
    birth: Instant | None
    youngest_age: int | None  # the age at today's date, for the latest birth date the record allows
    oldest_age: int | None
    weight: Measurement | None
    height: Measurement | None
    sex: Literal["male", "female", "unknown"] = "unknown"  # from Patient.gender (other, unknown: unknown)

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


def _measurement(observation: Resource, factors: dict[str, float]) -> Measurement | None:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip()
    factor = factors.get(unit) or factors.get(unit.lower())
    if factor is None:
        return None
    written = f"{value:g} {quantity.get('unit') or unit}"
    return Measurement(float(value) * factor, draw_time(observation), local_reference(observation), written)


def _latest(found: list[Measurement]) -> Measurement | None:
    """The latest dated measurement (the first of equals), else the first undated one."""
    dated = [m for m in found if m.on is not None]
    if dated:
        return max(dated, key=lambda m: m.on.at if m.on else 0)
    return found[0] if found else None


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
    # One pass, and the code test first: it sets aside the many results that are neither a weight nor a height.
    for o in observations:
        code = o.get("code")
        if o.get("resourceType") != "Observation" or not has_code_in(code, either):
            continue
        if not belongs_to(o, patient_id) or not is_result(o):
            continue
        if has_code_in(code, weight_codes) and (m := _measurement(o, _TO_KG)) is not None:
            weights.append(m)
        if has_code_in(code, height_codes) and (m := _measurement(o, _TO_CM)) is not None:
            heights.append(m)
    gender = patient.get("gender") if patient else None
    sex: Literal["male", "female", "unknown"] = "male" if gender == "male" else "female" if gender == "female" \
        else "unknown"
    return PatientProfile(birth, youngest, oldest, _latest(weights), _latest(heights), sex)


@dataclass(frozen=True, slots=True)
class BodySurfaceArea:
    m2: float
    weight: Measurement
    height: Measurement


def body_surface_area(profile: PatientProfile, today: date, paediatric: Paediatric) -> BodySurfaceArea | str:
    """Mosteller's BSA from the latest weight and height, or why it cannot be trusted for a dose."""
    weight, height = profile.weight, profile.height
    missing = [name for name, m in (("body weight", weight), ("height", height)) if m is None]
    if missing:
        return f"no {' and no '.join(missing)} is on record"
    assert weight is not None and height is not None
    for name, m, limit in (("body weight", weight, paediatric.max_weight_age_days),
                           ("height", height, paediatric.max_height_age_days)):
        age = m.age_days(today)
        if age is None:
            return f"the {name} on record has no date"
        if age > limit:
            return (f"the latest {name} is from {m.on.shown() if m.on else '?'}, {age} days ago: older than the "
                    f"{limit} days a child's dose is computed from")
    return BodySurfaceArea(math.sqrt(height.value * weight.value / 3600), weight, height)
