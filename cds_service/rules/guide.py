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

from collections.abc import Iterable
from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.facts.conditions import Diagnosis
from cds_service.facts.genomics import VariantFinding, detected_variants
from cds_service.facts.response import ResponseAssessment, assess_response
from cds_service.facts.therapy import TherapyHistory, therapy_history
from cds_service.gather.trials import LiveTrials, TrialQuery, study_url
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import CuratedTrial, GuideRow, MonitoringNote, Strategy, VariantMeaning
from cds_service.protocol.cards import Card, Link, escape_markdown
from cds_service.rules.common import (
    EVIDENCE_LEVELS,
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


@dataclass(frozen=True, slots=True)
class GuideInputs:
    diagnosis: Diagnosis
    variants: tuple[tuple[VariantFinding, VariantMeaning], ...]
    tested_negative: tuple[VariantFinding, ...]
    therapy: TherapyHistory
    response: ResponseAssessment | None  # CML only
    # The variant categories every guide row and trial is matched on ("none" when no variant), worked out once.
    mutations: frozenset[str]

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
        )


def guide_inputs(facts: PatientFacts, knowledge: Knowledge) -> GuideInputs | None:
    diagnosis = facts.indication()
    if diagnosis is None:
        return None
    variants = tuple(
        (finding, meaning)
        for finding in detected_variants(facts.genomic_findings)
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
    mutations = frozenset(meaning.category for _, meaning in variants) or frozenset({"none"})
    return GuideInputs(diagnosis, variants, tested_negative, therapy, response, mutations)


def _fits(stated: list[str] | None, patient: Iterable[str | None]) -> bool:
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


def scenario_trials(scenario: Scenario, row: GuideRow, knowledge: Knowledge) -> list[CuratedTrial]:
    """Registered trials of the row's strategies for the scenario's cancer, phase, mutation status and prior therapy."""
    return [
        trial for trial in knowledge.combinations.trials
        if set(trial.strategies) & set(row.strategies) and _fits_scenario(trial, scenario)
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
    """Registered trials for the patient's cancer, phase, mutation status and prior therapy, of the row's strategies."""
    return scenario_trials(inputs.scenario, row, knowledge)


def _record_lines(inputs: GuideInputs, facts: PatientFacts, knowledge: Knowledge) -> list[str]:
    diagnosis = inputs.diagnosis
    phase = f", {diagnosis.group.phase} phase" if diagnosis.group.phase else ""
    onset = f" (onset {diagnosis.onset[:10]})" if diagnosis.onset else ""
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


def _strategy_line(strategy: Strategy, facts: PatientFacts, knowledge: Knowledge) -> str:
    line = (
        f"- **{strategy.label}**, evidence: {EVIDENCE_LEVELS[strategy.evidence_level]}. {strategy.evidence} "
        f"(status {strategy.status})"
    )
    if claim := claim_line(knowledge, strategy):
        line += f"\n  - {claim}"
    safety = knowledge.combinations.ibd_with_pd1
    if safety.class_ in strategy.classes and any(d.id == safety.condition for d in facts.diagnoses):
        line += "\n  - **Inflammatory bowel disease is on record: avoid this combination.**"
    return line


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
    strategies = [knowledge.combinations.strategies[s] for s in row.strategies]
    trials = matched_trials(inputs, row, knowledge)
    cited: dict[str, str] = {s: "the guide's advice" for s in row.sources}
    for strategy in strategies:
        for source in strategy.sources:
            cited.setdefault(source, strategy.label)
        for source in strategy.claim_sources:
            cited.setdefault(source, f"the review's claim for {strategy.label}")
    for trial in trials:
        for source in trial.sources:
            cited.setdefault(source, f"{trial.nct}")
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
    if strategies:
        sections.append(section("**Strategies**", "\n".join(_strategy_line(s, facts, knowledge) for s in strategies)))
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
