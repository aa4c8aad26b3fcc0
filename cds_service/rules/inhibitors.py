"""Imatinib with a CYP3A4 inhibitor, in both directions: an inhibitor ordered for a patient on imatinib, or
imatinib ordered for a patient on an inhibitor. Strong inhibitors get a warning, moderate ones an info card.

Imatinib is the victim: its exposure rises. The card gives the magnitude (measured only with ketoconazole; the
others are quoted against it and say so), the toxicities to watch, and no dose change, because no source gives one.
"""

from dataclasses import dataclass
from typing import Literal

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Action, Card, Suggestion
from cds_service.rules.common import (
    as_found,
    card_source,
    each_once,
    evidence_pointer,
    fit_summary,
    footer,
    override,
    section,
)

# The optional prefetch keys these cards rely on: a card names the ones that could not be had.
CONSULTED = ("medicationStatements",)


def _ordered_now(use: MedicationUse) -> bool:
    return use.origin == "draft" and use.under_decision


@dataclass(frozen=True, slots=True)
class InhibitorInteraction:
    """One imatinib use and the inhibitors of one strength that meet it, one side being ordered now."""

    imatinib: MedicationUse
    inhibitors: tuple[tuple[MedicationUse, str], ...]  # (the use, the inhibiting ingredient)
    strength: Literal["strong", "moderate"] = "strong"

    @property
    def names(self) -> list[str]:
        return sorted({ingredient for _, ingredient in self.inhibitors})


def find_inhibitor_interactions(facts: PatientFacts, knowledge: Knowledge) -> list[InhibitorInteraction]:
    """Strong inhibitors first, then moderate ones: one interaction (one card) per strength."""
    found = []
    for strength in ("strong", "moderate"):
        found.extend(_of_strength(facts, knowledge, strength))
    return found


def _of_strength(
    facts: PatientFacts, knowledge: Knowledge, strength: Literal["strong", "moderate"]
) -> list[InhibitorInteraction]:
    imatinib_uses = [m for m in facts.medications if "imatinib" in m.ingredients]
    inhibitor_uses = [
        (use, ingredient)
        for use in facts.medications
        if use.systemic  # eye drops, creams and shampoos inhibit nothing (routes.toml)
        for ingredient in sorted(use.ingredients)
        if ingredient in knowledge.inhibitors and knowledge.inhibitors[ingredient].strength == strength
        and "imatinib" not in use.ingredients
    ]
    if not imatinib_uses or not inhibitor_uses:
        return []
    drafts = [m for m in imatinib_uses if _ordered_now(m)]
    if drafts:
        return [InhibitorInteraction(imatinib, tuple(inhibitor_uses), strength) for imatinib in drafts]
    ordered_now = tuple((u, i) for u, i in inhibitor_uses if _ordered_now(u))
    if not ordered_now:
        return []
    current = sorted(imatinib_uses, key=lambda m: {"draft": 0, "order": 1, "statement": 2}.get(m.origin, 3))
    return [InhibitorInteraction(current[0], ordered_now, strength)]


def _effect_lines(interaction: InhibitorInteraction, knowledge: Knowledge) -> list[str]:
    """Per inhibitor: its class, and the imatinib figure (its own, or the measured one's, said so); the sources of
    each are on the topic's evidence page."""
    inhibition = knowledge.interactions.inhibition
    measured = knowledge.inhibitors[inhibition.measured]
    measured_name = knowledge.ingredients[inhibition.measured].name
    lines: list[str] = []
    for name in interaction.names:
        inhibitor = knowledge.inhibitors[name]
        label = knowledge.ingredients[name].name
        classes = ", ".join(f"{c.class_} ({knowledge.sources[c.source].short})" for c in inhibitor.classifications)
        line = f"- **{label}**: a {inhibitor.strength} CYP3A inhibitor ({classes})."
        if inhibitor.effect:
            line += f" Measured with imatinib: {inhibitor.effect.text} (status {inhibitor.effect.status})"
        elif measured.effect:
            line += (
                f" No imatinib-specific figure for {label}; {measured_name}'s is: {measured.effect.text} "
                f"(status {measured.effect.status})."
                + (" A strong inhibitor may do as much or more." if inhibitor.strength == "strong" else "")
            )
        lines.append(line)
    return lines


