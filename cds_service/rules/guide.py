"""The review's decision guide, answered from the record instead of a web form.

Inputs: cancer type and phase (Conditions), mutation status (variant results), prior therapy (medication history)
and, in CML, the BCR-ABL1 response against the ELN 2020 milestones. The first guide row in combinations.toml that
matches gives the advice and the strategies to show, each with its evidence level; registered trials are matched to
cancer, phase, mutation status, prior therapy and strategy, and a live registry search adds recruiting ones when
it is switched on.

To keep cards few, the guide speaks only where a choice is made (order-select, and the legacy
medication-prescribe; not again at order-sign), only when imatinib itself is being ordered, and only when its row
has something to add (a new start without a mutation, or a patient on track, gets no guide card).
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.facts.conditions import Diagnosis
from cds_service.facts.genomics import VariantFinding, actionable_variants
from cds_service.facts.response import IsResult, ResponseAssessment, assess_response
from cds_service.facts.therapy import TherapyHistory, therapy_history
from cds_service.gather.trials import LiveTrials, TrialQuery, study_url
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import (
    CuratedTrial,
    EvidenceLevel,
    GuideRow,
    MonitoringNote,
    Strategy,
    VariantMeaning,
)
from cds_service.protocol.cards import Card, Link, escape_markdown
from cds_service.rules.common import (
    agent_names,
    card_source,
    claim_line,
    evidence_lines,
    finding_source,
    fit_summary,
    footer,
    section,
)

GUIDE_HOOKS = frozenset({"order-select", "medication-prescribe"})
# The data the guide reads: named on the card when it could not be had.
CONSULTED = ("medicationHistory", "medicationStatements", "conditions", "labResults", "genomicVariants")
# Variant categories whose names go into the registry search as terms.
_SEARCHED_CATEGORIES = frozenset({"t315i", "kinase-domain", "pdgfra-d842v", "kit-secondary"})


@dataclass(frozen=True, slots=True)
class Scenario:
    """The review's four choices as the guide's categories (and, in CML, the response): all a row is matched on.

    The card builds it from the record, /guide from its form; both then call the same `guide_row`."""

    cancer: str
    phase: str | None
    mutations: frozenset[str]  # variant categories, {"none"} when no variant
    prior: frozenset[str]  # none | imatinib | second-generation
    response: str = "unknown"  # optimal | warning | failure | early | unknown
    # The latest BCR-ABL1 IS result against the deep-response thresholds: deep | possibly | no | unknown.
    deep_response: str = "unknown"
    # Whether "no mutation" is a test's result (the guide's form, a negative result on record) or only that none is
    # on record: a trial that enrolled patients without mutations is then not confirmed to fit.
    mutations_tested: bool = True


@dataclass(frozen=True, slots=True)
class GuideInputs:
    diagnosis: Diagnosis
    variants: tuple[tuple[VariantFinding, VariantMeaning], ...]
    tested_negative: tuple[VariantFinding, ...]
    therapy: TherapyHistory
    response: ResponseAssessment | None  # CML only
    # The variant categories every guide row and trial is matched on ("none" when no variant), worked out once.
    mutations: frozenset[str]
    deep_response: str = "unknown"

    @property
    def cancer(self) -> str:
        return self.diagnosis.id

    @property
    def scenario(self) -> Scenario:
        return Scenario(
            cancer=self.diagnosis.id,
            phase=self.diagnosis.group.phase,
            mutations=self.mutations,
            prior=frozenset(self.therapy.categories),
            response=self.response.category if self.response else "unknown",
            deep_response=self.deep_response,
            mutations_tested=bool(self.variants or self.tested_negative),
        )


def guide_inputs(facts: PatientFacts, knowledge: Knowledge) -> GuideInputs | None:
    diagnosis = facts.indication()
    if diagnosis is None:
        return None
    variants = tuple(
        (finding, meaning)
        for finding in actionable_variants(facts.genomic_findings, knowledge.variants)
        if (meaning := knowledge.variants.meaning(finding.gene, finding.protein, finding.exon)) is not None
        and diagnosis.id in meaning.cancers
    )
    genes = knowledge.variants.genes_by_cancer.get(diagnosis.id, frozenset())
    tested_negative = tuple(
        f for f in facts.genomic_findings if not f.detected and f.protein is None and f.exon is None and f.gene in genes
    )
    therapy = therapy_history(
        facts.medications, facts.history, knowledge.class_members.get("second-generation-tki", frozenset())
    )
    response = None
    if diagnosis.id == "cml":
        response = assess_response(facts.bcr_abl1_results, therapy.imatinib_start, knowledge)
    mutations: frozenset[str] = frozenset(meaning.category for _, meaning in variants) or frozenset({"none"})
    deep = deep_response(response.latest if response else None, knowledge)
    return GuideInputs(diagnosis, variants, tested_negative, therapy, response, mutations, deep)


def deep_response(latest: IsResult | None, knowledge: Knowledge) -> str:
    """deep | possibly (a deep response by some definitions only) | no | unknown (no IS result)."""
    if latest is None:
        return "unknown"
    thresholds = knowledge.response.deep_response
    if latest.percent <= thresholds.deep_max_percent:
        return "deep"
    if latest.below_limit:  # "<0.005 %": at most that, so not settled above the deep threshold
        return "possibly" if latest.percent <= thresholds.possibly_deep_max_percent else "unknown"
    if latest.percent <= thresholds.possibly_deep_max_percent:
        return "possibly"
    return "no"


def _fits(stated: Sequence[str] | None, patient: Iterable[str | None]) -> bool:
    """A field left out of a row matches anyone; a stated one needs one of the patient's values."""
    return stated is None or any(value in stated for value in patient)


