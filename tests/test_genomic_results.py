"""Variant results in every shape labs send, read into the card with where they came from; negatives never count."""

import copy

import pytest
import respx

from cds_service.facts.genomics import parse_protein_change
from tests.helpers import bundle, cards_of, hook_request, resource

IMATINIB_DRAFT = "imatinib-400-draft-r4.json"
CML = "condition-cml-chronic-r4.json"


def imatinib_order(call, *observations, hook="order-sign", key="labResults", conditions=(CML,)):
    body = hook_request(hook, [resource(IMATINIB_DRAFT)], prefetch={
        key: bundle(*observations),
        "conditions": bundle(*(resource(c) for c in conditions)),
    })
    return cards_of(call(body))


def variant_card(cards):
    found = [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]
    assert len(found) == 1, [c["summary"] for c in cards]
    return found[0]


@pytest.mark.parametrize("written", [
    "p.Thr315Ile", "Thr315Ile", "p.(Thr315Ile)", "(Thr315Ile)", "T315I", "p.T315I", "p.(T315I)", "(T315I)",
    "NP_005148.2:p.Thr315Ile",
])
def test_protein_change_in_any_notation_is_normalised(written):
    change = parse_protein_change(f"ABL1 {written} detected")
    assert (change.hgvs, change.short) == ("p.Thr315Ile", "T315I")


def test_genomics_reporting_ig_variant_read_from_its_components(call):
    card = variant_card(imatinib_order(call, resource("variant-abl1-t315i-genomics-ig-r4.json"), key="genomicVariants"))
    assert card["indicator"] == "critical"
    read = "Observation/variant-t315i, reported 2026-09-14, read from its structured variant components"
    assert read in card["detail"]
    assert "c.944C&gt;T" in card["detail"]  # the DNA change is shown too (escaped for markdown)


def test_mcode_variant_with_one_letter_protein_change(call):
    card = variant_card(imatinib_order(call, resource("variant-abl1-f317l-mcode-r4.json"), key="genomicVariants"))
    assert card["summary"].startswith("ABL1 F317L on record")
    assert "read from its structured variant components" in card["detail"]


def test_text_result_abl1_t315i_detected(call):
    card = variant_card(imatinib_order(call, resource("lab-text-abl1-t315i-detected-r4.json")))
    assert "ABL1 T315I" in card["summary"]
    assert "Observation/lab-abl1-t315i, reported 2026-09-20, read from its text, “BCR-ABL1 kinase domain mutation " \
        "analysis: ABL1 T315I detected”" in card["detail"]


def test_text_result_with_three_letter_change_after_a_colon(call):
    card = variant_card(imatinib_order(call, resource("lab-text-bcr-abl1-p-thr315ile-r4.json")))
    assert "ABL1 T315I" in card["summary"] and "read from its text" in card["detail"]


def test_coded_hgvs_value(call):
    card = variant_card(imatinib_order(call, resource("lab-coded-hgvs-abl1-t315i-r4.json")))
    assert "read from its coded HGVS value (NM\\_005157.6(ABL1):c.944C&gt;T (p.Thr315Ile))" in card["detail"]


NEGATIVE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                        "code": "NEG", "display": "Negative"}]}


@pytest.mark.parametrize("negate", [
    lambda result: result.update(interpretation=[NEGATIVE]),  # R4: a list
    lambda result: result.update(interpretation=NEGATIVE),  # STU3: one concept
    lambda result: result["valueCodeableConcept"].update(text="Not detected"),
])
def test_coded_hgvs_value_reported_negative_is_no_finding(call, negate):
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    negate(result)
    cards = imatinib_order(call, result)
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def test_coded_hgvs_value_of_another_gene_is_not_read_as_the_tests_gene(call):
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")  # coded "BCR-ABL1 kinase domain mutation analysis"
    result["valueCodeableConcept"]["coding"][0]["code"] = "NM_000546.6(TP53):c.743G>A (p.Arg248Gln)"
    cards = imatinib_order(call, result)
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]
    assert not [c for c in cards if "ABL1 R248Q" in c["detail"]]


def test_coded_lab_value_pdgfra_d842v(call):
    cards = imatinib_order(call, resource("lab-coded-pdgfra-d842v-r4.json"), conditions=("condition-gist-r4.json",))
    card = variant_card(cards)
    assert card["indicator"] == "critical" and "PDGFRA D842V" in card["summary"]


@pytest.mark.parametrize("text", ["T315I and F317L not detected", "Negative for T315I and F317L"])
def test_and_without_a_status_between_shares_the_negative(call, text):
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["valueString"] = text
    assert not [c for c in imatinib_order(call, report) if c["source"]["topic"]["code"].startswith("tki-variant")]


