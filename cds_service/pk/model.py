"""The population model as numbers: typical CL and V from covariates, the prior and the residual error."""

from dataclasses import dataclass

import numpy as np

from cds_service.knowledge.models import PkModel

Sex = str  # "male" | "female" | "unknown"
MALE_CODING = {"male": 1.0, "female": 0.0, "unknown": 0.5}


@dataclass(frozen=True, slots=True)
class Covariates:
    """What the model's formulas read, with the record's missing values already replaced by the defaults."""

    weight_kg: float
    age_years: float
    male: float  # 1 male, 0 female, 0.5 unknown (the formula's coding; the drug file's text has it reversed)
    gist: bool


@dataclass(frozen=True, slots=True)
class PopulationModel:
    """One-compartment, first-order absorption; exponential between-subject variability; proportional error."""

    spec: PkModel
    ka: float
    bioavailability: float
    omega_inverse: np.ndarray  # 2x2, over (eta_CL, eta_V)
    sigma: float
    molar_mass: float
    regimens: tuple[tuple[int, int], ...]  # (dose mg, interval h) the proposal may choose, in increasing daily dose

    def typical_clearance(self, cov: Covariates) -> float:
        c = self.spec.clearance
        return (
            c.intercept_l_per_h
            + c.weight_coefficient * (cov.weight_kg - c.weight_reference_kg) / c.weight_reference_kg
            + c.sex_coefficient * (2 * cov.male - 1)
            + c.age_coefficient * (cov.age_years - c.age_reference_years) / c.age_reference_years
            + c.gist_coefficient * (2 * float(cov.gist) - 1)
        )

    def typical_volume(self, cov: Covariates) -> float:
        v = self.spec.volume
        return v.intercept_l + v.sex_coefficient * (2 * cov.male - 1)


def _build(spec: PkModel) -> PopulationModel:
    var = spec.variability
    sd = np.array([var.sd_eta_clearance, var.sd_eta_volume])
    omega = np.outer(sd, sd) * np.array([[1.0, var.correlation], [var.correlation, 1.0]])
    return PopulationModel(
        spec=spec,
        ka=spec.absorption.ka_per_h,
        bioavailability=spec.absorption.bioavailability,
        omega_inverse=np.linalg.inv(omega),
        sigma=spec.residual.proportional_sigma,
        molar_mass=spec.units.molar_mass_g_per_mol,
        regimens=_regimens(spec),
    )


def _regimens(spec: PkModel) -> tuple[tuple[int, int], ...]:
    found = [(d, 24) for d in spec.proposal.once_daily_mg] + [(d, 12) for d in spec.proposal.twice_daily_mg]
    return tuple(sorted(found, key=lambda r: (r[0] * 24 / r[1], r[1])))


_BUILT: dict[int, PopulationModel] = {}


def population_model(spec: PkModel) -> PopulationModel:
    """The model built once per loaded knowledge base (keyed by the spec object, which is frozen)."""
    built = _BUILT.get(id(spec))
    if built is None or built.spec is not spec:
        if len(_BUILT) > 16:
            _BUILT.clear()
        built = _BUILT[id(spec)] = _build(spec)
    return built
