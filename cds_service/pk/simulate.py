"""Concentrations of a one-compartment oral model: superposition over a dose history, and steady state."""

import math
from collections.abc import Sequence

import numpy as np

# Below this relative gap between ka and ke the two-exponential formula loses precision: use its limit.
_FLIP_TOLERANCE = 1e-6


def concentrations(
    times_h: np.ndarray, dose_times_h: np.ndarray, doses_mg: np.ndarray, cl: float, v: float, ka: float, f: float
) -> np.ndarray:
    """ug/L at each time: the sum of every earlier dose's curve (doses after a time add nothing)."""
    ke = cl / v
    dt = np.asarray(times_h, dtype=float)[:, None] - np.asarray(dose_times_h, dtype=float)[None, :]
    given = dt > 0
    dt = np.where(given, dt, 0.0)
    amounts = np.asarray(doses_mg, dtype=float)[None, :] * 1000.0 * f
    if abs(ka - ke) > _FLIP_TOLERANCE * ka:
        shape = (np.exp(-ke * dt) - np.exp(-ka * dt)) * (ka / (ka - ke))
    else:
        shape = ka * dt * np.exp(-ke * dt)
    summed: np.ndarray = (amounts * shape * given).sum(axis=1) / v
    return summed


def steady_state(times_in_interval_h: np.ndarray, dose_mg: float, tau_h: float, cl: float, v: float, ka: float,
                 f: float) -> np.ndarray:
    """ug/L at times 0..tau after a dose, once every dose before it has been taken every tau hours for ever."""
    ke = cl / v
    t = np.asarray(times_in_interval_h, dtype=float)
    amount = dose_mg * 1000.0 * f / v
    if abs(ka - ke) > _FLIP_TOLERANCE * ka:
        return amount * ka / (ka - ke) * (
            np.exp(-ke * t) / (1 - math.exp(-ke * tau_h)) - np.exp(-ka * t) / (1 - math.exp(-ka * tau_h))
        )
    k = ke
    r = math.exp(-k * tau_h)
    # Limit ka -> ke of the sum over past doses of k (t + n tau) exp(-k (t + n tau)).
    return amount * k * np.exp(-k * t) * (t / (1 - r) + tau_h * r / (1 - r) ** 2)


def steady_state_trough(dose_mg: float, tau_h: float, cl: float, v: float, ka: float, f: float) -> float:
    """ug/L just before the next dose at steady state."""
    return steady_state_troughs((dose_mg,), (tau_h,), cl, v, ka, f)[0]


def steady_state_troughs(doses_mg: Sequence[float], taus_h: Sequence[float], cl: float, v: float, ka: float,
                         f: float) -> list[float]:
    """`steady_state` at t = tau for many regimens: a proposal scores a dozen, and numpy's overhead per call was
    most of the cost of one. The exponentials come from one numpy call (numpy's exp, not math's: they differ in
    the last bit on some CPUs), the rest is the same arithmetic in the same order on Python floats, so the same
    numbers to the last bit."""
    ke = cl / v
    count = len(taus_h)
    if abs(ka - ke) > _FLIP_TOLERANCE * ka:
        exps = np.exp(np.array([-ke * t for t in taus_h] + [-ka * t for t in taus_h], dtype=float)).tolist()
        return [
            dose * 1000.0 * f / v * ka / (ka - ke)
            * (exps[i] / (1 - math.exp(-ke * t)) - exps[count + i] / (1 - math.exp(-ka * t)))
            for i, (dose, t) in enumerate(zip(doses_mg, taus_h, strict=True))
        ]
    k = ke
    exps = np.exp(np.array([-k * t for t in taus_h], dtype=float)).tolist()
    troughs = []
    for i, (dose, t) in enumerate(zip(doses_mg, taus_h, strict=True)):
        r = math.exp(-k * t)
        troughs.append(dose * 1000.0 * f / v * k * exps[i] * (t / (1 - r) + t * r / (1 - r) ** 2))
    return troughs
