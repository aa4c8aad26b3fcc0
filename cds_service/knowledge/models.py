"""The shape of every knowledge file. A field a file gets wrong stops start-up with the file and entry named."""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

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
    role: Literal["imatinib", "tki", "combination", "other"] = "other"
    rxnorm: str | None = None
    atc: list[str] = Field(default_factory=list)
    names: list[str] = Field(min_length=1)
    brands: list[str] = Field(default_factory=list)
    sources: list[str] = Field(min_length=1)

    @property
    def name(self) -> str:
        return self.names[0]


class Brand(_Entry):
    """A brand of several active ingredients (a co-formulation or a co-packaged kit), as its US label names them.

    One name stands for all of them, so the brand names every ingredient of ingredients.toml it contains; the
    label's other ingredients are kept (`others`) so a card can say what else is in it."""

    name: str
    ingredients: list[str] = Field(min_length=1)  # ingredients.toml ids
    others: list[str] = Field(default_factory=list)  # the label's other active ingredients, no rule is about them
    sources: list[str] = Field(min_length=1)


class Classification(_Entry):
    source: str
    class_: Literal["strong", "moderate", "weak"] = Field(alias="class")


class Effect(_Entry):
    text: str
    brief: str | None = None  # the same finding in fewer words, for a brief card (`text` is on the evidence page)
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


class DailyDoseRange(_Entry):
    min_mg: float = Field(gt=0)
    max_mg: float = Field(gt=0)
    sources: list[str] = Field(min_length=1)
    status: Status

    @model_validator(mode="after")
    def _ordered(self) -> "DailyDoseRange":
        if self.min_mg >= self.max_mg:
            raise ValueError("min_mg must be below max_mg")
        return self

    def contains(self, daily_mg: float) -> bool:
        return self.min_mg <= daily_mg <= self.max_mg

    @property
    def text(self) -> str:
        return f"{self.min_mg:g}-{self.max_mg:g} mg/day"


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
    labelled_daily_mg: DailyDoseRange
    plausible_daily_mg: DailyDoseRange
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
    min_days_on_therapy: int = Field(gt=0)
    min_days_after_dose_change: int = Field(gt=0)
    trough_window_hours: float = Field(ge=0)
    trough_window_sources: list[str]
    trough_window_status: Status
    days_until_trough: int = Field(gt=0)
    days_until_trough_text: str
    days_until_trough_status: Status
    level_codes: list[LevelCode] = Field(min_length=1)


class MeasurementCode(_Entry):
    system: str
    code: str
    text: str


class Paediatric(_Entry):
    adult_from_years: int = Field(gt=0)
    dose_mg_per_m2: float = Field(gt=0)
    max_daily_mg: int = Field(gt=0)
    sources: list[str] = Field(min_length=1)
    status: Status
    bsa_sources: list[str] = Field(min_length=1)
    bsa_status: Status
    weight_codes: list[MeasurementCode] = Field(min_length=1)
    height_codes: list[MeasurementCode] = Field(min_length=1)
    measurement_code_sources: list[str] = Field(min_length=1)
    max_weight_age_days: int = Field(gt=0)
    max_height_age_days: int = Field(gt=0)
    freshness_sources: list[str] = Field(min_length=1)
    freshness_status: Status
    inducer_note: str


class ImatinibFacts(_Entry):
    dosing: Dosing
    tdm: Tdm
    paediatric: Paediatric


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
    names: list[str] = Field(default_factory=list)  # words that name it in text, when no code matched
    not_names: list[str] = Field(default_factory=list)  # words that make such a text about something else
    history_counts: bool = False  # an inactive or resolved condition still counts (refuted never)
    history_sources: list[str] = Field(default_factory=list)
    sources: list[str]
    status: Status

    @model_validator(mode="after")
    def _history_with_its_source(self) -> "ConditionGroup":
        if self.history_counts and not self.history_sources:
            raise ValueError("history_counts needs history_sources")
        return self


class Routes(_Entry):
    non_systemic_terms: list[str] = Field(min_length=1)
    sources: list[str]
    status: Status


# Genomic variants (variants.toml).

MutationCategory = Literal["t315i", "kinase-domain", "pdgfra-d842v", "kit-secondary", "kit", "pdgfra"]
Phase = Literal["chronic", "accelerated", "blast", "advanced"]  # "advanced": a GIST stage ([stages])
PriorTherapy = Literal["none", "imatinib", "second-generation"]
ResponseCategory = Literal["optimal", "warning", "failure", "early", "unknown"]
EvidenceLevel = Literal["published-trial", "registered-trial", "review-only"]


