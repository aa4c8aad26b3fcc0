"""Imatinib plasma levels already measured for the patient, converted to ng/mL."""

from dataclasses import dataclass

from cds_service.fhir import Resource, codings

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


@dataclass(frozen=True, slots=True)
class ImatinibLevel:
    ng_ml: float
    when: str | None
    reference: str | None


def observation_time(observation: Resource) -> str | None:
    when = observation.get("effectiveDateTime") or (observation.get("effectivePeriod") or {}).get("start")
    when = when or observation.get("issued")
    return when if isinstance(when, str) else None


def imatinib_levels(observations: list[Resource], level_codes: set[tuple[str, str]]) -> list[ImatinibLevel]:
    """Final results only, newest first."""
    levels = []
    for obs in observations:
        if not is_result(obs):
            continue
        if not any((c.get("system"), c.get("code")) in level_codes for c in codings(obs.get("code"))):
            continue
        quantity = obs.get("valueQuantity")
        if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
            continue
        # The Greek small mu (U+03BC) is typed for the micro sign (U+00B5) as often as not: both are micro.
        unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower().replace("\u03bc", "\u00b5")
        factor = _TO_NG_ML.get(unit)
        if factor is None:
            continue
        ref = f"Observation/{obs['id']}" if isinstance(obs.get("id"), str) else None
        levels.append(ImatinibLevel(float(quantity["value"]) * factor, observation_time(obs), ref))
    levels.sort(key=lambda level: level.when or "", reverse=True)
    return levels
