"""A trial lends its evidence only to a patient its population fits (cancer, phase, mutation status, prior therapy,
line of therapy); a strategy with no fitting evidence shows as the review's claim when the claim is about such a
patient, else it is named as left out with the reason. On the guide card, the combination card and /guide."""

import html
import re
import shutil
from pathlib import Path

import pytest

from cds_service.knowledge import KnowledgeError, load_knowledge
from tests.helpers import bundle, cards_of, hook_request, resource

CML = "condition-cml-chronic-r4.json"
GIST = "condition-gist-r4.json"
ON_IMATINIB = "imatinib-history-2025-r4.json"
ASCIMINIB_TRIAL = "NCT03578367 enrolled chronic-phase CML on imatinib without a deep molecular response and " \
    "without BCR-ABL1 mutations"


def text_result(text: str) -> dict:
    result = resource("lab-text-abl1-t315i-detected-r4.json")
    result["valueString"] = text
    return result


def guide_card(call, *, conditions=(CML,), labs=(), history=(ON_IMATINIB,)) -> dict:
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(*(resource(c) for c in conditions)),
        "labResults": bundle(*labs),
        "medicationHistory": bundle(*(resource(h) for h in history)),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("decision-guide")]
    return card


def trial_links(card) -> set[str]:
    return {link["url"].rsplit("/", 1)[1] for link in card.get("links", [])
            if link["url"].startswith("https://clinicaltrials.gov/study/")}


@pytest.mark.parametrize("mutation", ["E255K", "F317L", "Y253H", "M351T"])
def test_a_kinase_domain_mutation_gets_no_evidence_from_the_trial_that_excluded_mutations(call, mutation):
    card = guide_card(call, labs=[text_result(f"ABL1 {mutation} detected")])
    assert card["source"]["topic"]["code"] == "decision-guide-cml-kinase-domain"
    assert "**Imatinib + a second BCR-ABL1 inhibitor (dual TKI)**, evidence for this patient: the review's claim " \
        "only; no registered trial fits this patient." in card["detail"]
    assert f"Not counted: {ASCIMINIB_TRIAL}; this patient: a BCR-ABL1 kinase-domain mutation." in card["detail"]
    assert "mutation-driven resistance" in card["detail"]  # the review's claim is about such a patient
    assert trial_links(card) == set()


def test_failure_without_a_mutation_result_keeps_the_asciminib_trial_and_says_the_test_is_missing(call):
    card = guide_card(call, labs=[resource("bcr-abl1-is-failure-r4.json")])
    assert card["source"]["topic"]["code"] == "decision-guide-cml-failure"
    assert f"{ASCIMINIB_TRIAL}: this patient may fit, not confirmed: no BCR-ABL1 mutation test on record (status " \
        "V2)." in card["detail"]
    assert "mutation-driven resistance" not in card["detail"]  # the claim is about mutations; none on record
    assert trial_links(card) == {"NCT03578367"}


def test_failure_with_a_negative_mutation_test_fits_the_asciminib_trial(call):
    labs = [resource("bcr-abl1-is-failure-r4.json"), resource("lab-text-abl1-no-mutation-r4.json")]
    card = guide_card(call, labs=labs)
    assert f"{ASCIMINIB_TRIAL}: this patient fits (status V2)." in card["detail"]


def is_result(percent: float, comparator: str | None = None) -> dict:
    result = resource("bcr-abl1-is-failure-r4.json")
    result["id"] = f"is-{percent:g}"
    result["valueQuantity"]["value"] = percent
    if comparator:
        result["valueQuantity"]["comparator"] = comparator
    return result