@pytest.mark.parametrize("text", [
    "BCR-ABL1 transcript detected; TP53 R248Q detected",
    "BCR-ABL1 p210 detected; ASXL1 p.Gly646TrpfsTer12 detected; TP53 p.Arg248Gln detected",
])
def test_a_variant_named_after_another_gene_is_not_read_as_the_earlier_genes(call, text):
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["code"]["text"] = "Myeloid NGS panel"
    report["valueString"] = text
    cards = imatinib_order(call, report)
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def test_a_variant_after_another_genes_clause_still_counts_when_its_gene_is_named_again(call):
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["code"]["text"] = "Myeloid NGS panel"
    report["valueString"] = "TP53 R248Q detected; ABL1 T315I detected; Y253H E255K not detected"
    card = variant_card(imatinib_order(call, report))
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"


def test_one_result_naming_a_found_and_an_absent_variant(call):
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["valueString"] = "T315I: not detected; F317L: detected"
    card = variant_card(imatinib_order(call, report))
    assert "ABL1 F317L" in card["summary"] and "T315I" not in card["summary"]


@pytest.mark.parametrize(("text", "found", "absent"), [
    ("ABL1 T315I detected. F317L not detected.", "ABL1 T315I", "F317L"),
    ("T315I: detected. E255K: not detected.", "ABL1 T315I", "E255K"),
    ("T315I detected but F317L not detected", "ABL1 T315I", "F317L"),
    ("ABL1 T315I mutation detected. Previously not detected.", "ABL1 T315I", "F317L"),
    ("T315I not detected. F317L detected.", "ABL1 F317L", "T315I"),
    ("T315I detected and F317L not detected", "ABL1 T315I", "F317L"),
    ("Positive for T315I and negative for F317L", "ABL1 T315I", "F317L"),
    ("T315I and no F317L", "ABL1 T315I", "F317L"),
])
def test_a_negative_in_one_sentence_does_not_cancel_a_variant_found_in_another(call, text, found, absent):
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["valueString"] = text
    card = variant_card(imatinib_order(call, report))
    assert found in card["summary"] and absent not in card["summary"]


def assessment_in_words(title: str, text: str, keep_components: bool = False) -> dict:
    """A Genomics Reporting IG variant assessment (LOINC 69548-6) whose result is written, not coded."""
    result = resource("variant-abl1-t315i-genomics-ig-r4.json")
    result["code"]["text"] = title
    del result["valueCodeableConcept"]
    if not keep_components:
        del result["component"]
    result["valueString"] = text
    return result


@pytest.mark.parametrize(("title", "text", "found", "absent", "condition"), [
    ("BCR-ABL1 kinase domain mutation analysis", "Y253H not detected; F317L detected", "ABL1 F317L", "Y253H", CML),
    ("ABL1 mutation analysis", "T315I: detected. E255K: not detected.", "ABL1 T315I", "E255K", CML),
    ("GIST mutation panel", "KIT exon 11 mutation: negative. PDGFRA p.Asp842Val: positive", "PDGFRA D842V", "KIT",
     "condition-gist-r4.json"),
])
def test_an_assessment_in_words_naming_a_found_and_an_absent_variant_reports_the_found_one(
    call, title, text, found, absent, condition
):
    """Read as one "absent" result because one clause says "not detected", the variant found gave no card at all."""
    cards = imatinib_order(call, assessment_in_words(title, text), conditions=(condition,))
    card = variant_card(cards)
    assert found in card["summary"] and absent not in card["summary"]
    assert "read from its text" in card["detail"]


def test_a_change_in_the_title_only_is_what_was_looked_for_not_what_was_found(call):
    cards = imatinib_order(call, assessment_in_words("ABL1 T315I and E255K analysis", "E255K detected; T315I not "
                                                     "detected"))
    card = variant_card(cards)
    assert "ABL1 E255K" in card["summary"] and "T315I" not in card["summary"]
    assert not [c for c in cards if c["indicator"] == "critical"]


def test_structured_variant_whose_words_name_it_found_and_another_absent_counts(call):
    result = assessment_in_words("ABL1 kinase domain", "T315I detected. F317L not detected.", keep_components=True)
    card = variant_card(imatinib_order(call, result))
    assert card["indicator"] == "critical" and "ABL1 T315I" in card["summary"]


