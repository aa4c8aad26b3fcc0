"""A child's imatinib dose limit: 340 mg/m²/day by body-surface area, never above 600 mg/day, in whole tablets.

No source gives a paediatric dose with a CYP3A4 inducer, so the adult "+50 %" is applied only inside this limit,
and the card says so. A child without a recent weight and height gets no dose suggestion at all.

A dose is too high only above 340 mg/m² x BSA (or 600 mg/day): the whole-tablet figure is the ceiling of a suggested
increase, not of a dose a prescriber writes. 250 mg/day for 0.80 m² (272 mg/day; the 100 mg tablet is scored) was
flagged with "200 mg/day is the most", and a BSA under one tablet's worth gave "0 mg/day is the most".
"""

import math
from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.facts.patient import BodySurfaceArea, body_surface_area
from cds_service.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class PaediatricLimit:
    max_daily_mg: int  # the lower of 340 mg/m² x BSA (down to whole tablets) and 600 mg/day; the increase ceiling
    by_bsa_mg: int  # the lower of 340 mg/m² x BSA (to the whole mg, as the card shows it) and 600 mg/day: the check
    half_tablets_mg: int  # the most within by_bsa_mg in half tablets (the smallest tablet is scored); may be 0
    bsa: BodySurfaceArea
    text: str  # who the child is, the rule, the BSA and where it came from


def _who(facts: PatientFacts, knowledge: Knowledge) -> str:
    paediatric = knowledge.imatinib.paediatric
    profile = facts.profile
    rule = (f"in children imatinib is dosed by body-surface area, {paediatric.dose_mg_per_m2:g} mg/m²/day, never "
            f"above {paediatric.max_daily_mg} mg/day (status {paediatric.status})")
    if profile.youngest_age != profile.oldest_age:
        return (f"The patient is {profile.age_text()}: possibly under {paediatric.adult_from_years}, so the "
                f"paediatric limits apply: {rule}.")
    return f"Child patient, {profile.age_text()}: {rule}."


def _measured(bsa: BodySurfaceArea) -> str:
    """The weight and height the BSA came from, with their dates (one date when both share it)."""
    weight, height = bsa.weight, bsa.height
    if weight.on is not None and height.on is not None and weight.on.shown() == height.on.shown():
        return (f"{weight.shown('kg').removesuffix(f' on {weight.on.shown()}')}, "
                f"{height.shown('cm').removesuffix(f' on {height.on.shown()}')}, on {weight.on.shown()}")
    return f"{weight.shown('kg')}, {height.shown('cm')}"


def paediatric_limit(facts: PatientFacts, knowledge: Knowledge) -> PaediatricLimit | str | None:
    """None for an adult (or an unknown age); why no dose can be computed for a child; or the child's limit."""
    paediatric = knowledge.imatinib.paediatric
    if not facts.profile.may_be_child(paediatric.adult_from_years):
        return None
    who = _who(facts, knowledge)
    bsa = body_surface_area(facts.profile, facts.today, paediatric)
    if isinstance(bsa, str):
        return f"{who} No dose is computed: {bsa}. Record a current weight and height"
    step = min(knowledge.imatinib.dosing.tablet_strengths_mg)
    by_bsa = paediatric.dose_mg_per_m2 * bsa.m2
    limit = min(paediatric.max_daily_mg, math.floor(round(by_bsa / step, 9)) * step)
    checked = min(paediatric.max_daily_mg, round(by_bsa))
    half = step // 2
    in_halves = checked // half * half
    fits = (f"so at most **{limit} mg/day** in whole {step} mg tablets" if limit
            else f"less than one whole {step} mg tablet")
    text = (
        f"{who} BSA **{bsa.m2:.2f} m²** (Mosteller; {_measured(bsa)}): {paediatric.dose_mg_per_m2:g} mg/m² x "
        f"{bsa.m2:.2f} m² = {by_bsa:.0f} mg/day, {fits}."
    )
    return PaediatricLimit(limit, checked, in_halves, bsa, text)


def per_m2_in_mg(per_m2_mg: float, bsa: BodySurfaceArea) -> float:
    return per_m2_mg * bsa.m2
