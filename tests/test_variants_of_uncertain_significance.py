"""A variant the laboratory classed as of uncertain or no clinical significance, in a change the mutation table does
not name, is not read as a resistance mutation (no "indication to change therapy", no removal of imatinib): an info
card names it and its classification. A change the table names keeps the table's reading."""

import copy

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource

CML = "condition-cml-chronic-r4.json"
UNCERTAIN_TOPIC = "tki-variant-uncertain"


def ig_variant(protein: str, significance: str | None) -> dict:
    """The IG ABL1 variant with its protein change replaced, and a 53037-8 clinical-significance component."""
    variant = copy.deepcopy(resource("variant-abl1-t315i-genomics-ig-r4.json"))
    for component in variant["component"]:
        if component["code"]["coding"][0]["code"] == "48005-3":
            component["valueCodeableConcept"] = {
                "coding": [{"system": "http://varnomen.hgvs.org", "code": protein}]}
        if component["code"]["coding"][0]["code"] in ("48004-6", "81290-9"):
            component["valueCodeableConcept"] = {"text": "not given"}
    if significance is not None:
        variant["component"].append({
            "code": {"coding": [{"system": "http://loinc.org", "code": "53037-8",
                                 "display": "Genetic variation clinical significance"}]},
            "valueCodeableConcept": {"coding": [{"system": "http://loinc.org", "code": "LA26333-7",
                                                 "display": significance}]},
        })
    return variant


def text_variant(text: str, version: str = "R4") -> dict:
    value = {"valueCodeableConcept": {"text": text}} if version == "STU3" else {"valueString": text}
    return {"resourceType": "Observation", "id": "text-1", "status": "final", "effectiveDateTime": "2026-10-01",
            "subject": {"reference": "Patient/pt-cml-1"},
            "code": {"text": "BCR-ABL1 kinase domain mutation analysis"}, **value}


def cards(call, *observations) -> list[dict]:
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "labResults": bundle(*observations), "conditions": bundle(resource(CML))})
    return cards_of(call(body))


@pytest.mark.parametrize("observation", [
    ig_variant("p.Ala433Thr", "Uncertain significance"),
    ig_variant("p.Ala433Thr", "Likely benign"),
    text_variant("ABL1 A433T detected: variant of uncertain significance"),
    text_variant("ABL1 p.Ala433Thr detected (VUS)", "STU3"),
])
def test_a_variant_classed_as_of_uncertain_significance_is_named_and_not_read_as_resistance(call, observation):
    # Before: "a kinase-domain mutation is an indication to change therapy (ELN)" with "Remove the imatinib order".
    found = cards(call, observation)
    assert [c["source"]["topic"]["code"] for c in found] == [UNCERTAIN_TOPIC]
    [card] = found
    assert card["indicator"] == "info" and not card.get("suggestions")
    assert card["summary"].startswith("ABL1 A433T on record, classed by the laboratory as of uncertain or no "
                                      "significance")
    assert "tier III, variants of unknown clinical significance" in card["detail"]
    assert "No change of imatinib is suggested on this variant" in card["detail"]


def test_the_same_variant_without_a_classification_is_still_an_indication_to_change_therapy(call):
    [card] = [c for c in cards(call, ig_variant("p.Ala433Thr", None)) if c["source"]["topic"]["code"].startswith(
        "tki-variant-")]
    assert "indication to change therapy" in card["summary"]
    assert any(a["type"] == "delete" for s in card["suggestions"] for a in s["actions"])


def test_a_change_the_table_names_keeps_its_reading_whatever_the_classification(call):
    found = cards(call, ig_variant("p.Thr315Ile", "Uncertain significance"))
    assert [c["indicator"] for c in found if c["source"]["topic"]["code"] == "tki-variant-avoid"] == ["critical"]
    assert all(c["source"]["topic"]["code"] != UNCERTAIN_TOPIC for c in found)


def test_a_classification_in_a_result_naming_several_changes_is_not_given_to_any_of_them(call):
    found = cards(call, text_variant("T315I detected; E255K detected, uncertain significance"))
    assert any(c["indicator"] == "critical" for c in found)
    assert all(c["source"]["topic"]["code"] != UNCERTAIN_TOPIC for c in found)


def test_the_uncertain_significance_page_cites_the_tiers(client):
    page = client.get(f"/evidence/{UNCERTAIN_TOPIC}")
    assert page.status_code == 200
    assert "Standards and Guidelines for the Interpretation and Reporting of Sequence Variants in Cancer" in page.text


@pytest.mark.parametrize("text", [
    "ABL1 M351T detected. Variants of uncertain significance and benign variants are not reported.",
    "ABL1 M351T detected. No variants of uncertain significance identified.",
    "ABL1 E459K detected; ASXL1 G646fs detected (variant of uncertain significance).",
    "ABL1 E459K detected; TP53 R248Q detected, likely benign.",
])
def test_a_disclaimer_or_another_changes_classification_does_not_set_a_mutation_aside(call, text):
    found = cards(call, text_variant(text))
    assert all(c["source"]["topic"]["code"] != UNCERTAIN_TOPIC for c in found)
    assert any("indication to change therapy" in c["summary"] for c in found)
