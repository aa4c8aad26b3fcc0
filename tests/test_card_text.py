"""What a clinician reads renders as written: paragraphs and lists in CommonMark, no internal names, one spelling.

CDS clients render `detail` as CommonMark, where a single newline is a space: the CDS Hooks sandbox showed the
genomic cards as one run-on paragraph. Every card that any request fixture produces is checked.
"""

import re
from itertools import pairwise
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, cards_of

REQUESTS = sorted((FIXTURES / "requests").rglob("*.json"))
HEADING = re.compile(r"^\*\*[^*]+\*\*(?: \([^)]*\))?:?$")
INTERNAL = re.compile(r"README|\.md\b|\.toml\b|shared/|knowledge base section|section \d+ of the knowledge", re.I)


def _cards(call, path: Path) -> list[dict]:
    import json

    response = call(json.loads(path.read_text()))
    return cards_of(response) if response.status_code == 200 else []


def _prose(detail: str) -> str:
    """The card's own words: the cited titles under **Evidence** are quotations and keep their spelling."""
    return detail.split("**Evidence**")[0]


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: str(p.relative_to(FIXTURES / "requests")))
def test_every_card_detail_is_paragraphs_and_lists_that_render_as_written(call, path):
    for card in _cards(call, path):
        lines = card.get("detail", "").split("\n")
        for before, after in pairwise(lines):
            # A heading on its own line must be its own paragraph, or it runs into the next sentence.
            assert not (HEADING.match(before) and after.strip()), (card["summary"], before, after)
            # An indented line that is not a nested list item is folded into the line above.
            if after.startswith(" ") and after.strip():
                assert re.match(r"^ {2,}(?:[-*]|\d+\.) ", after), (card["summary"], after)
            # Two lines of emphasis in a row are one paragraph: the footer's notes run together.
            assert not (before.startswith("_") and after.startswith("_")), (card["summary"], before, after)


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: str(p.relative_to(FIXTURES / "requests")))
def test_no_card_names_an_internal_file_or_section(call, path):
    for card in _cards(call, path):
        text = " ".join([card["summary"], card.get("detail", ""), *(s["label"] for s in card.get("suggestions", []))])
        assert not INTERNAL.search(text), (card["summary"], INTERNAL.search(text))


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: str(p.relative_to(FIXTURES / "requests")))
def test_one_spelling_per_word_in_a_card(call, path):
    pairs = (("rifampin", "rifampicin"), ("leukaemia", "leukemia"))
    for card in _cards(call, path):
        prose = _prose(card.get("detail", "")).lower().replace("leukemianet", "")
        # The order's own product name ("Rifampin 300 MG Oral Capsule") is quoted as the EHR wrote it.
        for first, second in pairs:
            assert not (re.search(rf"\b{first}", prose) and re.search(rf"\b{second}", prose)), (card["summary"],
                                                                                              first, second)
