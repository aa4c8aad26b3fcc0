"""The pipeline runs whatever rules the registry holds, over facts extracted once, and orders cards by urgency."""

import asyncio

from cds_service.engine import Engine
from cds_service.protocol.cards import Card, Coding, Source
from cds_service.protocol.request import HookRequest
from cds_service.settings import Settings
from hooks import ORDER_SIGN
from tests.helpers import bundle, hook_request, resource

SOURCE = Source(label="test", topic=Coding(system="urn:t", code="t"))


def test_engine_runs_every_registered_rule_and_puts_critical_cards_first(knowledge):
    seen = []

    def info_rule(facts, _knowledge):
        seen.append(("info", [m.display for m in facts.draft_orders]))
        return [Card(summary="info", indicator="info", source=SOURCE)]

    def critical_rule(facts, _knowledge):
        seen.append(("critical", len(facts.medications)))
        return [Card(summary="critical", indicator="critical", source=SOURCE)]

    engine = Engine(knowledge, Settings(), rules=(info_rule, critical_rule))
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    response = asyncio.run(engine.evaluate(ORDER_SIGN, HookRequest.model_validate(body), http=None))
    assert [c.summary for c in response.cards] == ["critical", "info"]
    assert seen == [("info", ["imatinib 400 MG Oral Tablet"]), ("critical", 2)]


def test_default_registry_holds_the_inducer_rule(knowledge):
    names = [rule.__name__ for rule in Engine(knowledge, Settings()).rules]
    assert "inducer_interaction_cards" in names
