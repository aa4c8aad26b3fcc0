"""Whose variant a result reports: the gene named in the result wins over the genes in the test's name, a test
name listing several genes attributes nothing, and a variant whose gene is not clear is said so on a card."""

import copy

import pytest

from cds_service.facts.genomics import genomic_findings
from tests.helpers import bundle, cards_of, hook_request, resource

GIST = "condition-gist-r4.json"
CML = "condition-cml-chronic-r4.json"
DRAFTS = {"R4": "imatinib-400-draft-r4.json", "STU3": "imatinib-400-draft-stu3.json",
          "DSTU2": "imatinib-400-draft-dstu2.json"}


def text_result(title: str | None, result: str, *, version: str = "R4", in_display: bool = False,
                oid: str = "panel-1") -> dict:
    """A lab result in the shape each FHIR version sends it: R4 a valueString; STU3 a coded value with only text;
    DSTU2 a valueString dated by `issued` with `comments` (DSTU2 has no `note`)."""
    code: dict = {"coding": [{"system": "http://lab.example.org/codes", "code": "LAB-PANEL"}]}
    if title is not None:
        if in_display:
            code["coding"][0]["display"] = title
        else:
            code["text"] = title
    observation: dict = {
        "resourceType": "Observation", "id": oid, "status": "final", "code": code,
        "subject": {"reference": "Patient/pt-cml-1"},
    }
    if version == "DSTU2":
        observation.update(issued="2026-08-03T10:00:00Z", valueString=result,
                           comments="Sequenced by NGS. Recommend KIT exon 9 testing if progressing.")
    elif version == "STU3":
        observation.update(effectiveDateTime="2026-08-03", valueCodeableConcept={"text": result},
                           comment="Recommend KIT exon 9 testing if progressing.")
    else:
        observation.update(effectiveDateTime="2026-08-03", valueString=result,
                           note=[{"text": "Recommend KIT exon 9 testing if progressing."}])
    return observation


def order(call, *observations, conditions=(GIST,), version="R4", drafts=None):
    body = hook_request("order-sign", [resource(d) for d in drafts or [DRAFTS[version]]], prefetch={
        "labResults": bundle(*observations),
        "conditions": bundle(*(resource(c) for c in conditions)),
    })
    return cards_of(call(body))