class CodedAnswer(_Entry):
    """A coded value that answers whether a variant was found."""

    system: str
    code: str
    display: str
    answer: Literal["present", "absent", "unclear", "no result"]


class VariantReading(_Entry):
    system: str
    variant_code: str
    present_code: str
    gene_component: str
    protein_component: str
    dna_component: str
    genomic_component: str
    hgvs_system: str
    gene_systems: list[str] = Field(min_length=1)
    negative_terms: list[str] = Field(min_length=1)
    positive_terms: list[str] = Field(min_length=1)
    tested_terms: list[str] = Field(min_length=1)
    coded_answers: list[CodedAnswer] = Field(default_factory=list)
    not_actionable_terms: list[str] = Field(default_factory=list)
    no_result_terms: list[str] = Field(default_factory=list)
    not_actionable_sources: list[str] = Field(default_factory=list)
    sources: list[str]
    status: Status


class Gene(_Entry):
    hgnc: str = Field(pattern=r"^HGNC:\d+$")
    aliases: list[str] = Field(min_length=1)
    label: str
    sources: list[str]
    status: Status


class OtherGenes(_Entry):
    """Symbols without a digit of genes the knowledge base holds no rows for: a change after one is that gene's."""

    symbols: list[Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z-]*[A-Z]$")]] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    status: Status


class VariantMeaning(_Entry):
    id: str
    gene: str
    # HGVS protein change in the 3-letter form the reader normalises to (p.Thr315Ile).
    protein: str | None = Field(default=None, pattern=r"^p\.[A-Z][a-z]{2}\d+[A-Z][a-z]{2}$")
    exon: int | None = Field(default=None, gt=0)
    cancers: list[str] = Field(min_length=1)
    category: MutationCategory
    on_imatinib: Literal["avoid", "caution", "note", "none"]
    critical: bool = False
    avoid: list[str] = Field(default_factory=list)
    prefer: list[str] = Field(default_factory=list)
    prefer_status: Status | None = None
    note: str
    sources: list[str] = Field(min_length=1)
    status: Status


class MutationTable(_Entry):
    """What the mutation table covers: the TKIs it lists mutations to avoid for, and the rows naming imatinib."""

    gene: str
    tkis: list[str] = Field(min_length=1)
    imatinib_named_for: list[str]  # variant row ids
    sources: list[str] = Field(min_length=1)
    status: Status


class ChangeOfTherapy(_Entry):
    categories: list[MutationCategory] = Field(min_length=1)
    text: str
    sources: list[str] = Field(min_length=1)
    status: Status


class ExonOf(_Entry):
    """The exon the sources place named changes in, for a lab that writes the change but not its exon."""

    gene: str
    exon: int = Field(gt=0)
    proteins: list[Annotated[str, StringConstraints(pattern=r"^p\.[A-Z][a-z]{2}\d+[A-Z][a-z]{2}$")]] = Field(
        min_length=1)
    sources: list[str] = Field(min_length=1)
    status: Status


class Genomics(_Entry):
    reading: VariantReading
    mutation_table: MutationTable
    change_of_therapy: ChangeOfTherapy
    genes: dict[str, Gene]
    other_genes: OtherGenes | None = None
    variants: list[VariantMeaning] = Field(min_length=1)
    exons: list[ExonOf] = Field(default_factory=list)


# Molecular response (response.toml).


class SourcedText(_Entry):
    text: str
    sources: list[str] = Field(min_length=1)
    status: Status


class IsResultCode(_Entry):
    system: str
    code: str
    text: str
    units: list[str] = Field(min_length=1)
    sources: list[str]
    status: Status


class Milestone(_Entry):
    months: int = Field(gt=0)
    optimal_max_percent: float = Field(gt=0)
    failure_above_percent: float | None = None
    sources: list[str] = Field(min_length=1)
    status: Status


class DeepResponse(_Entry):
    deep_max_percent: float = Field(gt=0)  # at or below: a deep molecular response by every definition in use
    possibly_deep_max_percent: float = Field(gt=0)  # up to this: by some definitions only
    sources: list[str] = Field(min_length=1)
    status: Status


class MolecularResponse(_Entry):
    is_result: IsResultCode
    milestones: list[Milestone] = Field(min_length=1)
    failure: SourcedText
    deep_response: DeepResponse


# Combination strategies, the decision guide, trials and safety notes (combinations.toml).


class AgentClass(_Entry):
    label: str
    members: list[str] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    status: Status


class MonitoringNote(_Entry):
    text: str
    # The review's checklist has two parts: checks to schedule, and toxicities to prepare for.
    kind: Literal["schedule", "toxicity"] = "schedule"
    cancers: list[str] = Field(default_factory=list)  # empty: every indication
    sources: list[str] = Field(min_length=1)
    status: Status