@pytest.mark.parametrize("fixture", [
    "lab-text-abl1-wild-type-r4.json",
    "lab-text-abl1-no-mutation-r4.json",
    "variant-abl1-t315i-absent-r4.json",
    "variant-abl1-t315i-preliminary-r4.json",
    "variant-abl1-t315i-other-patient-r4.json",
])
def test_wild_type_absent_preliminary_or_another_patients_result_is_no_finding(call, fixture):
    cards = imatinib_order(call, resource(fixture), hook="order-sign")
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_count(call, status):
    variant = resource("variant-abl1-t315i-genomics-ig-r4.json")
    variant["status"] = status
    assert variant_card(imatinib_order(call, variant))["indicator"] == "critical"


@pytest.mark.parametrize("text", [
    "PDGFRA D842V mutation: negative", "Negative for PDGFRA D842V", "PDGFRA D842V not detected",
    "No PDGFRA D842V mutation identified",
])
def test_negative_wordings_are_not_findings(call, text):
    result = resource("lab-coded-pdgfra-d842v-r4.json")
    del result["valueCodeableConcept"]
    result["valueString"] = text
    cards = imatinib_order(call, result, conditions=("condition-gist-r4.json",))
    assert not [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def test_a_variant_in_both_prefetch_keys_gives_one_card(call):
    variant = resource("variant-abl1-t315i-genomics-ig-r4.json")
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], prefetch={
        "labResults": bundle(variant), "genomicVariants": bundle(copy.deepcopy(variant)),
    })
    assert len([c for c in cards_of(call(body)) if c["indicator"] == "critical"]) == 1


def test_variant_without_present_value_is_read_as_found_and_says_so(call):
    variant = resource("variant-abl1-t315i-genomics-ig-r4.json")
    del variant["valueCodeableConcept"]
    card = variant_card(imatinib_order(call, variant))
    assert "no Present/Absent value; read as found" in card["detail"]


@respx.mock(assert_all_mocked=True, assert_all_called=False)
def test_variant_results_are_fetched_with_their_own_query_when_not_prefetched(respx_mock, call):
    fhir = "https://ehr.example.org/fhir"
    respx_mock.get(f"{fhir}/Observation", params={"code": "http://loinc.org|69548-6"}).respond(
        json=bundle(resource("variant-abl1-t315i-genomics-ig-r4.json")))
    respx_mock.get(f"{fhir}/Observation", params={"category": "laboratory"}).respond(json=bundle())
    body = hook_request("order-sign", [resource(IMATINIB_DRAFT)], fhirServer=fhir, prefetch={
        "labResults": None, "conditions": bundle(resource(CML)),
    })
    del body["prefetch"]["genomicVariants"]
    assert variant_card(cards_of(call(body)))["indicator"] == "critical"


@pytest.mark.parametrize(("text", "found", "absent"), [
    ("T315I not detected. E255K detected.", "ABL1 E255K", "T315I"),
    ("T315I not detected; p.Glu255Lys detected", "ABL1 E255K", "T315I"),
    ("E255K detected, F317L not detected", "ABL1 E255K", "F317L"),
])
def test_structured_variant_whose_words_report_another_change_found_reports_that_change(call, text, found, absent):
    """The components say T315I; the words say T315I was not found but another change was. The other change was
    dropped (no card), and the components' own change must not be read as found against the words."""
    result = assessment_in_words("ABL1 kinase domain", text, keep_components=True)
    cards = imatinib_order(call, result)
    card = variant_card(cards)
    assert found in card["summary"] and absent not in card["summary"]
    assert not [c for c in cards if c["indicator"] == "critical"]  # T315I is the critical one: not found


def test_structured_variant_coded_present_whose_words_add_a_second_change_reports_both(call):
    result = resource("variant-abl1-t315i-genomics-ig-r4.json")  # coded Present, components T315I
    result["valueCodeableConcept"]["text"] = "T315I detected. E255K detected."
    cards = imatinib_order(call, result)
    card = variant_card(cards)
    assert card["indicator"] == "critical"
    assert "T315I" in card["summary"] and "E255K" in card["detail"]


def test_words_naming_another_genes_change_are_not_added_to_the_structured_gene(call):
    result = resource("variant-abl1-t315i-genomics-ig-r4.json")
    result["valueCodeableConcept"]["text"] = "T315I detected. TP53 R248Q detected."
    card = variant_card(imatinib_order(call, result))
    assert "R248Q" not in card["summary"] and "ABL1 R248Q" not in card["detail"]


