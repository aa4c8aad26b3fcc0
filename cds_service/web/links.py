"""Links from a card to the pages that go with it: absolute URLs on the service's public base URL.

Kept out of the rules (they stay pure and know no URL): the engine adds them once the cards are made. The guide
link carries the patient's four answers as categories only; no identifier, name or date goes into a URL.
"""

from urllib.parse import quote

from cds_service.facts import PatientFacts
from cds_service.knowledge import Knowledge
from cds_service.pk.estimate import ModelRequest
from cds_service.protocol.cards import Card, Link
from cds_service.rules.guide import guide_for
from cds_service.rules.guide_form import answers_for, guide_query
from cds_service.rules.inducers import inducer_page_request
from cds_service.rules.tdm import TOPIC as TDM_TOPIC
from cds_service.rules.tdm import tdm_page_request
from cds_service.web.dosing import PAGE_PATH, page_query
from cds_service.web.evidence import topic_codes

GUIDE_TOPIC_PREFIX = "decision-guide-"
STRONG_INDUCER_TOPIC = "imatinib-strong-cyp3a4-inducer"


def guide_link(facts: PatientFacts, knowledge: Knowledge, base_url: str) -> Link | None:
    found = guide_for(facts, knowledge)
    if found is None:
        return None
    inputs, row = found
    query = guide_query(answers_for(inputs, row, knowledge))
    return Link(label="Open the decision guide with this patient's answers", url=f"{base_url}/guide?{query}")


def _pk_request(topic: str, facts: PatientFacts, knowledge: Knowledge) -> ModelRequest | None:
    """The model numbers a card shows, for its concentration-time link (the rules' own, remembered, fit)."""
    if topic == TDM_TOPIC:
        return tdm_page_request(facts, knowledge)
    if topic == STRONG_INDUCER_TOPIC:
        return inducer_page_request(facts, knowledge)
    return None


def with_page_links(card: Card, facts: PatientFacts, knowledge: Knowledge, base_url: str) -> Card:
    """The card with links to its pages first (before registry links): the guide, and the full evidence."""
    topic = card.source.topic.code if card.source.topic else ""
    added: list[Link] = []
    if topic.startswith(GUIDE_TOPIC_PREFIX) and (link := guide_link(facts, knowledge, base_url)) is not None:
        added.append(link)
    if (found := _pk_request(topic, facts, knowledge)) is not None:
        added.append(Link(label="Concentration-time curve: try another dose", url=f"{base_url}{PAGE_PATH}?"
                          f"{page_query(found)}"))
    if topic in topic_codes(knowledge):
        added.append(Link(label="Full evidence for this card", url=f"{base_url}/evidence/{quote(topic, safe='')}"))
    if not added:
        return card
    return card.model_copy(update={"links": [*added, *(card.links or [])]})
