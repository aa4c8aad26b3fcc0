"""Choosing a regimen Tucuxi's way among the label's regimens, scored on the steady-state trough."""

import math
from dataclasses import dataclass

from cds_service.pk.model import PopulationModel
from cds_service.pk.simulate import steady_state_troughs


@dataclass(frozen=True, slots=True)
class Candidate:
    dose_mg: int
    interval_hours: int
    trough_ng_per_ml: float
    score: float

    @property
    def daily_mg(self) -> float:
        return self.dose_mg * 24 / self.interval_hours


@dataclass(frozen=True, slots=True)
class Proposal:
    dose_mg: float
    interval_hours: int
    trough_ng_per_ml: float
    in_target_window: bool
    # Why it is this regimen: "best-score", "unreachable" (all below the window), "already-above", "no-candidate".
    reason: str
    current_trough_ng_per_ml: float  # the current regimen's, on the same estimate (computed in the same pass)


def adjustment_score(trough: float, best: float, low: float, high: float) -> float:
    """Tucuxi's score: 1 at the target, 0 at the window's edges (in log concentration), negative outside."""
    return 1.0 - (math.log(trough) - math.log(best)) ** 2 / (0.5 * (math.log(high) - math.log(low))) ** 2


def propose(model: PopulationModel, cl: float, v: float, current_dose_mg: float, current_interval_h: int,
            target: float) -> tuple[Proposal, list[Candidate]]:
    """The best-scoring candidate whose daily dose is at least the current one (a low level never lowers a dose)."""
    spec = model.spec
    low, high = spec.proposal.window_low_fraction * target, spec.proposal.window_high_fraction * target
    current_daily = current_dose_mg * 24 / current_interval_h
    tried = [(dose, tau) for dose, tau in model.regimens if dose * 24 / tau >= current_daily - 1e-9]
    # The current regimen's trough last, all in one pass.
    *troughs, current_trough = steady_state_troughs([d for d, _ in tried] + [current_dose_mg],
                                                    [t for _, t in tried] + [current_interval_h],
                                                    cl, v, model.ka, model.bioavailability)
    candidates = [Candidate(dose, tau, trough, adjustment_score(trough, target, low, high))
                  for (dose, tau), trough in zip(tried, troughs, strict=True)]

    def keep_current(reason: str) -> Proposal:
        return Proposal(current_dose_mg, current_interval_h, current_trough, low <= current_trough <= high, reason,
                        current_trough)

    if not candidates:
        return keep_current("no-candidate"), candidates
    inside = [c for c in candidates if low <= c.trough_ng_per_ml <= high]
    if inside:
        best = max(inside, key=lambda c: (c.score, -c.daily_mg))
        return Proposal(best.dose_mg, best.interval_hours, best.trough_ng_per_ml, True, "best-score",
                        current_trough), candidates
    if all(c.trough_ng_per_ml < low for c in candidates):
        top = candidates[-1]
        return Proposal(top.dose_mg, top.interval_hours, top.trough_ng_per_ml, False, "unreachable",
                        current_trough), candidates
    if all(c.trough_ng_per_ml > high for c in candidates):
        return keep_current("already-above"), candidates
    best = max(candidates, key=lambda c: (c.score, -c.daily_mg))
    return Proposal(best.dose_mg, best.interval_hours, best.trough_ng_per_ml, False, "best-score",
                    current_trough), candidates