class Stage(_Entry):
    """A disease stage the guide's form offers that conditions.toml does not code (CML's phases come from there)."""

    cancer: Literal["cml", "gist"]
    phase: Phase
    label: str
    sources: list[str] = Field(min_length=1)
    status: Status


class Strategy(_Entry):
    label: str
    agents: list[str] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)
    claim: str | None = None  # what the review says, when it is one of the review's strategies
    claim_sources: list[str] = Field(default_factory=list)
    # Whom the review's claim is about; a card shows the claim only for a patient it fits (None: any).
    claim_cancers: list[Literal["cml", "gist"]] = Field(default_factory=list)
    claim_phases: list[Phase] | None = None
    claim_mutations: list[MutationCategory | Literal["none"]] | None = None
    # The strongest evidence for the pairing in any population (the evidence pages); a card or the guide for one
    # patient shows only the evidence of the trials whose population fits that patient.
    evidence_level: EvidenceLevel
    evidence: str
    sources: list[str] = Field(min_length=1)
    status: Status
    search_interventions: list[str] = Field(default_factory=list)
    monitoring: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _claim_with_its_source(self) -> "Strategy":
        if bool(self.claim) != bool(self.claim_sources):
            raise ValueError("claim and claim_sources go together")
        if bool(self.claim) != bool(self.claim_cancers):
            raise ValueError("a claim names the cancers it is about (claim_cancers)")
        return self


class GuideRow(_Entry):
    id: str
    cancer: Literal["cml", "gist"]
    phases: list[Phase] | None = None
    mutations: list[MutationCategory | Literal["none"]] | None = None
    prior: list[PriorTherapy] | None = None
    responses: list[ResponseCategory] | None = None
    strategies: list[str] = Field(default_factory=list)
    summary: str = Field(default="", max_length=110)  # the card's summary after "Decision guide: "
    advice: str
    quiet: bool = False
    sources: list[str] = Field(min_length=1)
    status: Status

    @model_validator(mode="after")
    def _summary_unless_quiet(self) -> "GuideRow":
        if not self.quiet and not self.summary:
            raise ValueError("a row that shows a card needs a summary")
        return self


LineOfTherapy = Literal["first", "later"]


class CuratedTrial(_Entry):
    """A registered trial and the population it enrolled: its evidence counts only for a patient who fits it.

    A population field left out means the trial did not restrict on it, which only a seen eligibility can say:
    with `population_status = "U"` (eligibility not seen) the trial never counts as evidence for a patient."""

    nct: str = Field(pattern=r"^NCT\d{8}$")
    name: str | None = None
    summary: str
    registry_status: str | None = None
    results_published: bool = False
    cancer: Literal["cml", "gist"]
    phases: list[Phase] | None = None
    mutations: list[MutationCategory | Literal["none"]] | None = None
    prior: list[PriorTherapy] | None = None
    lines: list[LineOfTherapy] | None = None
    without_deep_response: bool = False  # enrolled only patients without a deep molecular response (CML)
    tested_without_mutations: bool = False  # enrolled only patients a mutation test found without BCR-ABL1 mutations
    population: str  # whom it enrolled, in words ("untreated chronic-phase CML")
    population_sources: list[str] = Field(min_length=1)
    population_status: Status
    strategies: list[str] = Field(min_length=1)
    # The partner agents the trial gave with imatinib, when it studied only some of its strategies' agents
    # (NCT03578367 added asciminib, not dasatinib): its evidence is for those pairings only.
    agents: list[str] | None = None
    sources: list[str] = Field(min_length=1)
    status: Status


class LineRule(_Entry):
    """When a patient is past first-line therapy, for matching trials that enrolled untreated patients only."""

    later_mutations: list[MutationCategory] = Field(min_length=1)
    later_prior: list[PriorTherapy] = Field(min_length=1)
    later_responses: list[ResponseCategory] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)
    status: Status


class SafetyNote(_Entry):
    condition: str
    class_: str = Field(alias="class")
    text: str
    sources: list[str] = Field(min_length=1)
    status: Status


class Combinations(_Entry):
    classes: dict[str, AgentClass]
    monitoring: dict[str, MonitoringNote]
    stages: dict[str, Stage] = Field(default_factory=dict)
    strategies: dict[str, Strategy]
    guide: list[GuideRow] = Field(min_length=1)
    trials: list[CuratedTrial]
    line_of_therapy: LineRule
    ibd_with_pd1: SafetyNote


# Interactions beyond the inducers: inhibitors, alternatives, duplicate BCR-ABL1 inhibitors, de-induction
# (interactions.toml).


