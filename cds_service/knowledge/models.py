"""The shape of every knowledge file. A field a file gets wrong stops start-up with the file and entry named."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Status = Literal["V", "V2", "U", "derived"]


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Entry):
    short: str
    citation: str
    status: Status
    url: str | None = None


class Manifest(_Entry):
    version: str
    released: str
    description: str


class Ingredient(_Entry):
    role: Literal["imatinib", "tki", "other"] = "other"
    rxnorm: str | None = None
    atc: list[str] = Field(default_factory=list)
    names: list[str] = Field(min_length=1)
    brands: list[str] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.names[0]


class Classification(_Entry):
    source: str
    class_: Literal["strong", "moderate", "weak"] = Field(alias="class")


class Effect(_Entry):
    text: str
    sources: list[str] = Field(min_length=1)
    status: Status


class Inducer(_Entry):
    strength: Literal["strong", "moderate"]
    management: Literal["dose-increase", "monitor", "stop"]
    classifications: list[Classification]
    conflict: str | None = None
    effect: Effect | None = None


class UnconfirmedMax(_Entry):
    mg: int
    text: str
    status: Status


class IndicationDosing(_Entry):
    indication: Literal["cml-chronic", "cml-advanced", "gist"]
    standard_daily_mg: int
    max_daily_mg: int
    sources: list[str]
    status: Status


class Dosing(_Entry):
    tablet_strengths_mg: list[int] = Field(min_length=1)
    tablet_strengths_sources: list[str]
    inducer_increase_fraction: float = Field(gt=0, lt=2)
    inducer_increase_sources: list[str]
    inducer_increase_status: Status
    max_daily_mg_with_inducer: int = Field(gt=0)
    max_daily_sources: list[str]
    max_daily_status: Status
    unconfirmed_max_daily_mg_with_inducer: UnconfirmedMax
    twice_daily_from_mg: int
    twice_daily_sources: list[str]
    exposure_note: str
    exposure_note_sources: list[str]
    exposure_note_status: Status
    indications: list[IndicationDosing]


class TroughTarget(_Entry):
    indication: Literal["cml", "gist"]
    min_ng_ml: float
    sources: list[str]
    status: Status


class LevelCode(_Entry):
    system: str
    code: str
    text: str
    sources: list[str]
    status: Status


class Tdm(_Entry):
    targets: list[TroughTarget] = Field(min_length=1)
    watch_above_ng_ml: float
    watch_above_sources: list[str]
    sampling: str
    sampling_sources: list[str]
    days_until_trough: int = Field(gt=0)
    days_until_trough_text: str
    days_until_trough_status: Status
    level_codes: list[LevelCode] = Field(min_length=1)


class ImatinibFacts(_Entry):
    dosing: Dosing
    tdm: Tdm


class ConditionCode(_Entry):
    system: str
    code: str
    display: str
    match: Literal["code", "prefix"] = "code"


class ConditionGroup(_Entry):
    id: str
    label: str
    phase: Literal["chronic", "accelerated", "blast"] | None = None
    codes: list[ConditionCode] = Field(min_length=1)
    sources: list[str]
    status: Status


class Routes(_Entry):
    non_systemic_terms: list[str] = Field(min_length=1)
    sources: list[str]
    status: Status