@pytest.mark.parametrize(("text", "critical", "summary_has", "summary_lacks"), [
    ("T315I detected. E255K not detected.", True, "ABL1 T315I", "E255K"),
    ("T315I not detected. E255K detected.", False, "ABL1 E255K", "T315I"),
    ("E255K detected", True, "ABL1 E255K", "F317L"),
])
def test_hgvs_coded_result_whose_words_name_several_changes_reads_each_as_its_clause_says(
    call, text, critical, summary_has, summary_lacks
):
    """One "not detected" anywhere in the words read the coded T315I as absent: no card at all for a T315I found."""
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    result["valueCodeableConcept"]["text"] = text
    cards = imatinib_order(call, result)
    card = variant_card(cards)
    assert (card["indicator"] == "critical") is critical
    assert summary_has in card["summary"] and summary_lacks not in card["summary"]


def test_hgvs_coded_result_said_not_detected_in_words_is_no_finding(call):
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    result["valueCodeableConcept"]["text"] = "Not detected"
    assert not [c for c in imatinib_order(call, result) if c["source"]["topic"]["code"].startswith("tki-variant")]


def variant_cards(cards):
    return [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def kinase_domain_text(text: str, title: str = "BCR-ABL1 kinase domain mutation analysis") -> dict:
    report = resource("lab-text-abl1-t315i-detected-r4.json")
    report["code"]["text"] = title
    report["valueString"] = text
    return report


@pytest.mark.parametrize("text", [
    "T315I below limit of detection", "T315I below the limit of detection", "ABL1 T315I: below the LOD",
    "T315I below LOD", "T315I undetectable", "T315I ruled out", "ABL1 T315I mutation was ruled out",
    "T315I not identified", "T315I: not present", "T315I absent", "T315I: none found", "T315I: none identified",
    "T315I: none detected",
])
def test_more_negative_wordings_are_not_findings(call, text):
    cards = imatinib_order(call, kinase_domain_text(text), hook="order-select")
    assert not variant_cards(cards), [c["summary"] for c in cards]
    assert not [c for c in cards if c["indicator"] == "critical"]


@pytest.mark.parametrize("text", [
    "Mutations tested: T315I, F317L, E255K. Result: none detected",
    "Mutations tested: T315I, F317L, E255K. Result: none found",
    "No mutations detected in the ABL1 kinase domain. Sequencing covers codons 240-500 including T315I, Y253H, "
    "E255K/V and F359V.",
    "Panel includes T315I, Y253H and F317L. No mutation detected.",
    "Screened for T315I, F317L and E255K: none detected",
    "Screened for T315I and E255K. Result: negative",
    "No variants identified. Mutations tested: T315I; F317L; V299L",
    "Negative. Assay covers T315I, E255K and F359V",
    "No mutation detected in the kinase domain, including T315I",
    "Mutations tested: T315I, F317L. F317L not detected.",
])
def test_changes_listed_as_tested_in_a_result_reporting_nothing_found_are_not_findings(call, text):
    cards = imatinib_order(call, kinase_domain_text(text), hook="order-select")
    assert not variant_cards(cards), [c["summary"] for c in cards]
    assert not [c for c in cards if c["indicator"] == "critical"]


@pytest.mark.parametrize(("text", "found", "absent"), [
    ("Panel includes T315I and F317L. T315I detected.", "ABL1 T315I", "F317L"),
    ("Mutations tested: T315I, F317L, E255K. Result: E255K detected", "ABL1 E255K", "T315I"),
    ("Screened for T315I and F317L. T315I detected; F317L not detected", "ABL1 T315I", "F317L"),
    ("Kinase domain mutations detected, including T315I", "ABL1 T315I", "F317L"),
])
def test_a_change_listed_as_tested_counts_only_as_its_result_says(call, text, found, absent):
    card = variant_card(imatinib_order(call, kinase_domain_text(text), hook="order-select"))
    assert found in card["summary"] and absent not in card["summary"]


@pytest.mark.parametrize(("text", "title"), [
    ("JAK2 V617F detected", "BCR-ABL1 kinase domain mutation analysis"),
    ("JAK2 p.Val617Phe detected", "BCR-ABL1 kinase domain mutation analysis"),
    ("Result: JAK2 V617F positive", "ABL1 mutation analysis"),
    ("ASXL1 exon 12 frameshift detected", "BCR-ABL1 kinase domain mutation analysis"),
    ("IDH2 R140Q detected", "BCR::ABL1 mutation screen"),
])
def test_a_gene_named_in_the_result_wins_over_the_titles_gene_even_one_the_knowledge_base_does_not_hold(
    call, text, title
):
    cards = imatinib_order(call, kinase_domain_text(text, title), hook="order-select")
    assert not variant_cards(cards), [c["summary"] for c in cards]
    assert not [c for c in cards if c["indicator"] == "critical"]


def test_the_titles_gene_still_counts_after_another_genes_clause_names_it_again(call):
    text = "JAK2 V617F detected; ABL1 T315I detected"
    card = variant_card(imatinib_order(call, kinase_domain_text(text), hook="order-select"))
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"


@pytest.mark.parametrize("text", [
    "ABL1:p.Thr315Ile", "ABL1:p.T315I", "ABL1:T315I detected", "BCR::ABL1:p.Thr315Ile", "ABL1:p.(Thr315Ile)",
])
def test_a_gene_written_before_its_hgvs_change_with_a_colon_names_the_gene(call, text):
    card = variant_card(imatinib_order(call, kinase_domain_text(text, title="Molecular result"), hook="order-select"))
    assert card["indicator"] == "critical"
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"


def test_a_tested_word_in_the_tests_title_does_not_make_the_results_change_a_list_of_what_was_tested(call):
    report = kinase_domain_text("ABL1 T315I", title="ABL1 kinase domain sequencing (covers codons 240-500)")
    card = variant_card(imatinib_order(call, report, hook="order-select"))
    assert card["indicator"] == "critical"


SNOMED = "http://snomed.info/sct"


def assessment_valued(value: dict, keep_components: bool = True) -> dict:
    """The IG T315I variant (LOINC 69548-6) with its Present value replaced by `value` (a value[x] key and its
    content), with or without its structured components."""
    result = resource("variant-abl1-t315i-genomics-ig-r4.json")
    del result["valueCodeableConcept"]
    if not keep_components:
        del result["component"]
    result.update(value)
    return result


@pytest.mark.parametrize(("value", "keep_components"), [
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260373001"}]}}, True),  # Detected, no display
    ({"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260373001", "display": "Detected"}]}}, True),
    ({"valueBoolean": True}, True),
    ({"valueCodeableConcept": {"text": "ABL1 T315I"}}, False),  # the value names the change found
    ({"valueString": "p.Thr315Ile"}, True),
    ({"valueCodeableConcept": {"text": "BCR-ABL1 p.(Thr315Ile)"}}, False),
])
def test_a_variant_assessment_valued_as_found_in_any_way_labs_send_gets_its_critical_card(call, value,
                                                                                           keep_components):
    card = variant_card(imatinib_order(call, assessment_valued(value, keep_components)))
    assert card["indicator"] == "critical"
    assert "ABL1 T315I" in card["summary"]
    assert "says neither Present nor Absent" not in card["detail"]
    assert any(a["type"] == "delete" for s in card["suggestions"] for a in s["actions"])


