"""Links from a card to the pages that go with it: absolute URLs on the service's public base URL.

Kept out of the rules (they stay pure and know no URL): the engine adds them once the cards are made. The guide
link carries the patient's four answers as categories only; no identifier, name or date goes into a URL.
"""

from urllib.parse import quote

from cds_service.facts import PatientFacts
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Card, Link
from cds_service.rules.guide import guide_for
from cds_service.rules.guide_form import answers_for, guide_query
from cds_service.web.evidence import topic_codes

GUIDE_TOPIC_PREFIX = "decision-guide-"


def guide_link(facts: PatientFacts, knowledge: Knowledge, base_url: str) -> Link | None:
    found = guide_for(facts, knowledge)
    if found is None:
        return None
    inputs, row = found
    query = guide_query(answers_for(inputs, row, knowledge))
    return Link(label="Open the decision guide with this patient's answers", url=f"{base_url}/guide?{query}")


def with_page_links(card: Card, facts: PatientFacts, knowledge: Knowledge, base_url: str) -> Card:
    """The card with links to its pages first (before registry links): the guide, and the full evidence."""
    topic = card.source.topic.code if card.source.topic else ""
    added: list[Link] = []
    if topic.startswith(GUIDE_TOPIC_PREFIX) and (link := guide_link(facts, knowledge, base_url)) is not None:
        added.append(link)
    if topic in topic_codes(knowledge):
        added.append(Link(label="Full evidence for this card", url=f"{base_url}/evidence/{quote(topic, safe='')}"))
    if not added:
        return card
    return card.model_copy(update={"links": [*added, *(card.links or [])]})
