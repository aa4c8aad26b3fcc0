"""Inducer and variant cards are brief: what to do, the patient's numbers and one line of why; the full evidence is on
the topic's page, which every card links.

Every such card of the fixtures stays within about 1,200 characters of markdown. A card with more to explain says
it on top of that, each within a stated allowance: a child's limit and its body-surface area, a dose capped at the
highest dose the service suggests, each further inducer's line of why and its alternatives. Notes of data that could
not be checked (a missing birth date among them) come on top too: they are as many as the gaps."""

import json
import re
from pathlib import Path

import pytest

from cds_service.web.evidence import topic, topic_codes
from tests.helpers import FIXTURES, bundle, cards_of, hook_request, resource
from tests.test_inducers import imatinib_draft
from tests.test_paediatric_dosing import born, height, patient, weight

BRIEF_TOPICS = re.compile(r"^(imatinib-(strong|moderate)-cyp3a4-inducer|imatinib-st-johns-wort|tki-variant-.+)$")
MOST = 1200
REQUESTS = sorted((FIXTURES / "requests").rglob("*.json"))
RULES = Path(__file__).resolve().parent.parent / "cds_service" / "rules"


def brief_length(detail: str) -> int:
    """The detail's length without its notes of data that could not be checked (a missing birth date among them)."""
    detail = re.sub(r" No birth date on record: an adult's dose \([^)]*\)\.", "", detail)
    return len(re.sub(r"\n\n_Not checked:[^\n]*", "", detail))


def _brief_cards(call, body: dict) -> list[dict]:
    response = call(body)
    if response.status_code != 200:
        return []
    return [c for c in cards_of(response) if BRIEF_TOPICS.match(c["source"]["topic"]["code"])]


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: str(p.relative_to(FIXTURES / "requests")))
def test_inducer_and_variant_cards_are_brief_and_link_their_evidence(call, path):
    for card in _brief_cards(call, json.loads(path.read_text())):
        detail = card["detail"]
        assert brief_length(detail) <= MOST, (card["summary"], brief_length(detail))
        assert "**What to do**" in detail and "**Evidence**" not in detail
        code = card["source"]["topic"]["code"]
        assert any(link["url"].endswith(f"/evidence/{code}") for link in card["links"]), card["links"]


def test_two_inducers_add_only_their_lines_of_why(call, knowledge):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "activeMedications": bundle(resource("rifampin-active-r4.json"), resource("carbamazepine-active-r4.json")),
    })
    [card] = _brief_cards(call, body)
    for inducer in ("rifampin", "carbamazepine"):
        assert knowledge.inducers[inducer].effect.brief in card["detail"]
    assert brief_length(card["detail"]) <= MOST + 400  # one more line of why and its alternatives


def _literal_topics() -> set[str]:
    """Every topic code a rule writes as a literal, and the prefixes of those it builds."""
    text = "\n".join(p.read_text() for p in RULES.glob("*.py"))
    literal = re.findall(r'card_source\(\s*knowledge,\s*"([^"]+)"', text)
    named = re.findall(r'^[A-Z_]*TOPIC\s*=\s*"([^"]+)"', text, flags=re.M)  # a constant card_source is given
    return set(literal) | set(named)


def test_every_topic_a_rule_names_has_an_evidence_page(knowledge):
    literals = _literal_topics()
    assert "imatinib-strong-cyp3a4-inducer" in literals
    for code in literals:
        assert topic(code, knowledge) is not None, code
        assert code in topic_codes(knowledge)


def _strong_card(call, draft: dict, prefetch: dict) -> dict:
    [card] = [c for c in cards_of(call(hook_request("order-sign", [draft], prefetch=prefetch)))
              if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    return card


def test_a_childs_card_adds_only_the_childs_limit(call):
    draft = imatinib_draft(value=400, unit="mg")
    prefetch = {"activeMedications": bundle(resource("carbamazepine-active-r4.json")), "patient": patient(born(12)),
                "vitalSigns": bundle(weight(60), height(170))}
    card = _strong_card(call, draft, prefetch)
    assert "Child patient, 12 years old" in card["detail"] and "**500 mg/day**" in card["detail"]
    assert brief_length(card["detail"]) <= MOST + 350  # the rule, the BSA with its weight and height, the limit


def test_a_capped_increase_adds_only_why_it_is_capped(call):
    card = _strong_card(call, imatinib_draft(value=600, unit="mg"),
                        {"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    assert "Capped at 800 mg/day" in card["detail"]
    assert brief_length(card["detail"]) <= MOST + 200
