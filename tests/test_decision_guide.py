"""The decision guide computed from the record: each branch, its strategies with evidence, and matched trials."""

from tests.helpers import bundle, cards_of, hook_request, request_fixture, resource

TRIAL_URL = "https://clinicaltrials.gov/study/"


def guide_cards(cards):
    return [c for c in cards if c["source"]["topic"]["code"].startswith("decision-guide")]


def guide(call, *, conditions=("condition-cml-chronic-r4.json",), labs=(), history=(), hook="order-select",
          drafts=("imatinib-400-draft-r4.json",)):
    body = hook_request(hook, [resource(d) for d in drafts], prefetch={
        "conditions": bundle(*(resource(c) for c in conditions)),
        "labResults": bundle(*(resource(o) for o in labs)),
        "medicationHistory": bundle(*(resource(h) for h in history)),
    })
    return guide_cards(cards_of(call(body)))


def branch(card) -> str:
    return card["source"]["topic"]["code"].removeprefix("decision-guide-")


def trial_links(card) -> set[str]:
    return {link["url"].removeprefix(TRIAL_URL) for link in card.get("links", []) if link["url"].startswith(TRIAL_URL)}


def test_t315i_branch_from_the_fixture_request(call):
    [card] = guide_cards(cards_of(call(request_fixture("order-select-imatinib-cml-t315i.json"))))
    assert branch(card) == "cml-t315i" and card["indicator"] == "info"
    assert "- Mutation: **ABL1 T315I**, Observation/variant-t315i, reported 2026-09-14" in card["detail"]
    assert "- Prior therapy: imatinib, first ordered 2025-03-10." in card["detail"]
    assert "**failure** against the 6-month milestone" in card["detail"]
    # Imatinib does not work against T315I: the guide lists no imatinib combination, and says so.
    assert card["summary"].endswith("imatinib combinations do not apply")
    assert "**Strategies**" not in card["detail"] and "dual TKI" not in card["detail"]
    assert trial_links(card) == set()


def test_kinase_domain_branch_names_the_tkis_the_table_leaves(call):
    [card] = guide(call, labs=["variant-abl1-f317l-mcode-r4.json"], history=["imatinib-history-2025-r4.json"])
    assert branch(card) == "cml-kinase-domain"
    assert "ABL1 F317L: the table lists no concern for nilotinib, ponatinib (status derived)" in card["detail"]


def test_blast_phase_branch(call):
    [card] = guide(call, conditions=["condition-cml-chronic-r4.json", "condition-cml-blast-r4.json"])
    assert branch(card) == "cml-blast"
    assert "Imatinib + low-dose azacitidine (blast phase)**, evidence for this patient: the review's claim only" \
        in card["detail"]


def test_accelerated_phase_branch_has_no_combination(call):
    [card] = guide(call, conditions=["condition-cml-accelerated-r4.json"])
    assert branch(card) == "cml-accelerated"
    assert "**Strategies**" not in card["detail"]


def test_failure_by_milestones_branch(call):
    [card] = guide(call, labs=["bcr-abl1-is-failure-r4.json"], history=["imatinib-history-2025-r4.json"])
    assert branch(card) == "cml-failure"
    assert "BCR-ABL1 15 % IS on 2025-10-14 (Observation/is-failure), 7 months after imatinib was first ordered" \
        in card["detail"]
    assert "test for BCR-ABL1 kinase-domain mutations" in card["detail"]


def test_after_a_second_generation_tki_branch(call):
    [card] = guide(call, history=["nilotinib-history-r4.json"])
    assert branch(card) == "cml-after-second-generation"
    assert "- Prior therapy: second-generation TKI (nilotinib)." in card["detail"]


def test_warning_response_branch_offers_interferon_and_the_asciminib_trial(call):
    [card] = guide(call, labs=["bcr-abl1-is-warning-r4.json"], history=["imatinib-history-2025-r4.json"])
    assert branch(card) == "cml-warning"
    assert "**warning** against the 12-month milestone" in card["detail"]
    # SPIRIT enrolled untreated patients: for a patient already on imatinib only the review's claim remains.
    assert "**Imatinib + interferon-alpha**, evidence for this patient: the review's claim only" in card["detail"]
    assert "Not counted: NCT00219739, SPIRIT (France), enrolled untreated (newly diagnosed) chronic-phase CML; " \
        "this patient: imatinib before." in card["detail"]
    assert "**Imatinib + a second BCR-ABL1 inhibitor (dual TKI)**, evidence for this patient: registered trial" \
        in card["detail"]
    assert trial_links(card) == {"NCT03578367"}


