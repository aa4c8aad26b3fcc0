"""Two BCR-ABL1 inhibitors at once: imatinib with dasatinib, nilotinib, bosutinib, ponatinib or asciminib, one of them
being ordered now.

Most often this is a switch half done (the old order not yet stopped), so the card asks. It offers to remove the
imatinib order when imatinib is the draft; when the other inhibitor is the draft and imatinib is an active order, it
says to stop the imatinib order (a card can delete only a draft). Whether the pair is a studied combination comes from
combinations.toml, so this card and the combination card agree: a pairing no strategy covers is said to be unstudied.
"""

from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Action, Card, Suggestion
from cds_service.rules.common import (
    as_found,
    card_source,
    evidence_lines,
    fit_summary,
    footer,
    override,
    section,
)
from cds_service.rules.guide import FITTING_EVIDENCE_LEVELS, guide_inputs, strategy_evidence

CONSULTED = ("medicationStatements",)


def _ordered_now(use: MedicationUse) -> bool:
    return use.origin == "draft" and use.under_decision


@dataclass(frozen=True, slots=True)
class DuplicateTkis:
    imatinib: MedicationUse
    others: tuple[MedicationUse, ...]
    agents: tuple[str, ...]  # the other BCR-ABL1 inhibitors' ingredient ids


def find_duplicates(facts: PatientFacts, knowledge: Knowledge) -> list[DuplicateTkis]:
    members = knowledge.bcr_abl1_inhibitors
    imatinib = sorted((m for m in facts.medications if "imatinib" in m.ingredients), key=lambda m: not _ordered_now(m))
    others = [m for m in facts.medications if "imatinib" not in m.ingredients and m.ingredients & members]
    if not imatinib or not others:
        return []
    if not (_ordered_now(imatinib[0]) or any(_ordered_now(o) for o in others)):
        return []
    agents = tuple(sorted({i for o in others for i in o.ingredients & members}))
    return [DuplicateTkis(imatinib[0], tuple(others), agents)]


def _studied(agent: str, knowledge: Knowledge) -> str | None:
    """The combination strategy that pairs `agent` with imatinib, if the knowledge base has one."""
    return next((sid for sid, agents in knowledge.strategy_agents.items() if agent in agents), None)


def _stop_line(use: MedicationUse, name: str) -> str:
    """How to stop a medicine, given where it is recorded."""
    if _ordered_now(use):
        return f"remove the {name} order (offered below)"
    if use.origin == "statement":
        return f"ask the patient to stop {name} and record it as stopped"
    return f"stop the {name} order in the EHR (an active order: this card cannot remove it)"


def duplicate_card(duplicate: DuplicateTkis, facts: PatientFacts, knowledge: Knowledge) -> Card:
    names = " + ".join(knowledge.ingredients[a].name for a in duplicate.agents)
    imatinib = duplicate.imatinib
    uses = [imatinib, *duplicate.others]
    found = "; ".join(as_found(u, u.ingredients & knowledge.bcr_abl1_inhibitors, knowledge) for u in uses)
    imatinib_new = _ordered_now(imatinib)
    if imatinib_new:
        stops = "; ".join(
            _stop_line(other, " + ".join(knowledge.ingredients[a].name
                                         for a in sorted(other.ingredients & knowledge.bcr_abl1_inhibitors)))
            for other in duplicate.others
        )
        switch = (f"1. If this is a switch to imatinib: {stops}.\n"
                  "2. If imatinib was not meant to be added: remove the imatinib order (offered below).")
    else:
        switch = (f"1. If this is a switch to {names}: {_stop_line(imatinib, 'imatinib')}.\n"
                  f"2. If {names} was not meant to be added: remove the {names} order (offered below).")
    combination_lines = []
    cited: dict[str, str] = dict.fromkeys(knowledge.interactions.duplicates.sources, "the BCR-ABL1 inhibitors")
    for agent in duplicate.agents:
        name = knowledge.ingredients[agent].name
        strategy_id = _studied(agent, knowledge)
        if strategy_id is None:
            combination_lines.append(
                f"- Imatinib + {name}: no combination of the two is studied in the knowledge base; taking both is "
                "not a recognised regimen."
            )
        else:
            strategy = knowledge.combinations.strategies[strategy_id]
            inputs = guide_inputs(facts, knowledge)  # the evidence that fits this patient, as on the combination card
            evidence = (strategy_evidence(strategy_id, inputs.scenario, knowledge, frozenset({agent}))
                        if inputs else None)
            level = (f"evidence for this patient: {FITTING_EVIDENCE_LEVELS[evidence.level]}"
                     if evidence and evidence.level
                     else "no evidence that fits this patient" if evidence else "evidence not matched: no indication")
            combination_lines.append(
                f"- Imatinib + {name}: the combination \u201c{strategy.label}\u201d ({level}); its evidence and "
                "monitoring plan are on the combination card."
            )
    detail = "\n\n".join([
        f"Found: {found}. Both are {knowledge.interactions.duplicates.label}s: taken together they duplicate "
        "each other.",
        section("**Is this a switch?**", switch),
        section("**If both are meant to be taken together**", "\n".join(combination_lines)),
        section("**Evidence**", evidence_lines(knowledge, cited)),
        footer(knowledge, facts, uses, CONSULTED),
    ])
    suggestions = [
        Suggestion(
            label=f"Remove the {use.display} order"[:120],
            actions=[Action(type="delete", description=f"Remove the {use.display} order", resourceId=use.reference)],
        )
        for use in ([imatinib] if imatinib_new else [o for o in duplicate.others if _ordered_now(o)])
        if use.reference
    ]
    summary = (
        f"Imatinib ordered while {names} is on record: is this a switch?"
        if imatinib_new
        else f"{names.capitalize()} ordered while imatinib is on record: is this a switch?"
    )
    return Card(
        summary=fit_summary(summary),
        detail=detail,
        indicator="warning",
        source=card_source(knowledge, "duplicate-bcr-abl1-inhibitors", "Two BCR-ABL1 inhibitors at once"),
        suggestions=suggestions,
        selectionBehavior="at-most-one",
        overrideReasons=[
            override("switch-old-order-stopped", "A switch; the old order is being stopped"),
            override("intended-combination", "The combination is intended (a trial or specialist plan)"),
        ],
    )


def duplicate_tki_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    return [duplicate_card(d, facts, knowledge) for d in find_duplicates(facts, knowledge)]
