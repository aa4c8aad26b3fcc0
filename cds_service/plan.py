"""One patient, one plan: across all cards of one answer, one stop or one dose per order, and one trough order.

Rules return finished cards, each with its own suggestions, so a T315I card removing the imatinib draft and an
inducer card raising the same draft, or two inducer cards each ordering a trough, used to reach the prescriber side
by side. The smallest fix that holds for every combination of rules:

1. all rules run once; `reconcile` reads their actions into a `CallPlan`: which orders a card removes (a stop beats
   a dose change), which card's dose change stands for each order (PK fit > paediatric BSA > label +50 %, by the
   card's topic), and which one card carries the trough order (the first in the order the cards are shown);
2. if the plan settles a conflict or removes an order, the rules run again with it (`PatientFacts.plan`), so a
   rule that reads it says "see that card" instead of contradicting it;
3. `enforce` drops from every card any action the plan gives to another card, and says so on the card: this holds
   for rules that do not read the plan too, so no answer ever carries two dose changes, a dose change of an order
   another card removes, or two trough orders.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from cds_service.protocol.cards import INDICATOR_RANK, Card, Suggestion

# Whose dose change stands when several cards change the same order: the lower the rank, the stronger the basis.
# A card's topic names its basis; topics not listed are label rules (the inducer card's +50 %, which already applies
# a child's BSA limit within itself, and the de-induction step back).
DOSE_BASIS_RANK: Mapping[str, int] = MappingProxyType({"imatinib-tdm": 0})
LABEL_RANK = 2


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What the cards of this answer propose, settled: the rules read it to stay consistent with each other."""

    # By order reference: the summary of the card that suggests removing it; the topic and the summary of the card
    # whose dose change stands.
    removed: Mapping[str, str] = field(default_factory=dict)
    dose_topic: Mapping[str, str] = field(default_factory=dict)
    dose_card: Mapping[str, str] = field(default_factory=dict)
    trough_topic: str | None = None  # topic of the one card that orders the trough level
    trough_card: str | None = None  # its summary
    conflicts: bool = False

    def removal_of(self, reference: str | None) -> str | None:
        """A sentence for a card that would change an order another card removes, or None."""
        if reference is None or reference not in self.removed:
            return None
        return (f"Another card in this answer suggests removing this imatinib order (“{self.removed[reference]}”): "
                "decide that first; no dose change or trough level is suggested for it here.")

    def dose_elsewhere(self, reference: str | None, topic: str) -> str | None:
        """A sentence for a card whose dose change of `reference` gives way to another card's, or None."""
        owner = self.dose_topic.get(reference or "")
        if owner is None or owner == topic:
            return None
        return f"The imatinib dose is suggested on the card “{self.dose_card[reference or '']}”, not here."

    def trough_elsewhere(self, topic: str) -> str | None:
        """A sentence for a card that would order a trough another card already orders, or None."""
        if self.trough_topic is None or self.trough_topic == topic:
            return None
        return f"The imatinib trough level is ordered from the card “{self.trough_card}”."


NO_PLAN = CallPlan()


def _topic(card: Card) -> str:
    return card.source.topic.code if card.source.topic else ""


def _shown_order(cards: list[Card]) -> list[Card]:
    """The order the engine shows cards in (most severe first, then rule order): the first card wins a trough."""
    return sorted(cards, key=lambda card: INDICATOR_RANK[card.indicator], reverse=True)


def _reference(resource: dict[str, Any] | None) -> str | None:
    if not isinstance(resource, dict):
        return None
    kind, ident = resource.get("resourceType"), resource.get("id")
    return f"{kind}/{ident}" if isinstance(kind, str) and isinstance(ident, str) else None


def _is_trough_order(resource: dict[str, Any] | None, level_codes: set[tuple[str, str]]) -> bool:
    """A ServiceRequest/ProcedureRequest (code) or DSTU2 DiagnosticOrder (item[].code) for an imatinib level."""
    if not isinstance(resource, dict):
        return False
    concepts = [resource.get("code"), *(i.get("code") for i in resource.get("item") or () if isinstance(i, dict))]
    return any(
        (coding.get("system"), coding.get("code")) in level_codes
        for concept in concepts if isinstance(concept, dict)
        for coding in concept.get("coding") or () if isinstance(coding, dict)
    )


