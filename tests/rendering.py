"""What a clinician reads must render as written (CommonMark): checked on every card the scenario tests see."""

import re
from itertools import pairwise

HEADING = re.compile(r"^\*\*[^*]+\*\*(?: \([^)]*\))?:?$")


def assert_renders_as_written(card: dict) -> dict:
    """A heading is its own paragraph; two emphasised notes are never one paragraph; one spelling of rifampin."""
    detail = card.get("detail", "")
    for before, after in pairwise(detail.split("\n")):
        assert not (HEADING.match(before) and after.strip()), (card["summary"], before, after)
        assert not (before.startswith("_") and after.startswith("_")), (card["summary"], before, after)
    prose = detail.split("**Evidence**")[0].lower()
    assert not (re.search(r"\brifampin", prose) and re.search(r"\brifampicin", prose)), card["summary"]
    return card
