"""Safety notes for combinations being ordered, each with its source.

- Imatinib and an agent of one of the combination strategies, one of them ordered now: the monitoring plan (what
  to check and how often) and how strong the evidence for the pairing is.
- A PD-1 inhibitor ordered for a patient with inflammatory bowel disease: a warning.
"""

from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.facts.conditions import Diagnosis
from cds_service.facts.medications import MedicationUse
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Action, Card, Suggestion, escape_markdown
from cds_service.rules.common import (
    agent_names,
    as_found,
    card_source,
    claim_line,
    evidence_lines,
    evidence_pointer,
    fit_summary,
    footer,
    override,
    section,
)
from cds_service.rules.guide import (
    FITTING_EVIDENCE_LEVELS,
    claim_population,
    guide_inputs,
    monitoring_notes,
    strategy_evidence,
    studied_with,
)

# The data these cards read: named on the card when it could not be had.
CONSULTED = ("medicationStatements", "conditions")


@dataclass(frozen=True, slots=True)
class Combination:
    """Imatinib with the partners of one strategy, at least one side being ordered now."""

    strategy_id: str
    imatinib: MedicationUse
    partners: tuple[MedicationUse, ...]
    agents: tuple[str, ...]


def _ordered_now(use: MedicationUse) -> bool:
    return use.origin == "draft" and use.under_decision


def find_combinations(facts: PatientFacts, knowledge: Knowledge) -> list[Combination]:
    imatinib = sorted(
        (m for m in facts.medications if "imatinib" in m.ingredients),
        key=lambda m: not _ordered_now(m),
    )
    if not imatinib:
        return []
    others = [
        m for m in facts.medications
        if m.systemic and "imatinib" not in m.ingredients and m.ingredients & knowledge.combination_agents
    ]
    combinations = []
    for strategy_id, agents in knowledge.strategy_agents.items() if others else ():
        partners = [m for m in others if m.ingredients & agents]
        if not partners or not (_ordered_now(imatinib[0]) or any(_ordered_now(p) for p in partners)):
            continue
        found = sorted({i for p in partners for i in p.ingredients & agents})
        combinations.append(Combination(strategy_id, imatinib[0], tuple(partners), tuple(found)))
    return combinations


def _monitoring_lines(
    strategy_id: str, facts: PatientFacts, knowledge: Knowledge
) -> tuple[list[str], dict[str, str]]:
    indication = facts.indication()
    lines: list[str] = []
    cited: dict[str, str] = {}
    for note in monitoring_notes([strategy_id], indication.id if indication else None, knowledge):
        lines.append(f"- {note.text} (status {note.status})")
        for source in note.sources:
            cited.setdefault(source, "the monitoring plan")
    return lines, cited


def combination_evidence(
    strategy_id: str, facts: PatientFacts, knowledge: Knowledge, partners: frozenset[str] | None = None
) -> tuple[str, dict[str, str]]:
    """The evidence for the pairing that fits this patient (a trial of another population lends none), and what it
    cites. With no indication on record no population can be matched: the trials are named with whom they enrolled."""
    strategy = knowledge.combinations.strategies[strategy_id]
    cited: dict[str, str] = {}
    inputs = guide_inputs(facts, knowledge)
    trials = [t for t in knowledge.combinations.trials if strategy_id in t.strategies and studied_with(t, partners)]
    if inputs is None:
        lines = ["The record names no indication, so no trial's population can be matched to this patient."]
        lines += [f"- {t.nct} enrolled {t.population} (status {t.population_status})." for t in trials]
        for trial in trials:
            for source in trial.population_sources:
                cited.setdefault(source, f"whom {trial.nct} enrolled")
        if claim := claim_line(knowledge, strategy):
            lines.append(f"The review's claim, about {claim_population(strategy, knowledge)}: {claim}")
            for source in strategy.claim_sources:
                cited.setdefault(source, "the review's claim")
        return "\n\n".join(lines), cited
    found = strategy_evidence(strategy_id, inputs.scenario, knowledge, partners)
    if found.level is None:
        text = "No evidence in the knowledge base fits this patient."
    else:
        text = f"Level for this patient: {FITTING_EVIDENCE_LEVELS[found.level]}."
    items = [f"- {fit.fit_line()}." for fit in found.fitting]
    items += [f"- Not counted: {f.why_not()}." for f in found.left_out if f.trial.cancer == inputs.cancer]
    for trial in found.trials:
        for source in (*trial.sources, *trial.population_sources):
            cited.setdefault(source, f"{trial.nct} and whom it enrolled")
    for fit in found.left_out:
        for source in fit.trial.population_sources if fit.trial.cancer == inputs.cancer else ():
            cited.setdefault(source, f"whom {fit.trial.nct} enrolled")
    if inputs.deep_response != "no" and any(f.trial.without_deep_response and f.trial.cancer == inputs.cancer
                                            for f in (*found.fitting, *found.left_out)):
        for source in knowledge.response.deep_response.sources:
            cited.setdefault(source, "what a deep molecular response is (MR4, MR4.5)")
    parts = [text, "\n".join(items)] if items else [text]
    if found.claim_applies and (claim := claim_line(knowledge, strategy)):
        parts.append(claim)
        for source in strategy.claim_sources:
            cited.setdefault(source, "the review's claim")
    elif strategy.claim:
        parts.append(f"The review's claim for this pairing is about {claim_population(strategy, knowledge)}, "
                     "not this patient.")
    return "\n\n".join(parts), cited