def reconcile(cards: list[Card], level_codes: set[tuple[str, str]]) -> CallPlan:
    removed: dict[str, str] = {}
    updates: dict[str, list[tuple[int, int, Card]]] = {}
    trough_cards: list[Card] = []
    for position, card in enumerate(_shown_order(cards)):
        orders_trough = False
        for suggestion in card.suggestions or ():
            for action in suggestion.actions:
                if action.type == "delete" and action.resourceId:
                    removed.setdefault(action.resourceId, card.summary)
                elif action.type == "update" and (ref := _reference(action.resource)):
                    rank = DOSE_BASIS_RANK.get(_topic(card), LABEL_RANK)
                    updates.setdefault(ref, []).append((rank, position, card))
                elif action.type == "create" and _is_trough_order(action.resource, level_codes):
                    orders_trough = True
        if orders_trough:
            trough_cards.append(card)
    dose_topic, dose_card = {}, {}
    # A removal is settled whether or not another card acts on the order yet: a card may still speak of it (keep
    # the dose until a date, a trough to come), so the rules see the plan.
    conflicts = len(trough_cards) > 1 or bool(removed)
    for ref, candidates in updates.items():
        if ref in removed:
            conflicts = True
            continue
        _, _, owner = min(candidates, key=lambda c: (c[0], c[1]))
        dose_topic[ref], dose_card[ref] = _topic(owner), owner.summary
        conflicts = conflicts or len({id(c[2]) for c in candidates}) > 1
    first = trough_cards[0] if trough_cards else None
    return CallPlan(
        removed=removed, dose_topic=dose_topic, dose_card=dose_card, trough_topic=_topic(first) if first else None,
        trough_card=first.summary if first else None, conflicts=conflicts,
    )


def enforce(cards: list[Card], level_codes: set[tuple[str, str]], plan: CallPlan | None = None) -> list[Card]:
    """Every action the plan gives to another card is dropped, with a line saying where it is. `plan` is
    `reconcile(cards, level_codes)` when the caller has it already."""
    if plan is None:
        plan = reconcile(cards, level_codes)
    shown = _shown_order(cards)
    trough_owner = next(
        (id(card) for card in shown
         if any(a.type == "create" and _is_trough_order(a.resource, level_codes)
                for s in card.suggestions or () for a in s.actions)),
        None,
    )
    dose_owner: dict[str, int] = {}
    for card in shown:
        for suggestion in card.suggestions or ():
            for action in suggestion.actions:
                ref = _reference(action.resource) if action.type == "update" else None
                if ref and ref not in plan.removed and plan.dose_topic.get(ref) == _topic(card):
                    dose_owner.setdefault(ref, id(card))
    result = []
    for card in cards:
        notes: list[str] = []

        def keep(suggestion: Suggestion, card: Card = card, notes: list[str] = notes) -> bool:
            for action in suggestion.actions:
                ref = _reference(action.resource) if action.type == "update" else None
                if ref and ref in plan.removed:
                    notes.append(plan.removal_of(ref) or "")
                    return False
                if ref and dose_owner.get(ref) != id(card):
                    notes.append(f"The imatinib dose is suggested on the card “{plan.dose_card.get(ref, '')}”, "
                                 "not here.")
                    return False
                if (action.type == "create" and _is_trough_order(action.resource, level_codes)
                        and trough_owner != id(card)):
                    notes.append(f"The imatinib trough level is ordered from the card “{plan.trough_card}”.")
                    return False
            return True

        result.append(_with_suggestions(card, keep, notes))
    return result


def _with_suggestions(card: Card, keep: Callable[[Suggestion], bool], notes: list[str]) -> Card:
    kept = [s for s in card.suggestions or () if keep(s)]
    if len(kept) == len(card.suggestions or ()):
        return card
    detail = "\n\n".join(filter(None, [card.detail, *(f"_{n}_" for n in dict.fromkeys(notes))]))
    return card.model_copy(update={
        "suggestions": kept or None,
        "selectionBehavior": card.selectionBehavior if kept else None,
        "detail": detail,
    })


def planned_cards(
    run: Callable[[CallPlan], list[Card]], level_codes: set[tuple[str, str]]
) -> list[Card]:
    """The rules' cards under one plan: run once, settle the plan, run again with it if it settled anything."""
    cards = run(NO_PLAN)
    plan = reconcile(cards, level_codes)
    if plan.conflicts:
        cards = run(plan)
        plan = reconcile(cards, level_codes)
    return enforce(cards, level_codes, plan)