def _fits_scenario(entry: GuideRow | CuratedTrial, scenario: Scenario) -> bool:
    return (
        entry.cancer == scenario.cancer
        and _fits(entry.phases, [scenario.phase])
        and _fits(entry.mutations, scenario.mutations)
        and _fits(entry.prior, scenario.prior)
    )


def guide_row(scenario: Scenario, knowledge: Knowledge) -> GuideRow | None:
    """The first row whose every stated field matches the scenario."""
    for row in knowledge.combinations.guide:
        if _fits_scenario(row, scenario) and _fits(row.responses, [scenario.response]):
            return row
    return None


def choose_row(inputs: GuideInputs, knowledge: Knowledge) -> GuideRow | None:
    """The row for the patient's record."""
    return guide_row(inputs.scenario, knowledge)


def line_of_therapy(scenario: Scenario, knowledge: Knowledge) -> tuple[str, str | None]:
    """("later", why) once therapy has failed (a resistance mutation, an earlier second-generation TKI, failure by
    the milestones), else ("first", None): untreated, or on first-line imatinib."""
    rule = knowledge.combinations.line_of_therapy
    if mutations := sorted(scenario.mutations & set(rule.later_mutations)):
        return "later", ", ".join(_MUTATION_WORDS[m] for m in mutations)
    if priors := sorted(scenario.prior & set(rule.later_prior)):
        return "later", ", ".join(_PRIOR_WORDS[p] for p in priors)
    if scenario.response in rule.later_responses:
        return "later", f"{scenario.response} by the response milestones"
    return "first", None


# How the patient's side of a population mismatch reads on a card.
_MUTATION_WORDS = {
    "none": "no mutation", "t315i": "BCR-ABL1 T315I", "kinase-domain": "a BCR-ABL1 kinase-domain mutation",
    "pdgfra-d842v": "PDGFRA D842V", "kit-secondary": "a secondary KIT mutation", "kit": "a KIT mutation",
    "pdgfra": "a PDGFRA mutation",
}
_PRIOR_WORDS = {"none": "no earlier TKI", "imatinib": "imatinib before", "second-generation": "a second-generation TKI"}


