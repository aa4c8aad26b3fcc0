"""The imatinib dose increase for a CYP3A4 inducer, in whole tablets and never above the documented maximum."""

import math
from dataclasses import dataclass

from cds_service.facts.dose import Dose
from cds_service.knowledge.models import Dosing


@dataclass(frozen=True, slots=True)
class DoseIncrease:
    current_daily_mg: float
    new_daily_mg: int
    per_administration_mg: int
    administrations_per_day: int
    capped: bool
    tablets: tuple[tuple[int, int], ...]  # (strength mg, count) per administration

    @property
    def increase_fraction(self) -> float:
        return self.new_daily_mg / self.current_daily_mg - 1

    def describe(self, tablets: tuple[tuple[int, int], ...] | None = None) -> str:
        """E.g. "600 mg once daily (1 x 400 mg + 2 x 100 mg tablets; 600 mg/day)"."""
        times = {1: "once daily", 2: "twice daily"}[self.administrations_per_day]
        parts = [f"{count} x {strength} mg" for strength, count in tablets or self.tablets]
        return f"{self.per_administration_mg} mg {times} ({' + '.join(parts)} tablets; {self.new_daily_mg} mg/day)"


def tablets_for(dose_mg: int, strengths: list[int]) -> tuple[tuple[int, int], ...]:
    """Fewest tablets of the marketed strengths making up `dose_mg` (greedy works for 100/400)."""
    remaining, tablets = dose_mg, []
    for strength in sorted(strengths, reverse=True):
        count, remaining = divmod(remaining, strength)
        if count:
            tablets.append((strength, count))
    if remaining:
        raise ValueError(f"{dose_mg} mg is not a whole number of tablets")
    return tuple(tablets)


def plan_dose_increase(
    dose: Dose, dosing: Dosing, ceiling: int | None = None, ceiling_name: str = "maximum"
) -> DoseIncrease | str:
    """The smallest whole-tablet daily dose at least `inducer_increase_fraction` higher, capped at `ceiling` (the
    adult maximum with an inducer unless a lower one, a child's, is given); or why none."""
    per_day = dose.administrations_per_day
    if per_day not in (1, 2):
        return "only once- and twice-daily schedules are adjusted automatically"
    current = dose.daily_mg
    ceiling = dosing.max_daily_mg_with_inducer if ceiling is None else ceiling
    if current >= ceiling:
        return f"the current dose ({current:g} mg/day) is already at the {ceiling} mg/day {ceiling_name}"
    step = min(dosing.tablet_strengths_mg)
    target = current * (1 + dosing.inducer_increase_fraction)
    administrations = int(per_day)
    new_daily = math.ceil(round(target / (administrations * step), 9)) * administrations * step
    capped = new_daily > ceiling
    new_daily = min(new_daily, ceiling)
    # 800 mg/day and more is given as two doses (400 mg twice daily).
    if new_daily >= dosing.twice_daily_from_mg:
        administrations = 2
    if new_daily % (administrations * step):
        new_daily -= new_daily % (administrations * step)
    if new_daily <= current:
        return f"no whole-tablet dose above {current:g} mg/day fits under the {ceiling} mg/day {ceiling_name}"
    per_administration = new_daily // administrations
    return DoseIncrease(
        current_daily_mg=current,
        new_daily_mg=new_daily,
        per_administration_mg=per_administration,
        administrations_per_day=administrations,
        capped=capped,
        tablets=tablets_for(per_administration, dosing.tablet_strengths_mg),
    )
