"""Reading a daily dose in mg from whatever an order says: mg, or a count of tablets times the product strength."""

import re
from dataclasses import dataclass
from typing import Any, Literal

from cds_service.fhir import Resource, dosages, listed
from cds_service.knowledge.models import DailyDoseRange

_COUNT_UNITS = frozenset({
    "{pill}", "pill", "pills", "{tbl}", "tbl", "tab", "tabs", "{tab}", "tablet", "tablets", "{tablet}",
    "{tablets}", "capsule", "capsules", "{capsule}", "cap", "caps", "{cap}", "1", "{count}", "each", "{each}",
})
_TIMING_CODES = {
    "QD": 1, "QAM": 1, "QPM": 1, "AM": 1, "PM": 1, "Q24H": 1, "QHS": 1, "HS": 1,
    "BID": 2, "Q12H": 2, "TID": 3, "Q8H": 3, "QID": 4, "Q6H": 4,
}
# Mass units a dose may be written in, as factors to mg (0.4 g is 400 mg, not a refusal).
_MASS_TO_MG = {"mg": 1.0, "g": 1000.0, "ug": 0.001, "µg": 0.001, "mcg": 0.001, "microgram": 0.001}
# Doses per body size: per m² of body-surface area (how children are dosed) is converted once the BSA is known;
# imatinib is never dosed per kg, so a per-kg dose is refused.
_PER_M2_UNITS = frozenset({"mg/m2", "mg/m^2", "mg/m²", "mg/m.2"})
_PER_KG_UNITS = frozenset({"mg/kg", "mg/kg/d", "mg/kg/day", "mg/kg{body weight}"})
_PERIOD_PER_DAY = {"h": 24.0, "d": 1.0, "wk": 1 / 7, "mo": 1 / 30}
# Timing.repeat elements that change how often a dose is given beyond frequency/period: not counted, so not read.
_SCHEDULE_REFINEMENTS = ("dayOfWeek", "frequencyMax", "periodMax")
# Elements that say when in the day: one of them only places the dose, more than one may add doses.
_TIMES_IN_THE_DAY = ("when", "timeOfDay")
_STRENGTH_IN_TEXT = re.compile(r"\b(\d+(?:\.\d+)?)\s*MG\b", re.IGNORECASE)

FhirVersion = Literal["DSTU2", "STU3", "R4"]


@dataclass(frozen=True, slots=True)
class Dose:
    """A daily dose as written: `per_administration_mg` given `administrations_per_day` times."""

    per_administration_mg: float
    administrations_per_day: float
    unit: Literal["mg", "count"]
    count_strength_mg: float | None = None

    @property
    def daily_mg(self) -> float:
        return self.per_administration_mg * self.administrations_per_day


@dataclass(frozen=True, slots=True)
class DoseReading:
    """The dose, or why it could not be read; `note` flags a dose that was read but is unusual."""

    dose: Dose | None
    problem: str | None = None
    note: str | None = None
    # A dose written per m² of body-surface area: mg/m² per administration, and how often (read, not yet in mg).
    per_m2_mg: float | None = None
    per_m2_administrations: float | None = None


def order_fhir_version(order: Resource) -> FhirVersion:
    """DSTU2 has MedicationOrder; R4 nests the dose in doseAndRate; STU3 puts doseQuantity on the dosage."""
    if order.get("resourceType") == "MedicationOrder":
        return "DSTU2"
    found = dosages(order)
    if any("doseAndRate" in d for d in found):
        return "R4"
    if any("doseQuantity" in d or "doseRange" in d for d in found):
        return "STU3"
    return "STU3" if isinstance(order.get("category"), dict) and "intent" not in order else "R4"


def dose_quantity(dosage: dict[str, Any]) -> dict[str, Any] | None:
    for rate in listed(dosage.get("doseAndRate")):
        if isinstance(rate, dict) and isinstance(quantity := rate.get("doseQuantity"), dict):
            return quantity
    quantity = dosage.get("doseQuantity", dosage.get("quantityQuantity"))  # DSTU2 MedicationStatement: quantity[x]
    return quantity if isinstance(quantity, dict) else None


def _has_refinements(repeat: dict[str, Any]) -> bool:
    """Whether the schedule says more than "frequency per period": several times of day or `when`s, weekdays, ranges.

    The dose update keeps the draft's timing, so a refinement read past would stay on the order: 600 mg at 08:00 and
    20:00 is 1200 mg/day, not the 600 mg once daily the card would promise.
    """
    if any(repeat.get(key) not in (None, []) for key in _SCHEDULE_REFINEMENTS):
        return True
    # DSTU2's `when` is one code (a string); STU3 and R4 make it a list.
    return any(
        (times := repeat.get(key)) is not None and not (isinstance(times, str) or (isinstance(times, list)
                                                                                   and len(times) <= 1))
        for key in _TIMES_IN_THE_DAY
    )