@dataclass(frozen=True, slots=True)
class TrialFit:
    """A registered trial against one patient: whether its population fits, and if not, how the patient differs."""

    trial: CuratedTrial
    differs: tuple[str, ...]  # empty when it fits
    # What the trial required that the record does not show either way ("no BCR-ABL1 mutation test on record"):
    # the trial still counts, and the card says it is not confirmed.
    unconfirmed: tuple[str, ...] = ()

    @property
    def fits(self) -> bool:
        return not self.differs

    def fit_line(self) -> str:
        """"NCT03578367 enrolled ...: this patient fits" (or "may fit: not on record: ...")."""
        trial = self.trial
        if self.unconfirmed:
            return (f"{trial.nct} enrolled {trial.population}: this patient may fit, not confirmed: "
                    f"{'; '.join(self.unconfirmed)} (status {trial.population_status})")
        return f"{trial.nct} enrolled {trial.population}: this patient fits (status {trial.population_status})"

    def why_not(self) -> str:
        """"NCT01991379 enrolled treatment-naive advanced GIST; this patient: past first-line therapy"."""
        name = f"{self.trial.nct}" + (f", {self.trial.name}," if self.trial.name else "")
        if self.trial.population_status == "U":
            return f"{name}: {self.trial.population}, so it is not counted"
        return f"{name} enrolled {self.trial.population}; this patient: {', '.join(self.differs)}"


def trial_fit(trial: CuratedTrial, scenario: Scenario, knowledge: Knowledge) -> TrialFit:
    """Every population field the trial states, against the patient; an unseen eligibility never fits."""
    if trial.cancer != scenario.cancer:  # another cancer: nothing else to compare
        return TrialFit(trial, (knowledge.condition_labels.get(scenario.cancer, scenario.cancer),))
    differs: list[str] = []
    if not _fits(trial.phases, [scenario.phase]):
        differs.append(f"{scenario.phase} phase" if scenario.phase else "phase not recorded")
    if not _fits(trial.mutations, scenario.mutations):
        differs.append(", ".join(_MUTATION_WORDS[m] for m in sorted(scenario.mutations)))
    if not _fits(trial.prior, scenario.prior):
        differs.append(", ".join(_PRIOR_WORDS[p] for p in sorted(scenario.prior)))
    line, why = line_of_therapy(scenario, knowledge)
    if not _fits(trial.lines, [line]) and not differs:
        differs.append(f"past first-line therapy ({why})" if line == "later" else "on first-line therapy")
    if trial.population_status == "U" and not differs:
        differs.append("eligibility not seen")
    unconfirmed: list[str] = []
    if trial.without_deep_response:
        if scenario.deep_response == "deep":
            differs.append("a deep molecular response (the latest BCR-ABL1 IS result)")
        elif scenario.deep_response == "possibly":
            unconfirmed.append("the latest BCR-ABL1 IS result is a deep molecular response by some definitions "
                               "(MR4, at most 0.01 % IS)")
        elif scenario.deep_response == "unknown":
            unconfirmed.append("no BCR-ABL1 IS result on record shows the response is not deep")
    if trial.tested_without_mutations and scenario.mutations == {"none"} and not scenario.mutations_tested:
        unconfirmed.append("no BCR-ABL1 mutation test on record")
    return TrialFit(trial, tuple(differs), tuple(unconfirmed))


@dataclass(frozen=True, slots=True)
class StrategyEvidence:
    """What supports one strategy for one patient: the trials whose population fits, else the review's claim when
    it is about such a patient; the trials left out, and why."""

    strategy_id: str
    strategy: Strategy
    trials: tuple[CuratedTrial, ...]
    left_out: tuple[TrialFit, ...]
    claim_applies: bool
    fitting: tuple[TrialFit, ...] = ()  # the fits of `trials`, with what the record does not confirm

    @property
    def shown(self) -> bool:
        """Shown only with evidence that fits the patient: a fitting trial, or the review's claim for such a patient.
        A strategy whose only trials enrolled other patients and that no claim covers is left out, and named as
        left out with the reason, rather than shown with another population's evidence."""
        return bool(self.trials) or self.claim_applies

    @property
    def level(self) -> EvidenceLevel | None:
        if any(t.results_published for t in self.trials):
            return "published-trial"
        if self.trials:
            return "registered-trial"
        return "review-only" if self.claim_applies else None


