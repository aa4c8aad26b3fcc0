"""A result named as an imatinib level under a code the service does not read (a laboratory's local code) is never
used as a level, and never passed over in silence: the check-incomplete card names it."""

import pytest

from tests.test_levels_dated_later import _cards, _level

UNCODED_SUMMARY = "Imatinib level under a code the service does not read: not used; check it by hand"


def _local(level: dict, text: str, code: str = "IMAT") -> dict:
    level["code"] = {"coding": [{"system": "http://lab.example.org/codes", "code": code, "display": text}],
                     "text": text}
    return level


@pytest.mark.parametrize("name", ["Imatinib trough", "IMATINIB LEVEL", "Gleevec level (imatinib)"])
def test_a_level_under_a_local_code_named_as_imatinib_is_named_not_passed_over(call, name):
    # Was {"cards": []}: a 610 ng/mL trough, flagged low by the lab, silent.
    [card] = _cards(call, _local(_level(610, -8, "local"), name))
    assert card["summary"] == UNCODED_SUMMARY and card["indicator"] == "info"
    assert f"“{name}” (code http://lab.example.org/codes\\|IMAT), Observation/local: 610 ng/mL on" in card["detail"]
    assert "not under a LOINC code the service reads as an imatinib level (103609-4, 57844-3)" in card["detail"]


@pytest.mark.parametrize("name", ["N-desmethyl imatinib", "Imatinib metabolite (CGP 74588)", "Hemoglobin"])
def test_a_metabolite_or_another_test_under_a_local_code_is_not_named_as_an_imatinib_level(call, name):
    assert _cards(call, _local(_level(610, -8, "local"), name)) == []


def test_a_loinc_coded_level_beside_a_local_one_is_used_and_the_local_one_named(call):
    cards = _cards(call, _level(1400, -8, "coded"), _local(_level(610, -7, "local"), "Imatinib trough"))
    assert [c["summary"] for c in cards] == [UNCODED_SUMMARY]  # 1400 at target: no TDM card; the 610 is named