def topics(cards) -> list[str]:
    return [c["source"]["topic"]["code"] for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def only(cards, topic: str) -> dict:
    found = [c for c in cards if c["source"]["topic"]["code"] == topic]
    assert len(found) == 1, [c["summary"] for c in cards]
    return found[0]


PANELS = ["GIST mutation panel (PDGFRA, KIT)", "GIST mutation panel (KIT, PDGFRA)", "GIST panel: KIT/PDGFRA",
          "KIT and PDGFRA mutation analysis"]


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("in_display", [False, True], ids=["code.text", "coding.display"])
@pytest.mark.parametrize("title", PANELS)
def test_pdgfra_named_in_the_result_wins_over_the_panels_genes(call, title, in_display, version):
    result = text_result(title, "PDGFRA exon 18 mutation: p.Asp842Val detected", version=version,
                         in_display=in_display)
    cards = order(call, result, version=version)
    assert topics(cards) == ["tki-variant-avoid"]
    card = only(cards, "tki-variant-avoid")
    assert card["indicator"] == "critical"
    assert card["summary"] == "Imatinib is not expected to work: PDGFRA D842V exon 18 on record"
    assert "Preferred: avapritinib (status V2)" in card["detail"]
    assert "regorafenib" not in card["detail"] and "KIT D842V" not in card["detail"]
    assert "reported 2026-08-03" in card["detail"]  # DSTU2: from `issued`


@pytest.mark.parametrize("version", ["R4", "DSTU2"])
@pytest.mark.parametrize("title", PANELS)
def test_kit_exon_17_named_in_the_result_is_kits_whatever_the_panels_order(call, title, version):
    cards = order(call, text_result(title, "KIT exon 17 p.Asp816Val detected", version=version), version=version)
    card = only(cards, "tki-variant-caution")
    assert card["summary"].startswith("KIT D816V exon 17 on record")
    assert "regorafenib, ripretinib" in card["detail"] and "PDGFRA" not in card["summary"]


@pytest.mark.parametrize("title", PANELS)
def test_a_change_without_its_gene_under_a_panel_is_not_guessed_and_says_so(call, title):
    cards = order(call, text_result(title, "Exon 18: p.Asp842Val detected"))
    assert topics(cards) == ["tki-variant-gene-unclear"]
    card = only(cards, "tki-variant-gene-unclear")
    assert card["indicator"] == "warning"
    assert card["summary"] == "D842V exon 18 on record without its gene: check which gene before imatinib"
    assert "the result does not say which one carries it" in card["detail"]
    assert "- If it is PDGFRA D842V exon 18: PDGFRA D842V (exon 18) is imatinib-resistant" in card["detail"]
    assert "Not expected to work against it: imatinib. Preferred: avapritinib (status V2)." in card["detail"]
    assert "- If it is KIT D842V exon 18: A secondary KIT exon 18 mutation" in card["detail"]
    assert "The service does not guess whose variant this is" in card["detail"]
    assert not card.get("suggestions")  # nothing is removed on a guess


def test_a_negative_under_a_panel_is_no_card(call):
    assert topics(order(call, text_result(PANELS[0], "exon 18 p.Asp842Val not detected"))) == []
    assert topics(order(call, text_result(PANELS[0], "No mutations detected"))) == []


@pytest.mark.parametrize(("title", "other"), [
    ("Myeloid NGS panel (ABL1, TP53, ASXL1)", "TP53"), ("Myeloid panel: ASXL1, BCR-ABL1, TP53", "ASXL1"),
    ("ABL1/JAK2/CALR/MPL panel", "CALR"),
])
def test_a_myeloid_panel_naming_abl1_with_other_genes(call, title, other):
    named = order(call, text_result(title, "ABL1 T315I detected; TP53 R248Q detected"), conditions=(CML,))
    assert only(named, "tki-variant-avoid")["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"
    unnamed = order(call, text_result(title, "T315I detected"), conditions=(CML,))
    assert topics(unnamed) == ["tki-variant-gene-unclear"]
    detail = only(unnamed, "tki-variant-gene-unclear")["detail"]
    assert "- If it is ABL1 T315I: T315I: imatinib, dasatinib, nilotinib and bosutinib do not work" in detail
    assert f"- If it is {other} T315I: the knowledge base holds no advice for it." in detail


@pytest.mark.parametrize("title", ["BCR-ABL1 kinase domain mutation analysis", "BCR/ABL1 mutation analysis (NGS)",
                                   "ABL1 kinase domain sequencing"])
def test_a_title_naming_one_gene_still_gives_the_gene(call, title):
    cards = order(call, text_result(title, "T315I detected"), conditions=(CML,))
    assert topics(cards) == ["tki-variant-avoid"]


def test_a_known_change_with_no_gene_anywhere_is_said_not_guessed(call):
    cards = order(call, text_result("Mutation analysis", "D842V detected"))
    card = only(cards, "tki-variant-gene-unclear")
    assert "The result names no gene; the knowledge base knows D842V only in PDGFRA." in card["detail"]
    assert topics(cards) == ["tki-variant-gene-unclear"]


def test_an_unknown_change_with_no_gene_anywhere_is_nothing(call):
    assert topics(order(call, text_result("Mutation analysis", "V560D detected"))) == []


def test_another_result_naming_the_gene_settles_it(call):
    panel = text_result(PANELS[0], "Exon 18: p.Asp842Val detected")
    confirmed = text_result("PDGFRA sequencing", "D842V detected", oid="pdgfra-1")
    assert topics(order(call, panel, confirmed)) == ["tki-variant-avoid"]


def ig_variant(gene: dict | None, protein: str, title: str) -> dict:
    variant = resource("variant-abl1-t315i-genomics-ig-r4.json")
    variant["code"]["text"] = title
    components = [c for c in variant["component"] if c["code"]["coding"][0]["code"] not in ("48018-6", "48005-3")]
    if gene is not None:
        components.append({"code": {"coding": [{"system": "http://loinc.org", "code": "48018-6"}]},
                           "valueCodeableConcept": {"coding": [gene]}})
    components.append({"code": {"coding": [{"system": "http://loinc.org", "code": "48005-3"}]},
                       "valueCodeableConcept": {"coding": [{"system": "http://varnomen.hgvs.org", "code": protein}]}})
    variant["component"] = components
    return variant


KIT = {"system": "http://www.genenames.org/geneId", "code": "HGNC:6342", "display": "KIT"}
PDGFRA = {"system": "http://www.genenames.org/geneId", "code": "HGNC:8803", "display": "PDGFRA"}
TP53 = {"system": "http://www.genenames.org/geneId", "code": "HGNC:11998", "display": "TP53"}


def test_structured_gene_component_wins_over_the_title(call):
    pdgfra = order(call, ig_variant(PDGFRA, "p.Asp842Val", "GIST mutation panel (KIT, PDGFRA)"))
    assert topics(pdgfra) == ["tki-variant-avoid"]
    assert only(pdgfra, "tki-variant-avoid")["summary"].startswith("Imatinib is not expected to work: PDGFRA D842V")
    kit = order(call, ig_variant(KIT, "p.Asp842Val", "GIST mutation panel (PDGFRA, KIT)"))
    assert topics(kit) == ["tki-variant-exon-unknown"]  # KIT with no exon stated: said, and no exon's advice


def test_structured_variant_without_a_gene_component_under_a_panel_is_unclear(call):
    cards = order(call, ig_variant(None, "p.Asp842Val", "GIST mutation panel (PDGFRA, KIT)"))
    assert topics(cards) == ["tki-variant-gene-unclear"]


def test_structured_variant_of_another_gene_is_not_read_from_the_title(call):
    cards = order(call, ig_variant(TP53, "p.Thr315Ile", "Myeloid panel (ABL1, TP53)"), conditions=(CML,))
    assert topics(cards) == []


def test_coded_hgvs_without_its_gene_under_a_panel_is_unclear(call):
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    result["code"] = {"text": "GIST mutation panel (PDGFRA, KIT)"}
    result["valueCodeableConcept"] = {"coding": [{"system": "http://varnomen.hgvs.org",
                                                  "code": "c.2525A>T (p.Asp842Val)"}]}
    assert topics(order(call, result)) == ["tki-variant-gene-unclear"]
    one_gene = copy.deepcopy(result)
    one_gene["code"] = {"text": "PDGFRA mutation analysis"}
    assert topics(order(call, one_gene)) == ["tki-variant-avoid"]


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_a_note_or_comment_is_not_read_as_a_result(call, version):
    """Notes recommend tests ("KIT exon 9 testing"): only the result itself is read."""
    result = text_result("KIT mutation analysis", "No mutation detected", version=version)
    assert topics(order(call, result, version=version)) == []


def test_the_decision_guide_names_a_variant_without_its_gene_and_does_not_use_it(call):
    body = hook_request("order-select", [resource(DRAFTS["R4"])], prefetch={
        "labResults": bundle(text_result("Myeloid NGS panel (ABL1, TP53, ASXL1)", "T315I detected")),
        "conditions": bundle(resource("condition-cml-blast-r4.json")),
    })
    [guide] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("decision-guide")]
    assert guide["source"]["topic"]["code"] == "decision-guide-cml-blast"  # not the T315I row
    assert "- Mutation: T315I without its gene (possible: ABL1, TP53, ASXL1), Observation/panel-1, reported " \
        "2026-08-03: not used by the guide until the report names its gene." in guide["detail"]


# Genes the knowledge base does not hold, written without a digit (KRAS, MPL, BRAF): [other_genes] in variants.toml.

KINASE_DOMAIN = "BCR-ABL1 kinase domain mutation analysis"


def tki_cards(cards) -> list[dict]:
    return [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("in_display", [False, True], ids=["code.text", "coding.display"])
@pytest.mark.parametrize(("title", "result"), [
    (KINASE_DOMAIN, "KRAS G12D detected"),
    (KINASE_DOMAIN, "MPL W515L detected"),
    (KINASE_DOMAIN, "NRAS p.Gln61Lys detected"),
    ("ABL1 mutation analysis", "Result: BRAF V600E positive"),
    ("BCR::ABL1 mutation screen", "KRAS:p.Gly12Asp detected"),
    (KINASE_DOMAIN, "Other genes (KRAS, NRAS, CBL): KRAS G12D detected"),
    (KINASE_DOMAIN, "NRAS/KRAS G12D detected"),
])
def test_a_change_after_a_gene_without_a_digit_is_not_the_titles_abl1(call, title, result, in_display, version):
    cards = order(call, text_result(title, result, version=version, in_display=in_display), conditions=(CML,),
                  version=version)
    assert tki_cards(cards) == [], [c["summary"] for c in cards]
    assert not [c for c in cards if "ABL1 G12D" in c["detail"] or "ABL1 W515L" in c["detail"]]


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize(("title", "result"), [
    ("KIT mutation analysis", "BRAF V600E detected"),
    ("KIT exon 11 sequencing", "KIT wild type; BRAF p.Val600Glu detected"),
    ("c-KIT mutation analysis", "Result: NRAS Q61K positive"),
])
def test_a_change_after_a_gene_without_a_digit_is_not_the_titles_kit(knowledge, title, result, version):
    findings = genomic_findings([text_result(title, result, version=version)], knowledge)
    assert [f.name for f in findings if f.detected] == []


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("result", [
    "KRAS G12D detected; BCR-ABL T315I detected",
    "KRAS G12D detected. ABL kinase domain: T315I detected",
    "CML, KD mutation by NGS: T315I detected; MPL W515L detected",
    "PCR T315I positive; DNA sequencing: NRAS Q61K positive",
    "IS T315I detected; CALR p.Leu367ThrfsTer46 detected",
    "MR4 not reached; GIST excluded; T315I detected; KRAS G12D detected",
])
def test_abbreviations_before_a_change_do_not_hide_the_abl1_change_beside_another_genes(call, result, version):
    """The words a report writes before a change (CML, GIST, KD, NGS, PCR, DNA, IS, MR4, BCR-ABL, ABL) are no
    genes: T315I stays ABL1's critical card, and the other gene's change is not added to it."""
    cards = order(call, text_result(KINASE_DOMAIN, result, version=version), conditions=(CML,), version=version)
    [card] = tki_cards(cards)
    assert card["indicator"] == "critical"
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"


def coded_result(display: str, version: str, title: str = KINASE_DOMAIN) -> dict:
    """A coded HGVS value whose gene is only in the display: R4 with an interpretation list, STU3 one concept."""
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    result["code"] = {"coding": [{"system": "http://lab.example.org/codes", "code": "LAB-HGVS", "display": title}]}
    result["valueCodeableConcept"] = {"coding": [{"system": "http://varnomen.hgvs.org", "code": "c.35G>A",
                                                  "display": display}]}
    positive = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": "POS", "display": "Positive"}]}
    result["interpretation"] = positive if version == "STU3" else [positive]
    return result


@pytest.mark.parametrize("version", ["R4", "STU3"])
@pytest.mark.parametrize("display", ["KRAS p.Gly12Asp", "KRAS p.(G12D)", "KRAS:p.Gly12Asp"])
def test_a_coded_value_naming_a_gene_without_a_digit_is_not_the_titles_abl1(call, knowledge, display, version):
    result = coded_result(display, version)
    assert genomic_findings([result], knowledge) == []
    assert tki_cards(order(call, result, conditions=(CML,), version=version)) == []
    abl1 = coded_result(display.replace("KRAS", "ABL1").replace("Gly12Asp", "Thr315Ile").replace("G12D", "T315I"),
                        version)
    assert [f.name for f in genomic_findings([abl1], knowledge)] == ["ABL1 T315I"]  # the gene named still counts


@pytest.mark.parametrize("title", ["BCR-ABL1 P210 kinase domain mutation analysis", "BCR-ABL1 MR4 follow-up"])
def test_a_transcript_or_response_level_in_the_title_is_no_gene(call, title):
    """P210 and MR4 have a digit but name no gene, in the title as in the result: the title names one gene."""
    [card] = tki_cards(order(call, text_result(title, "T315I detected"), conditions=(CML,)))
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"


@pytest.mark.parametrize("result", [
    "ENST00000318560.6:c.944C>T p.Thr315Ile detected",  # an Ensembl transcript before the change
    "ENSG00000097007 p.Thr315Ile detected",
    "COSM12560: p.T315I detected",  # a COSMIC id
    "COSV57008592 T315I detected",
    "VCV000016270 T315I detected",  # a ClinVar id
    "CA123456 T315I detected",  # a ClinGen allele id
])
@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
def test_a_database_identifier_before_a_change_is_not_read_as_another_genes_symbol(call, result, version):
    # Was {"cards": []}: the identifier was read as a gene the knowledge base does not hold, and T315I as its change.
    cards = order(call, text_result("BCR-ABL1 kinase domain mutation analysis", result, version=version),
                  conditions=(CML,), version=version)
    [critical] = [c for c in cards if c["indicator"] == "critical"]
    assert critical["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"