def strategy_evidence(
    strategy_id: str, scenario: Scenario, knowledge: Knowledge, partners: frozenset[str] | None = None
) -> StrategyEvidence:
    """The strategy's evidence for this scenario; with `partners` (the agents actually paired with imatinib), only
    trials that gave one of them: a trial of another agent of the same strategy lends no evidence."""
    strategy = knowledge.combinations.strategies[strategy_id]
    fits = [trial_fit(t, scenario, knowledge) for t in knowledge.combinations.trials
            if strategy_id in t.strategies and studied_with(t, partners)]
    claim_applies = bool(strategy.claim) and (
        scenario.cancer in strategy.claim_cancers
        and _fits(strategy.claim_phases, [scenario.phase])
        and _fits(strategy.claim_mutations, scenario.mutations)
    )
    return StrategyEvidence(
        strategy_id, strategy, tuple(f.trial for f in fits if f.fits), tuple(f for f in fits if not f.fits),
        claim_applies, tuple(f for f in fits if f.fits),
    )


def studied_with(trial: CuratedTrial, partners: frozenset[str] | None) -> bool:
    """Whether the trial gave one of `partners` with imatinib (None: the pairing is not known, any trial counts)."""
    return partners is None or trial.agents is None or bool(set(trial.agents) & partners)


def scenario_trials(scenario: Scenario, row: GuideRow, knowledge: Knowledge) -> list[CuratedTrial]:
    """Registered trials of the row's strategies whose population fits the scenario (cancer, phase, mutation status,
    prior therapy, line of therapy): only these lend a strategy their evidence."""
    return [
        trial for trial in knowledge.combinations.trials
        if set(trial.strategies) & set(row.strategies) and trial_fit(trial, scenario, knowledge).fits
    ]


def monitoring_notes(strategy_ids: Iterable[str], cancer: str | None, knowledge: Knowledge) -> list[MonitoringNote]:
    """The review's checklist for these strategies, once each, without notes for another cancer."""
    notes: dict[str, MonitoringNote] = {}
    for strategy_id in strategy_ids:
        for note_id in knowledge.combinations.strategies[strategy_id].monitoring:
            note = knowledge.combinations.monitoring[note_id]
            if note.cancers and cancer is not None and cancer not in note.cancers:
                continue
            notes.setdefault(note_id, note)
    return list(notes.values())


def _imatinib_being_ordered(facts: PatientFacts) -> bool:
    return any(m.under_decision and m.origin == "draft" and "imatinib" in m.ingredients for m in facts.medications)


def guide_for(facts: PatientFacts, knowledge: Knowledge) -> tuple[GuideInputs, GuideRow] | None:
    """The guide's inputs and row when it has a card to show for this call, else None."""
    if facts.hook not in GUIDE_HOOKS or not _imatinib_being_ordered(facts):
        return None
    inputs = guide_inputs(facts, knowledge)
    if inputs is None:
        return None
    row = choose_row(inputs, knowledge)
    if row is None or row.quiet:
        return None
    return inputs, row


def live_trial_query(facts: PatientFacts, knowledge: Knowledge) -> TrialQuery | None:
    """The registry search the guide card would show, for the engine to run before the rules (rules stay pure)."""
    found = guide_for(facts, knowledge)
    if found is None:
        return None
    return trial_query(*found, knowledge)


def trial_query(inputs: GuideInputs, row: GuideRow, knowledge: Knowledge) -> TrialQuery:
    """Condition, imatinib with the row's strategies' agents, and the names of the variants that drive the row."""
    strategies = [knowledge.combinations.strategies[s] for s in row.strategies]
    interventions = tuple(dict.fromkeys(term for s in strategies for term in s.search_interventions))
    terms = tuple(dict.fromkeys(
        f.short or f.name for f, meaning in inputs.variants if meaning.category in _SEARCHED_CATEGORIES
    ))
    return TrialQuery(inputs.diagnosis.group.codes[0].display, interventions, terms)


def matched_trials(inputs: GuideInputs, row: GuideRow, knowledge: Knowledge) -> list[CuratedTrial]:
    """Registered trials of the row's strategies whose population fits the patient."""
    return scenario_trials(inputs.scenario, row, knowledge)