class Inhibitor(_Entry):
    strength: Literal["strong", "moderate"]
    classifications: list[Classification] = Field(min_length=1)
    effect: Effect | None = None  # measured with imatinib, where a study exists


class Inhibition(_Entry):
    direction: str
    measured: str  # the inhibitor whose imatinib figures the others are quoted against
    toxicities: SourcedText
    monitoring: SourcedText
    management: SourcedText
    grapefruit: SourcedText


class AlternativeOption(_Entry):
    name: str
    agent: str | None = None  # an ingredients.toml id, when the service knows the agent
    text: str
    sources: list[str] = Field(min_length=1)
    status: Status


class Alternatives(_Entry):
    for_: list[str] = Field(alias="for", min_length=1)
    indication: str
    options: list[AlternativeOption]
    to_decide: str
    sources: list[str] = Field(min_length=1)
    status: Status


class Duplicates(_Entry):
    direction: str
    members: list[str] = Field(min_length=1)
    label: str
    sources: list[str] = Field(min_length=1)
    status: Status


class DeInduction(_Entry):
    baseline_after_days: int = Field(gt=0)
    baseline_sources: list[str] = Field(min_length=1)
    baseline_status: Status
    keep_adjusted_days: int = Field(gt=0)
    keep_adjusted_sources: list[str] = Field(min_length=1)
    keep_adjusted_status: Status
    lookback_days: int = Field(gt=0)
    lookback_sources: list[str] = Field(min_length=1)
    lookback_status: Status
    trough_note: str
    trough_note_sources: list[str] = Field(min_length=1)
    trough_note_status: Status
    trough_after_dose_change_days: int = Field(gt=0)
    trough_after_dose_change_sources: list[str] = Field(min_length=1)
    trough_after_dose_change_status: Status


class Interactions(_Entry):
    inhibition: Inhibition
    inhibitors: dict[str, Inhibitor]
    alternatives: dict[str, Alternatives]
    duplicates: Duplicates
    de_induction: DeInduction


# Imatinib population pharmacokinetics (pk_imatinib.toml).


class _Sourced(_Entry):
    sources: list[str] = Field(min_length=1)
    status: Status


class PkAbsorption(_Sourced):
    ka_per_h: float = Field(gt=0)
    bioavailability: float = Field(gt=0, le=1)


class PkClearance(_Sourced):
    intercept_l_per_h: float = Field(gt=0)
    weight_coefficient: float
    weight_reference_kg: float = Field(gt=0)
    sex_coefficient: float
    age_coefficient: float
    age_reference_years: float = Field(gt=0)
    gist_coefficient: float


class PkVolume(_Sourced):
    intercept_l: float = Field(gt=0)
    sex_coefficient: float


class PkVariability(_Sourced):
    sd_eta_clearance: float = Field(gt=0)
    sd_eta_volume: float = Field(gt=0)
    correlation: float = Field(gt=-1, lt=1)


class PkResidual(_Sourced):
    proportional_sigma: float = Field(gt=0)


class PkUnits(_Sourced):
    molar_mass_g_per_mol: float = Field(gt=0)


class PkBound(_Entry):
    min: float
    max: float
    kind: Literal["hard", "soft"]
    text: str

    @model_validator(mode="after")
    def _ordered(self) -> "PkBound":
        if self.min >= self.max:
            raise ValueError("min must be below max")
        return self


class PkDomain(_Sourced):
    age_years: PkBound
    weight_kg: PkBound


class PkDefaults(_Sourced):
    weight_kg: float = Field(gt=0)
    age_years: float = Field(gt=0)
    male: float = Field(ge=0, le=1)
    indication: Literal["CML", "GIST"]


class PkProposal(_Sourced):
    window_low_fraction: float = Field(gt=0, lt=1)
    window_high_fraction: float = Field(gt=1)
    once_daily_mg: list[int] = Field(min_length=1)
    twice_daily_mg: list[int] = Field(default_factory=list)


class PkInducerFactor(_Sourced):
    clearance_factor: float = Field(ge=1)
    derivation: str
    members: list[str] = Field(default_factory=list)


class PkModel(_Sourced):
    model_id: str
    version: str
    absorption: PkAbsorption
    clearance: PkClearance
    volume: PkVolume
    variability: PkVariability
    residual: PkResidual
    units: PkUnits
    domain: PkDomain
    defaults: PkDefaults
    proposal: PkProposal
    reference: _Sourced
    inducers: dict[str, PkInducerFactor] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_fallback(self) -> "PkModel":
        if sum(1 for f in self.inducers.values() if not f.members) != 1:
            raise ValueError("inducers: exactly one entry without members (the factor for inducers with no figure)")
        return self