def _delete_suggestions(interaction: InhibitorInteraction) -> list[Suggestion]:
    return [
        Suggestion(
            label=f"Remove the {use.display} order"[:120],
            actions=[Action(type="delete", description=f"Remove the {use.display} order", resourceId=use.reference)],
        )
        for use in each_once(u for u, _ in interaction.inhibitors)
        if _ordered_now(use) and use.reference
    ]


def _other_dose_advice(facts: PatientFacts, knowledge: Knowledge) -> str:
    """One plan across cards: when an inducer card (taken now, or stopped with imatinib still raised) gives dose
    advice, this card's "no dose change" is for the inhibitor alone and says so, rather than contradicting it."""
    from cds_service.rules.de_induction import find_de_induction
    from cds_service.rules.inducers import find_interactions

    inducers = sorted({
        knowledge.ingredients[name].name
        for found in find_interactions(facts, knowledge) if found.management == "dose-increase"
        for name in found.inducer_names
    })
    if inducers:
        return (f" That is for the inhibitor alone: the dose advice on the {' + '.join(inducers)} card is for the "
                "inducer and stands; with both, a trough level shows their net effect on imatinib.")
    stopped = find_de_induction(facts, knowledge)
    if stopped is not None:
        name = knowledge.ingredients[stopped.inducer.ingredient].name
        return (f" That is for the inhibitor alone: the step back after {name} was stopped, on its own card, "
                "stands; a trough level shows the net effect on imatinib.")
    return ""


def inhibitor_card(interaction: InhibitorInteraction, facts: PatientFacts, knowledge: Knowledge) -> Card:
    inhibition = knowledge.interactions.inhibition
    effects = _effect_lines(interaction, knowledge)
    names = " + ".join(knowledge.ingredients[n].name for n in interaction.names)
    strong = interaction.strength == "strong"
    other_dose_advice = _other_dose_advice(facts, knowledge)
    uses = each_once([interaction.imatinib, *(u for u, _ in interaction.inhibitors)])
    about: dict[int, set[str]] = {}
    for use, ingredient in interaction.inhibitors:
        about.setdefault(id(use), set()).add(ingredient)
    found = "; ".join(as_found(u, about.get(id(u), ()), knowledge) for u in uses)
    detail = "\n\n".join([
        f"Found: {found}.",
        section("**What happens**", "\n".join(effects)),
        "**What to watch**\n\n"
        f"- {inhibition.toxicities.text} (status {inhibition.toxicities.status})\n"
        f"- {inhibition.monitoring.text} (status {inhibition.monitoring.status})",
        "**What to do**\n\n"
        f"1. {'Prefer' if strong else 'Consider'} an alternative to {names} without CYP3A4 inhibition where there is "
        "one; otherwise give "
        "them together with caution and watch for the effects above.\n"
        f"2. {inhibition.management.text} (status {inhibition.management.status}){other_dose_advice}\n"
        f"3. {inhibition.grapefruit.text} (status {inhibition.grapefruit.status})",
        evidence_pointer(),  # every source, what it says and its status: the topic's page, which the card links
        footer(knowledge, facts, uses, CONSULTED, legend=False),
    ])
    summary = (f"Imatinib + {names}: strong CYP3A4 inhibition raises imatinib exposure" if strong
               else f"Imatinib + {names}: moderate CYP3A4 inhibitor may raise imatinib exposure")
    return Card(
        summary=fit_summary(summary),
        detail=detail,
        indicator="warning" if strong else "info",
        source=card_source(knowledge, f"imatinib-{interaction.strength}-cyp3a4-inhibitor",
                           f"Imatinib with a {interaction.strength} CYP3A4 inhibitor"),
        suggestions=_delete_suggestions(interaction),
        selectionBehavior="any",
        overrideReasons=[
            override("short-inhibitor-course", "Short inhibitor course; the patient will be watched"),
            override("no-alternative-inhibitor", "No alternative to the inhibitor; benefit outweighs risk"),
        ],
    )


def inhibitor_interaction_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    return [inhibitor_card(i, facts, knowledge) for i in find_inhibitor_interactions(facts, knowledge)]