def _record_lines(inputs: GuideInputs, facts: PatientFacts, knowledge: Knowledge) -> list[str]:
    diagnosis = inputs.diagnosis
    phase = f", {diagnosis.group.phase} phase" if diagnosis.group.phase else ""
    onset = (f" (onset {diagnosis.onset[:10]})" if diagnosis.onset
             else f" (on record since {diagnosis.recorded[:10]})" if diagnosis.recorded else "")
    lines = [f"- Cancer: {diagnosis.group.label}{phase}{onset}."]
    if inputs.variants:
        for finding, _ in inputs.variants:
            lines.append(f"- Mutation: **{escape_markdown(finding.name)}**, {finding_source(finding)}")
    elif inputs.tested_negative:
        newest = inputs.tested_negative[0]
        lines.append(f"- Mutation: none detected, {finding_source(newest)}")
    elif not facts.unattributed_variants:
        lines.append("- Mutation: no variant result on record.")
    for change in facts.unattributed_variants:
        lines.append(
            f"- Mutation: {escape_markdown(change.name)} without its gene (possible: {', '.join(change.candidates)}), "
            f"{change.observation or 'an Observation without id'}, reported {change.date}: not used by the guide "
            "until the report names its gene."
        )
    therapy = inputs.therapy
    if therapy.categories == {"none"}:
        lines.append("- Prior therapy: no earlier imatinib or second-generation TKI on record.")
    else:
        if therapy.imatinib:
            since = f", first ordered {therapy.imatinib_start[:10]}" if therapy.imatinib_start else ""
            lines.append(f"- Prior therapy: imatinib{since}.")
        if therapy.second_generation:
            names = sorted({i for u in therapy.second_generation for i in u.ingredients})
            lines.append(f"- Prior therapy: second-generation TKI ({agent_names(knowledge, names)}).")
    if inputs.response is not None:
        lines.append(f"- Response: {inputs.response.describe()}")
    return lines


# How a strategy's evidence for this patient reads on the card.
FITTING_EVIDENCE_LEVELS = {
    "published-trial": "registered trial, results published",
    "registered-trial": "registered trial, results not in the knowledge base",
    "review-only": "the review's claim only; no registered trial fits this patient",
}


def claim_population(strategy: Strategy, knowledge: Knowledge) -> str:
    """"chronic-phase chronic myeloid leukaemia": whom the review's claim is about."""
    cancers = " or ".join(knowledge.condition_labels.get(c, c) for c in strategy.claim_cancers)
    phases = f"{' or '.join(strategy.claim_phases)}-phase " if strategy.claim_phases else ""
    mutations = (f" with {' or '.join(_MUTATION_WORDS[m] for m in strategy.claim_mutations)}"
                 if strategy.claim_mutations else "")
    return f"{phases}{cancers}{mutations}"


def _strategy_line(evidence: StrategyEvidence, facts: PatientFacts, knowledge: Knowledge) -> str:
    strategy = evidence.strategy
    level = evidence.level or "review-only"
    line = f"- **{strategy.label}**, evidence for this patient: {FITTING_EVIDENCE_LEVELS[level]}."
    for fit in evidence.fitting:
        line += f"\n  - {fit.fit_line()}."
    if evidence.claim_applies and (claim := claim_line(knowledge, strategy)):
        line += f"\n  - {claim}"
    indication = facts.indication()
    for fit in evidence.left_out:  # a trial of another cancer is not worth a line under a shown strategy
        if indication is not None and fit.trial.cancer == indication.id:
            line += f"\n  - Not counted: {fit.why_not()}."
    safety = knowledge.combinations.ibd_with_pd1
    if safety.class_ in strategy.classes and any(d.id == safety.condition for d in facts.diagnoses):
        line += "\n  - **Inflammatory bowel disease is on record: avoid this combination.**"
    return line


def _left_out_line(evidence: StrategyEvidence, knowledge: Knowledge) -> str:
    """A strategy not shown: which trials enrolled whom, and whom the review's claim is about."""
    reasons = [fit.why_not() for fit in evidence.left_out]
    if evidence.strategy.claim:
        reasons.append(f"the review's claim is about {claim_population(evidence.strategy, knowledge)}")
    else:
        reasons.append("the review makes no claim for it")
    return f"- {evidence.strategy.label}: {'; '.join(reasons)}."


def _prefer_lines(inputs: GuideInputs, knowledge: Knowledge) -> list[str]:
    lines = []
    for finding, meaning in inputs.variants:
        if meaning.prefer:
            kind = "lists no concern for" if meaning.prefer_status == "derived" else "prefers"
            lines.append(
                f"- {escape_markdown(finding.name)}: the table {kind} {agent_names(knowledge, meaning.prefer)} "
                f"(status {meaning.prefer_status})."
            )
    return lines


