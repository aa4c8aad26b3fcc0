"""The pipeline behind every service call: context -> FHIR data -> facts -> rules -> cards.

Shared by the HTTP endpoint and `cds-service evaluate`, so what a pharmacist reviews offline is exactly what an
EHR gets.
"""

import logging
import time
from dataclasses import replace

import httpx

from cds_service.errors import RequiredDataUnavailable
from cds_service.facts import PatientFacts, extract_facts
from cds_service.facts.medications import Identities, medication_concept
from cds_service.fhir import MEDICATION_ORDER_TYPES, Resource
from cds_service.fhir_validation import emitted_version, validation_problems
from cds_service.gather.record import PatientRecord, gather_record
from cds_service.gather.trials import TrialRegistry
from cds_service.hook_context import Hook, HookContext
from cds_service.knowledge import Knowledge
from cds_service.outbound import OutboundPolicy
from cds_service.plan import CallPlan, planned_cards
from cds_service.protocol.cards import INDICATOR_RANK, Card, CardsResponse
from cds_service.protocol.request import HookRequest
from cds_service.rules import Rule, default_rules
from cds_service.rules.coverage import coverage_card
from cds_service.rules.guide import live_trial_query
from cds_service.settings import Settings
from cds_service.web.links import with_page_links

log = logging.getLogger("cds_service.engine")


def _needs_advice(context: HookContext, identities: Identities) -> bool:
    """Whether any order being decided names a medicine the knowledge base knows (or one not yet resolvable).

    A draft with no medication chosen yet, or only medicines no rule is about, gets `{"cards": []}` without
    touching the FHIR server.
    """
    for order in context.draft_orders:
        if order.get("resourceType") not in MEDICATION_ORDER_TYPES or not context.is_under_decision(order):
            continue
        if _unresolved_reference(order):
            return True
        concept = medication_concept(order, {})
        if concept is not None and identities.of(concept).ingredients:
            return True
    return False


def _refuse_if_no_order_can_be_read(context: HookContext, record: PatientRecord, identities: Identities) -> None:
    """The one case in which nothing at all can be said: no order being decided names a medicine the service can
    identify, because the Medication it refers to could not be read. That is a 412 naming the reference; any other
    gap is named in a card beside whatever the data at hand supports."""
    unreadable: list[str] = []
    for order in context.draft_orders:
        if order.get("resourceType") not in MEDICATION_ORDER_TYPES or not context.is_under_decision(order):
            continue
        concept = medication_concept(order, record.medication_resources)
        if concept is not None and identities.of(concept).ingredients:
            return
        if concept is None and _unresolved_reference(order):
            ref = order["medicationReference"]["reference"]
            unreadable.append(f"{ref} ({record.unresolved_medications.get(ref, 'it could not be read')})")
    if unreadable:
        what = "; ".join(unreadable)
        log.info("order medication unreadable", extra={"reason": "medicationReference could not be resolved",
                                                        "count": len(unreadable)})
        raise RequiredDataUnavailable(f"The medication of the order being written could not be read: {what}.")


def _unresolved_reference(order: Resource) -> bool:
    reference = order.get("medicationReference")
    ref = reference.get("reference") if isinstance(reference, dict) else None
    return isinstance(ref, str) and not ref.startswith("#")


class Engine:
    def __init__(self, knowledge: Knowledge, settings: Settings, rules: tuple[Rule, ...] | None = None):
        self.knowledge = knowledge
        self.settings = settings
        self.rules = rules if rules is not None else default_rules()
        self.trials = (
            TrialRegistry(settings.trials_timeout_seconds, settings.trials_cache_seconds)
            if settings.trials_live_search else None
        )
        self.outbound = OutboundPolicy.of(settings.fhir_server_allowlist)

    async def evaluate(
        self, hook: Hook, request: HookRequest, http: httpx.AsyncClient | None, base_url: str | None = None
    ) -> CardsResponse:
        """The cards for one call; with `base_url` (the service's public URL) they link to the service's pages."""
        started = time.monotonic()
        context = hook.read_context(request.context)
        # The drafts' medicines are identified here, before and after the record is gathered, and again as facts.
        identities = Identities(self.knowledge)
        if not _needs_advice(context, identities):
            return CardsResponse()
        record = await gather_record(
            request,
            context,
            http,
            budget_seconds=self.settings.fhir_timeout_seconds,
            max_pages=self.settings.fhir_max_pages,
            max_response_bytes=self.settings.fhir_max_response_bytes,
            outbound=self.outbound,
        )
        _refuse_if_no_order_can_be_read(context, record, identities)
        facts = extract_facts(context, record, self.knowledge, hook.name, identities=identities)
        if self.trials is not None and (query := live_trial_query(facts, self.knowledge)) is not None:
            # Within what is left of the call's budget: a slow registry never holds the cards back.
            remaining = self.settings.fhir_timeout_seconds - (time.monotonic() - started)
            facts = replace(facts, live_trials=await self.trials.search(query, http, remaining))
        cards = planned_cards(lambda plan: self._run_rules(facts, plan), self.knowledge.level_codes)
        if (gaps := coverage_card(facts, self.knowledge, cards)) is not None:
            cards.append(gaps)
        if base_url:
            cards = [with_page_links(card, facts, self.knowledge, base_url) for card in cards]
        if self.settings.strict_fhir:
            cards = [_without_invalid_suggestions(card) for card in cards]
        cards.sort(key=lambda card: INDICATOR_RANK[card.indicator], reverse=True)
        return CardsResponse(cards=cards)

    def _run_rules(self, facts: PatientFacts, plan: CallPlan) -> list[Card]:
        """Every rule's cards under `plan`. The rules share one facts object (a copy per rule cost more than some
        rules), and the first pass gets the call's own: what a rule works out for it (the model's fit) is then
        found again by the page links."""
        planned = facts if plan is facts.plan else facts.under(plan)
        return [card for rule in self.rules for card in rule(planned, self.knowledge)]


def _without_invalid_suggestions(card: Card) -> Card:
    """Strict mode: a suggestion whose resource does not validate is dropped (and logged), never sent."""
    kept = []
    for suggestion in card.suggestions or ():
        problems = [
            problem
            for action in suggestion.actions
            if action.resource is not None
            for problem in validation_problems(action.resource, emitted_version(action.resource))
        ]
        if problems:
            log.error("suggestion dropped: invalid FHIR", extra={"reason": "; ".join(problems)[:500]})
        else:
            kept.append(suggestion)
    if len(kept) == len(card.suggestions or ()):
        return card
    return card.model_copy(update={"suggestions": kept or None, "selectionBehavior": card.selectionBehavior
                                   if kept else None})
