"""The dosing API's JSON: the request and the answer as pydantic models (its OpenAPI schema), validated at the
HTTP edge and converted to and from the plain values of the computation (cds_service.pk.estimate)."""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cds_service.knowledge.loader import Knowledge
from cds_service.pk.estimate import (
    MAX_DOSES,
    DosingInputError,
    GivenCovariates,
    MeasuredLevel,
    ModelAnswer,
    ModelRequest,
    Regimen,
    TriedRegimen,
    estimate,
)

PositiveNumber = Annotated[float, Field(strict=True, gt=0)]
MAX_LEVELS = 50
MAX_WEIGHT_KG = 500
MAX_AGE_YEARS = 150
MAX_DOSE_MG = 2000
MAX_LEVEL_VALUE = 1e6
MAX_INDUCER_NAME = 100


Sex = Literal["male", "female", "unknown"]
Indication = Literal["CML", "GIST"]
Interval = Literal[12, 24]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CovariatesIn(_In):
    weight_kg: PositiveNumber | None = Field(None, le=MAX_WEIGHT_KG, description="Latest body weight (kg); default 70")
    age_years: PositiveNumber | None = Field(None, le=MAX_AGE_YEARS, description="Age in years; the model covers 20-88")
    sex: Sex | None = None
    indication: Indication | None = None


class RegimenIn(_In):
    dose_mg: PositiveNumber = Field(le=MAX_DOSE_MG, description="The current dose per administration (mg)")
    interval_hours: Interval
    first_dose: datetime = Field(description="ISO datetime of the first dose; times without a zone are read as UTC")
    doses_given: Annotated[int, Field(strict=True, ge=1, le=MAX_DOSES)] | None = Field(
        None, description="Doses taken so far, one every interval from the first; default: every dose before the last "
        "level")


LevelUnit = Literal["ng/mL", "ug/L", "µg/L", "μg/L", "mg/L", "umol/L", "µmol/L", "μmol/L"]


class LevelIn(_In):
    time: datetime
    value: PositiveNumber = Field(le=MAX_LEVEL_VALUE)
    unit: LevelUnit


class AlternativeIn(_In):
    dose_mg: PositiveNumber = Field(le=MAX_DOSE_MG)
    interval_hours: Interval


class DosingRequest(_In):
    covariates: CovariatesIn = Field(default_factory=CovariatesIn)
    regimen: RegimenIn
    levels: list[LevelIn] = Field(default_factory=list, max_length=MAX_LEVELS)
    inducer: str | None = Field(None, max_length=MAX_INDUCER_NAME,
                                description="A knowledge-base ingredient, e.g. rifampin")
    alternative: AlternativeIn | None = Field(
        None, description="Optional: a regimen to try; the answer then gives its steady-state trough (`alternative`) "
        "with the same estimate. The concentration-time page uses it.")

    def plain(self) -> ModelRequest:
        """The request as the computation takes it."""
        given, regimen, tried = self.covariates, self.regimen, self.alternative
        return ModelRequest(
            covariates=GivenCovariates(given.weight_kg, given.age_years, given.sex, given.indication),
            regimen=Regimen(regimen.dose_mg, regimen.interval_hours, regimen.first_dose, regimen.doses_given),
            levels=tuple(MeasuredLevel(level.time, level.value, level.unit) for level in self.levels),
            inducer=self.inducer,
            alternative=TriedRegimen(tried.dose_mg, tried.interval_hours) if tried is not None else None,
        )


class Estimate(BaseModel):
    clearance_l_per_h: float
    volume_l: float
    trough_ng_per_ml: float = Field(description="Steady-state trough of the given regimen")


class ProposalOut(BaseModel):
    dose_mg: float
    interval_hours: int
    trough_ng_per_ml: float
    in_target_window: bool


class CandidateOut(BaseModel):
    dose_mg: int
    interval_hours: int
    trough_ng_per_ml: float
    score: float