def _trial_section(
    trials: list[CuratedTrial], live: LiveTrials | None
) -> tuple[list[str], list[Link]]:
    lines, links = [], []
    for trial in trials:
        name = f" {trial.name}:" if trial.name else ""
        status = f" Registry status: {trial.registry_status}." if trial.registry_status else ""
        url = study_url(trial.nct)
        lines.append(f"- [{trial.nct}]({url}){name} {trial.summary}{status} (status {trial.status})")
        links.append(Link(label=f"{trial.nct} on ClinicalTrials.gov", url=url))
    if not trials:
        lines.append("- No registered trial in the knowledge base matches.")
    if live is not None:
        if not live.available:
            lines.append(f"\n_Live search of ClinicalTrials.gov unavailable ({live.problem}): the trials above are "
                         "the curated list only._")
        elif live.trials:
            lines.append("\n**Recruiting now** (live search of ClinicalTrials.gov):\n")
            for found in live.trials:
                phases = ", ".join(found.phases) or "phase not given"
                lines.append(f"- [{found.nct}]({found.url}) {escape_markdown(found.title)} ({phases}; "
                             f"{found.status or 'status not given'})")
                links.append(Link(label=f"{found.nct} on ClinicalTrials.gov", url=found.url))
        else:
            lines.append("\n_Live search of ClinicalTrials.gov: no recruiting trial matches._")
    return lines, links


def decision_guide_card(inputs: GuideInputs, row: GuideRow, facts: PatientFacts, knowledge: Knowledge) -> Card:
    evidence = [strategy_evidence(s, inputs.scenario, knowledge) for s in row.strategies]
    shown = [e for e in evidence if e.shown]
    trials = matched_trials(inputs, row, knowledge)
    cited: dict[str, str] = {s: "the guide's advice" for s in row.sources}
    for item in shown:
        if item.claim_applies:
            for source in item.strategy.claim_sources:
                cited.setdefault(source, f"the review's claim for {item.strategy.label}")
    for trial in trials:
        for source in (*trial.sources, *trial.population_sources):
            cited.setdefault(source, f"{trial.nct} and whom it enrolled")
    for item in evidence:
        for fit in item.left_out:
            for source in fit.trial.population_sources:
                cited.setdefault(source, f"whom {fit.trial.nct} enrolled")
    for finding, meaning in inputs.variants:
        for source in meaning.sources:
            cited.setdefault(source, f"what {finding.name} means")
    if inputs.response is not None and inputs.response.milestone is not None:
        for source in inputs.response.milestone.sources:
            cited.setdefault(source, "the response milestones")
    trial_lines, links = _trial_section(trials, facts.live_trials)
    query = trial_query(inputs, row, knowledge)
    links.append(Link(label="Search ClinicalTrials.gov for recruiting trials", url=query.search_page()))
    sections = [
        section("**From the record**", "\n".join(_record_lines(inputs, facts, knowledge))),
        section(f"**Guidance** (status {row.status})", row.advice),
    ]
    if prefer := _prefer_lines(inputs, knowledge):
        sections.append(section("**Mutation table**", "\n".join(prefer)))
    if shown:
        sections.append(section("**Strategies**", "\n".join(_strategy_line(e, facts, knowledge) for e in shown)))
    if left_out := [e for e in evidence if not e.shown]:
        sections.append(section(
            "**Left out** (no evidence that fits this patient)",
            "\n".join(_left_out_line(e, knowledge) for e in left_out),
        ))
    sections += [
        section("**Registered trials**", "\n".join(trial_lines)),
        section("**Evidence**", evidence_lines(knowledge, cited)),
        footer(knowledge, facts, [], CONSULTED),
    ]
    return Card(
        summary=fit_summary(f"Decision guide: {row.summary}"),
        detail="\n\n".join(sections),
        indicator="info",
        source=card_source(knowledge, f"decision-guide-{row.id}", "Imatinib combination decision guide"),
        links=links,
    )


def decision_guide_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    found = guide_for(facts, knowledge)
    if found is None:
        return []
    return [decision_guide_card(*found, facts, knowledge)]