def monitoring_card(combination: Combination, facts: PatientFacts, knowledge: Knowledge) -> Card:
    strategy = knowledge.combinations.strategies[combination.strategy_id]
    names = agent_names(knowledge, combination.agents)
    monitoring, cited = _monitoring_lines(combination.strategy_id, facts, knowledge)
    evidence, evidence_cited = combination_evidence(combination.strategy_id, facts, knowledge,
                                                    frozenset(combination.agents))
    for source, supports in evidence_cited.items():
        cited.setdefault(source, supports)
    agents = frozenset(combination.agents)
    found = "; ".join(as_found(u, u.ingredients & agents, knowledge)
                      for u in (combination.imatinib, *combination.partners))
    detail = "\n\n".join(filter(None, [
        f"Found: {found}. If imatinib and {names} are to be taken together, this is the combination "
        f"\u201c{strategy.label}\u201d.",
        section("**Evidence for the combination**", evidence),
        section("**Monitoring**", "\n".join(monitoring)) if monitoring else None,
        section("**Evidence**", evidence_lines(knowledge, cited)),
        footer(knowledge, facts, [combination.imatinib, *combination.partners], CONSULTED),
    ]))
    return Card(
        summary=fit_summary(f"Imatinib + {names}: monitoring plan for a combination ({strategy.label})"),
        detail=detail,
        indicator="info",
        source=card_source(knowledge, f"combination-{combination.strategy_id}", "Imatinib combination monitoring"),
    )


def pd1_with_ibd_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    note = knowledge.combinations.ibd_with_pd1
    ibd = [d for d in facts.diagnoses if d.id == note.condition]
    members = knowledge.class_members[note.class_]
    orders = [m for m in facts.medications if _ordered_now(m) and m.ingredients & members]
    if not ibd or not orders:
        return []
    cards = []
    found = "; ".join(escape_markdown(_ibd_on_record(d)) for d in ibd)
    condition_line = f"On record: {found}."
    history = [d for d in ibd if d.inactive]
    if history:
        condition_line += (
            " Recorded as inactive or resolved, it still counts: in the study, GI adverse events came a median "
            "of 5 years after the last active episode of inflammatory bowel disease."
        )
    if any(d.recognised_by == "name" for d in ibd):
        condition_line += " Recognised by its name, not by a code the knowledge base knows."
    first = ibd[0].name or ibd[0].group.label
    for order in orders:
        drug = agent_names(knowledge, sorted(order.ingredients & members))
        suggestions = []
        if order.reference:
            suggestions.append(Suggestion(
                label=f"Remove the {drug} order",
                actions=[Action(type="delete", description=f"Remove the {drug} order", resourceId=order.reference)],
            ))
        detail = "\n\n".join([
            f"Found: {as_found(order, order.ingredients & members, knowledge)}, a PD-1 inhibitor.",
            condition_line,
            section("**What happens**", f"{note.text} ({knowledge.cite_short(note.sources)}; status {note.status})"),
            section("**What to do**", "The combination review advises avoiding immunotherapy with active "
                    "inflammatory bowel disease; otherwise weigh the risk of severe gastrointestinal events against "
                    "the benefit."),
            evidence_pointer(),  # the study, the codes IBD is recognised by and their sources: the topic's page
            footer(knowledge, facts, [order], ("conditions",), legend=False),
        ])
        cards.append(Card(
            summary=fit_summary(f"{drug.capitalize()} with {first} on record: higher risk of severe colitis"),
            detail=detail,
            indicator="warning",
            source=card_source(knowledge, "pd-1-inhibitor-ibd", "A PD-1 inhibitor with inflammatory bowel disease"),
            suggestions=suggestions,
            selectionBehavior="at-most-one",
            overrideReasons=[
                override("benefit-outweighs-risk", "Benefit outweighs the risk; the patient is informed"),
                override("gastroenterology-consulted", "Gastroenterology consulted"),
            ],
        ))
    return cards


def _ibd_on_record(diagnosis: Diagnosis) -> str:
    """"Crohn's disease on record since 2019-03-04", with its status when it is not simply active."""
    text = diagnosis.on_record()
    notes = []
    if diagnosis.clinical_status and diagnosis.clinical_status != "active":
        notes.append(f"clinical status {diagnosis.clinical_status}")
    if diagnosis.verification in ("provisional", "differential", "unconfirmed"):
        notes.append(f"verification {diagnosis.verification}")
    return text + (f" ({', '.join(notes)})" if notes else "")


def combination_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    return [monitoring_card(c, facts, knowledge) for c in find_combinations(facts, knowledge)]