def asciminib_card(call, *labs: dict) -> dict:
    """Asciminib ordered beside imatinib: the combination card, whose evidence is NCT03578367."""
    body = hook_request("order-sign", [asciminib_draft()], prefetch={
        "conditions": bundle(resource(CML)),
        "labResults": bundle(resource("lab-text-abl1-no-mutation-r4.json"), *labs),
        "activeMedications": bundle(resource("imatinib-400-active-r4.json")),
        "medicationHistory": bundle(resource(ON_IMATINIB)),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("combination-")]
    return card


@pytest.mark.parametrize(("percent", "comparator"), [(0.003, None), (0.0032, None), (0.002, "<")])
def test_a_deep_molecular_response_is_not_the_asciminib_trials_population(call, percent, comparator):
    card = asciminib_card(call, is_result(percent, comparator))
    assert f"Not counted: {ASCIMINIB_TRIAL}; this patient: a deep molecular response" in card["detail"]
    assert "this patient fits" not in card["detail"]
    assert "Ph-IS (Spanish harmonisation group)" in card["detail"]  # what a deep molecular response is


@pytest.mark.parametrize(("labs", "unconfirmed"), [
    ((), "no BCR-ABL1 IS result on record shows the response is not deep"),
    ((is_result(0.006),), "the latest BCR-ABL1 IS result is a deep molecular response by some definitions (MR4, at "
                          "most 0.01 % IS)"),
])
def test_a_response_the_record_does_not_settle_leaves_the_asciminib_trial_unconfirmed(call, labs, unconfirmed):
    card = asciminib_card(call, *labs)
    assert f"{ASCIMINIB_TRIAL}: this patient may fit, not confirmed: {unconfirmed}" in card["detail"]


def test_a_response_that_is_not_deep_fits_the_asciminib_trial(call):
    card = asciminib_card(call, is_result(0.5))
    assert f"{ASCIMINIB_TRIAL}: this patient fits (status V2)." in card["detail"]


def test_the_t315i_guide_lists_no_imatinib_combination(call, knowledge):
    card = guide_card(call, labs=[text_result("ABL1 T315I detected")])
    assert card["summary"] == "Decision guide: T315I: switch to ponatinib or asciminib; imatinib combinations do " \
        "not apply"
    assert "**Strategies**" not in card["detail"] and "**Left out**" not in card["detail"]
    row = next(r for r in knowledge.combinations.guide if r.id == "cml-t315i")
    assert row.strategies == []


def test_a_row_saying_no_combination_applies_cannot_list_one(tmp_path):
    folder = tmp_path / "kb"
    shutil.copytree(Path(load_knowledge.__code__.co_filename).parent / "data", folder)
    path = folder / "combinations.toml"
    text = path.read_text()
    old = 'id = "cml-t315i"\ncancer = "cml"\nmutations = ["t315i"]\n'
    assert old in text
    path.write_text(text.replace(old, old + 'strategies = ["dual-tki"]\n'))
    with pytest.raises(KnowledgeError, match=re.escape("(cml-t315i): says no combination applies, yet lists")):
        load_knowledge(folder)


def combination_card(call, partner: dict, *, conditions=(GIST,), history=(), imatinib="draft") -> dict:
    drafts = [partner] + ([resource("imatinib-400-draft-r4.json")] if imatinib == "draft" else [])
    active = [resource("imatinib-400-active-r4.json")] if imatinib == "active" else []
    body = hook_request("order-sign", drafts, prefetch={
        "conditions": bundle(*(resource(c) for c in conditions)),
        "activeMedications": bundle(*active),
        "medicationHistory": bundle(*(resource(h) for h in history)),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("combination-")]
    return card


def binimetinib_draft() -> dict:
    draft = resource("dasatinib-draft-r4.json")
    draft["id"] = "binimetinib-draft"
    draft["medicationCodeableConcept"] = {"text": "binimetinib 15 MG Oral Tablet"}
    return draft


def test_binimetinib_for_treatment_naive_gist_has_its_published_trial(call):
    card = combination_card(call, binimetinib_draft())
    assert "Level for this patient: registered trial, results published." in card["detail"]
    assert "NCT01991379 enrolled treatment-naive advanced GIST (no imatinib or other TKI before): this patient fits" \
        in card["detail"]


def test_binimetinib_after_imatinib_borrows_nothing_from_the_treatment_naive_trial(call):
    card = combination_card(call, binimetinib_draft(), history=(ON_IMATINIB,))
    assert "No evidence in the knowledge base fits this patient." in card["detail"]
    assert "Not counted: NCT01991379 enrolled treatment-naive advanced GIST (no imatinib or other TKI before); this " \
        "patient: imatinib before." in card["detail"]
    assert "results published" not in card["detail"]


def test_interferon_for_a_gist_patient_never_shows_cmls_results(call):
    card = combination_card(call, resource("peginterferon-alfa-2a-draft-r4.json"), imatinib="active")
    assert "SPIRIT" not in card["detail"] and "NCT00219739" not in card["detail"]
    assert "deeper molecular responses" not in card["detail"]  # the review's claim is about CML
    assert "The review's claim for this pairing is about chronic-phase chronic myeloid leukaemia, not this " \
        "patient." in card["detail"]
    assert "Not counted: NCT00585221: GIST; its eligibility criteria were not seen, so it is not counted." \
        in card["detail"]


def test_interferon_with_a_new_imatinib_start_in_chronic_phase_cml_has_spirit(call):
    card = combination_card(call, resource("peginterferon-alfa-2a-draft-r4.json"), conditions=(CML,))
    assert "Level for this patient: registered trial, results published." in card["detail"]
    assert "NCT00219739 enrolled untreated (newly diagnosed) chronic-phase CML: this patient fits (status V)." \
        in card["detail"]


def test_interferon_in_blast_phase_has_neither_spirit_nor_the_chronic_phase_claim(call):
    card = combination_card(call, resource("peginterferon-alfa-2a-draft-r4.json"),
                            conditions=("condition-cml-blast-r4.json",))
    assert "No evidence in the knowledge base fits this patient." in card["detail"]
    assert "this patient: blast phase." in card["detail"]
    assert "deeper molecular responses" not in card["detail"]


def test_with_no_indication_the_combination_card_names_populations_without_a_level(call):
    card = combination_card(call, resource("peginterferon-alfa-2a-draft-r4.json"), conditions=(), imatinib="active")
    assert "The record names no indication, so no trial's population can be matched to this patient." \
        in card["detail"]
    assert "Level for this patient" not in card["detail"]
    assert "- NCT00219739 enrolled untreated (newly diagnosed) chronic-phase CML (status V)." in card["detail"]


def test_the_guide_page_shows_only_fitting_evidence_for_imatinib_refractory_gist(client):
    page = html.unescape(client.get(
        "/guide?cancer=gist&stage=advanced&mutation=kit-exon-17&prior=imatinib-failure").text)
    assert "clinicaltrials.gov/study/NCT01991379" not in page
    assert "Imatinib + binimetinib (MEK inhibitor), advanced GIST: NCT01991379 enrolled treatment-naive advanced " \
        "GIST" in page
    assert "Imatinib + low-dose doxorubicin (advanced GIST)" in page


def test_the_guide_page_for_e255k_on_imatinib_does_not_borrow_the_asciminib_trial(client):
    page = html.unescape(client.get("/guide?cancer=cml&stage=chronic&mutation=abl1-e255k&prior=imatinib").text)
    assert "clinicaltrials.gov/study/NCT03578367" not in page
    assert "Not counted: NCT03578367" in page


def asciminib_draft() -> dict:
    draft = resource("dasatinib-draft-r4.json")
    draft["id"] = "asciminib-draft"
    draft["medicationCodeableConcept"] = {"text": "asciminib 40 MG Oral Tablet"}
    return draft


def test_a_trial_of_one_partner_lends_nothing_to_another_partner_of_the_same_strategy(call):
    """NCT03578367 added asciminib to imatinib: its population fits this patient, but dasatinib is not what it gave."""
    card = combination_card(call, resource("dasatinib-draft-r4.json"), conditions=(CML,), history=(ON_IMATINIB,),
                            imatinib="active")
    assert "No evidence in the knowledge base fits this patient." in card["detail"]
    assert "NCT03578367" not in card["detail"]


def test_the_asciminib_trial_still_counts_for_asciminib_added_to_imatinib(call):
    card = combination_card(call, asciminib_draft(), conditions=(CML,), history=(ON_IMATINIB,), imatinib="active")
    assert f"{ASCIMINIB_TRIAL}: this patient may fit, not confirmed: no BCR-ABL1 IS result on record shows the " \
        "response is not deep; no BCR-ABL1 mutation test on record" in card["detail"]