def test_a_new_start_without_a_mutation_gets_no_guide_card(call):
    assert guide(call) == []
    assert guide(call, conditions=["condition-gist-r4.json"]) == []


def test_no_variant_result_and_a_negative_result_are_told_apart(call):
    on_imatinib = {"history": ["imatinib-history-2025-r4.json"]}
    [untested] = guide(call, labs=["bcr-abl1-is-failure-r4.json"], **on_imatinib)
    assert "- Mutation: no variant result on record." in untested["detail"]
    [tested] = guide(call, labs=["bcr-abl1-is-failure-r4.json", "lab-text-abl1-no-mutation-r4.json"], **on_imatinib)
    assert "- Mutation: none detected, Observation/lab-abl1-negative, reported 2026-10-01" in tested["detail"]


def test_patient_on_track_gets_no_guide_card(call):
    assert guide(call, labs=["bcr-abl1-is-optimal-r4.json"], history=["imatinib-history-2025-r4.json"]) == []


def test_patient_on_imatinib_without_a_response_result_gets_no_guide_card(call):
    assert guide(call, history=["imatinib-history-2025-r4.json"]) == []


def test_gist_d842v_branch(call):
    [card] = guide_cards(cards_of(call(request_fixture("order-select-imatinib-gist-pdgfra-d842v.json"))))
    assert branch(card) == "gist-d842v"
    assert "avapritinib is first line" in card["detail"]


def test_gist_secondary_kit_branch_lists_the_advanced_gist_strategies_with_their_evidence_and_trials(call):
    [card] = guide(call, conditions=["condition-gist-r4.json"], labs=["lab-text-kit-exon-17-r4.json"])
    assert branch(card) == "gist-secondary-kit"
    claim_only = "evidence for this patient: the review's claim only"
    assert f"**Imatinib + low-dose doxorubicin (advanced GIST)**, {claim_only}" in card["detail"]
    assert f"**Imatinib + PD-1 inhibitor (GIST)**, {claim_only}" in card["detail"]
    assert f"**Imatinib + KIT-directed CAR-T cells (advanced GIST)**, {claim_only}" in card["detail"]
    # A secondary KIT mutation is past first line: the treatment-naive binimetinib trial lends nothing, and
    # interferon's evidence is CML's (or a GIST trial whose eligibility was not seen).
    assert "**Imatinib + binimetinib" not in card["detail"] and "**Imatinib + interferon-alpha**" not in card["detail"]
    assert "- Imatinib + binimetinib (MEK inhibitor), advanced GIST: NCT01991379 enrolled treatment-naive advanced " \
        "GIST (no imatinib or other TKI before); this patient: past first-line therapy (a secondary KIT mutation)" \
        in card["detail"]
    assert trial_links(card) == set()
    assert "avoid this combination" not in card["detail"]


def test_with_crohns_the_guide_flags_the_pd1_strategy(call):
    [card] = guide(call, conditions=["condition-gist-r4.json", "condition-crohns-r4.json"],
                   labs=["lab-text-kit-exon-17-r4.json"])
    assert "**Inflammatory bowel disease is on record: avoid this combination.**" in card["detail"]


def test_gist_on_imatinib_gets_no_guide_card(call):
    assert guide(call, conditions=["condition-gist-r4.json"], history=["imatinib-history-2025-r4.json"]) == []


BLAST = ["condition-cml-blast-r4.json"]


def test_the_guide_speaks_where_the_choice_is_made_not_again_at_signing(call):
    assert guide(call, conditions=BLAST, hook="order-sign") == []
    assert len(guide(call, conditions=BLAST, hook="medication-prescribe")) == 1


def test_the_guide_needs_imatinib_being_ordered_and_a_known_cancer(call):
    assert guide(call, conditions=BLAST, drafts=["rifampin-draft-r4.json"]) == []
    assert guide(call, conditions=[], labs=["lab-text-abl1-t315i-detected-r4.json"]) == []


def test_every_guide_card_links_a_registry_search(call):
    [card] = guide(call, conditions=BLAST)
    search = [link for link in card["links"] if link["url"].startswith("https://clinicaltrials.gov/search?")]
    assert len(search) == 1 and "intr=imatinib+AND" in search[0]["url"]


def test_the_guide_says_when_variant_results_could_not_be_had(call):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-cml-blast-r4.json")),
    })
    del body["prefetch"]["genomicVariants"]
    [card] = guide_cards(cards_of(call(body)))
    assert "- Mutation: no variant result on record." in card["detail"]
    assert "Not checked: the genomic variant results (not prefetched and no fhirServer was given)" in card["detail"]