class AlternativeOut(BaseModel):
    dose_mg: float
    interval_hours: int
    trough_ng_per_ml: float


class DosingAnswer(BaseModel):
    a_priori: Estimate
    a_posteriori: Estimate | None
    target_ng_per_ml: float
    proposal: ProposalOut
    candidates: list[CandidateOut]
    assumptions: list[str]
    alternative: AlternativeOut | None = Field(None, description="Only when the request asks for one")

    def to_json_dict(self) -> dict[str, Any]:
        """The answer as sent: `alternative` only when it was asked for."""
        body = self.model_dump(mode="json")
        if body["alternative"] is None:
            del body["alternative"]
        return body


def evaluate(request: DosingRequest, knowledge: Knowledge) -> DosingAnswer:
    """The dosing API's answer to a validated request."""
    answer: ModelAnswer = estimate(request.plain(), knowledge)
    return DosingAnswer.model_validate(answer, from_attributes=True)


# What the schema's Literal types allow, for checking plain values against it.
_SEXES, _INDICATIONS, _INTERVALS, _LEVEL_UNITS = (frozenset(get_args(kind))
                                                  for kind in (Sex, Indication, Interval, LevelUnit))


def _within_schema(request: ModelRequest) -> bool:
    """The bounds and types of DosingRequest, checked on the plain values (without pydantic's cost)."""
    given, regimen, tried = request.covariates, request.regimen, request.alternative

    def positive(value: object, most: float) -> bool:
        return type(value) is float and 0 < value <= most

    return (
        (given.weight_kg is None or positive(given.weight_kg, MAX_WEIGHT_KG))
        and (given.age_years is None or positive(given.age_years, MAX_AGE_YEARS))
        and (given.sex is None or given.sex in _SEXES)
        and (given.indication is None or given.indication in _INDICATIONS)
        and positive(regimen.dose_mg, MAX_DOSE_MG) and regimen.interval_hours in _INTERVALS
        and type(regimen.first_dose) is datetime and (regimen.doses_given is None or (
            type(regimen.doses_given) is int and 1 <= regimen.doses_given <= MAX_DOSES))
        and len(request.levels) <= MAX_LEVELS
        and all(type(level.time) is datetime and positive(level.value, MAX_LEVEL_VALUE) and level.unit in _LEVEL_UNITS
                for level in request.levels)
        and (request.inducer is None or len(request.inducer) <= MAX_INDUCER_NAME)
        and (tried is None or (positive(tried.dose_mg, MAX_DOSE_MG) and tried.interval_hours in _INTERVALS))
    )


def held_to_schema(request: ModelRequest) -> ModelRequest:
    """A request the service makes itself (the cards'), held to the API's schema: within it, as it is; outside it
    (a weight or a dose the record gives beyond the API's bounds), a DosingInputError naming the field, as the API
    answers such a request."""
    if not _within_schema(request):
        try:
            DosingRequest.model_validate(asdict(request))
        except ValidationError as exc:
            raise input_error(exc) from None
    return request


def input_error(exc: ValidationError) -> DosingInputError:
    """The schema's first problem, named by its field (`levels[0].value`), and how many more there are."""
    problems = exc.errors(include_url=False, include_input=False)
    first = problems[0]
    field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in first["loc"]).replace(".[", "[")
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return DosingInputError(field or "(body)", f"{first['msg']}{more}")


def parse_request(body: bytes) -> DosingRequest:
    """The request from JSON bytes; every problem named by its field (400 for what is not JSON, 422 for the rest)."""
    import orjson

    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DosingInputError("(body)", f"not valid JSON: {exc}", status=400) from None
    if not isinstance(data, dict):
        raise DosingInputError("(body)", "the request must be a JSON object", status=400)
    try:
        return DosingRequest.model_validate(data)
    except ValidationError as exc:
        raise input_error(exc) from None