@pytest.mark.parametrize("value", [
    {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "260415000"}]}},  # Not detected, no display
    {"valueBoolean": False},
    {"valueString": "No T315I"},  # names the change, and says it is absent
    {"valueString": "T315I excluded"},
    {"valueCodeableConcept": {"text": "p.Thr315Ile not seen"}},
])
def test_a_variant_assessment_coded_not_detected_is_no_finding(call, value):
    cards = imatinib_order(call, assessment_valued(value))
    assert [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")] == []


@pytest.mark.parametrize(("value", "quoted"), [
    ({"valueString": "See scanned report"}, "See scanned report"),
    ({"valueCodeableConcept": {"coding": [{"system": "urn:oid:1.2.3", "code": "X9"}]}}, "code X9"),
    ({"valueCodeableConcept": {"text": "Likely pathogenic"}}, "Likely pathogenic"),
])
def test_a_variant_assessment_whose_value_says_neither_is_a_warning_to_confirm_never_dropped(call, value, quoted):
    # Was {"cards": []}, an all clear, with a T315I on record and imatinib being ordered. Read as found, but a
    # warning to confirm: never critical, and no order removed on it.
    card = variant_card(imatinib_order(call, assessment_valued(value)))
    assert card["indicator"] == "warning"
    assert f"Its value, “{quoted}”, says neither Present nor Absent; read as found" in card["detail"]
    assert "confirm the result with the laboratory" in card["detail"]
    assert not any(a["type"] == "delete" for s in card.get("suggestions") or () for a in s["actions"])


@pytest.mark.parametrize("value", [
    {"valueString": "Not tested"}, {"valueString": "Failed"}, {"valueString": "No call"},
    {"valueString": "T315I not assessed"}, {"valueString": "Insufficient DNA"}, {"valueString": "Indeterminate"},
    {"valueCodeableConcept": {"coding": [{"system": SNOMED, "code": "419984006"}]}},  # Inconclusive, no display
])
def test_a_variant_assessment_that_gave_no_result_is_no_finding_either_way(call, value):
    # Not a T315I found (a critical card and Remove imatinib), nor one ruled out ("No call" is not "no").
    cards = imatinib_order(call, assessment_valued(value))
    assert [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")] == []