def administrations_per_day(timing: Any) -> float | None:
    if not isinstance(timing, dict):
        return None
    repeat = timing.get("repeat")
    if isinstance(repeat, dict) and _has_refinements(repeat):
        return None
    # DSTU2 spells it `periodUnits`, STU3 and later `periodUnit`.
    unit = (repeat.get("periodUnit") or repeat.get("periodUnits")) if isinstance(repeat, dict) else None
    if isinstance(repeat, dict) and isinstance(unit, str) and unit in _PERIOD_PER_DAY:
        frequency = repeat.get("frequency", 1)
        period = repeat.get("period", 1)
        if isinstance(frequency, int | float) and isinstance(period, int | float) and frequency > 0 and period > 0:
            return frequency * _PERIOD_PER_DAY[unit] / period
    code = timing.get("code")
    for coding in listed(code.get("coding")) if isinstance(code, dict) else ():
        if isinstance(coding, dict) and str(coding.get("code", "")).upper() in _TIMING_CODES:
            return float(_TIMING_CODES[str(coding["code"]).upper()])
    return None


def strength_from_text(*texts: str | None) -> float | None:
    found = {float(m) for text in texts if text for m in _STRENGTH_IN_TEXT.findall(text)}
    return found.pop() if len(found) == 1 else None


def read_dose(order: Resource, product_strength_mg: float | None) -> DoseReading:
    found = dosages(order)
    what = "record" if order.get("resourceType") == "MedicationStatement" else "order"
    if not found:
        return DoseReading(None, f"the {what} has no dosage instructions")
    if len(found) > 1:
        return DoseReading(None, f"the {what} has more than one dosage instruction (a taper or split schedule)")
    dosage = found[0]
    quantity = dose_quantity(dosage)
    if quantity is None:
        return DoseReading(None, "the order gives no single dose quantity")
    value = quantity.get("value")
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        return DoseReading(None, "the dose quantity has no positive value")
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower().replace("\u03bc", "\u00b5")
    per_day = administrations_per_day(dosage.get("timing"))
    if per_day is None:
        return DoseReading(None, "the order's frequency could not be read")
    if unit in _MASS_TO_MG:
        return DoseReading(Dose(float(value) * _MASS_TO_MG[unit], per_day, "mg"))
    if unit in _PER_M2_UNITS:
        return DoseReading(
            None, "the dose is written per m² of body-surface area and the patient's BSA is not known",
            per_m2_mg=float(value), per_m2_administrations=per_day,
        )
    if unit in _PER_KG_UNITS:
        return DoseReading(None, f"the dose is written in {unit}, and imatinib is not dosed per kg (the label doses "
                                 "it in mg, or in mg/m² in children): check the order")
    if unit in _COUNT_UNITS:
        if product_strength_mg is None:
            return DoseReading(None, "the dose is a count of tablets but the tablet strength is not known")
        return DoseReading(Dose(float(value) * product_strength_mg, per_day, "count", product_strength_mg))
    return DoseReading(None, f"the dose unit '{unit or 'none'}' is neither mg nor a tablet count")


def checked_against(reading: DoseReading, labelled: DailyDoseRange, plausible: DailyDoseRange) -> DoseReading:
    """A dose outside the plausible range is not a dose to act on; one outside the labelled range is flagged.

    40 tablets a day or a ten-thousandth of a tablet are typing errors, not doses: acting on them ("already at the
    maximum", "increase to 100 mg") would put a number on the card that nobody prescribed.
    """
    dose = reading.dose
    if dose is None:
        return reading
    daily = dose.daily_mg
    if not plausible.contains(daily):
        return DoseReading(
            None,
            f"the order reads as {_mg(daily)} mg/day, outside {plausible.text}, the range any source here gives for "
            f"imatinib (labelled doses {labelled.text}): check the order",
        )
    if not labelled.contains(daily):
        return DoseReading(dose, note=f"{daily:g} mg/day is outside the labelled {labelled.text}: check it is intended")
    return reading


def _mg(value: float) -> str:
    """0.01, 4000, 400,000: small doses keep their decimals, large ones are not written in exponent form."""
    return f"{value:,.0f}" if value >= 10_000 else f"{value:.4g}"
