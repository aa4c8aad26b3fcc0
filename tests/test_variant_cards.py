"""A TKI ordered (or imatinib taken) against a variant on record: the card, its indicator and its suggestion."""

import pytest

from tests.helpers import bundle, cards_of, hook_request, request_fixture, resource, suggestion


def variant_cards(cards):
    return [c for c in cards if c["source"]["topic"]["code"].startswith("tki-variant")]


def order(call, drafts, *observations, conditions=("condition-cml-chronic-r4.json",), active=(), hook="order-sign"):
    body = hook_request(hook, drafts, prefetch={
        "labResults": bundle(*observations),
        "conditions": bundle(*(resource(c) for c in conditions)),
        "activeMedications": bundle(*active),
    })
    return cards_of(call(body))


def text_result(text: str) -> dict:
    result = resource("lab-text-abl1-t315i-detected-r4.json")
    result["valueString"] = text
    return result


def test_imatinib_with_t315i_is_critical_names_preferred_agents_and_suggests_removing_the_draft(call):
    cards = cards_of(call(request_fixture("order-select-imatinib-cml-t315i.json")))
    card = variant_cards(cards)[0]
    assert cards[0] == card  # the critical card comes first
    assert card["indicator"] == "critical"
    assert card["summary"] == "Imatinib is not expected to work: ABL1 T315I on record"
    assert "Preferred: ponatinib, asciminib (status V2)" in card["detail"]
    assert "No dose is suggested" in card["detail"]
    remove = suggestion(card, "Remove the imatinib order")
    assert remove["isRecommended"] is True
    assert remove["actions"] == [{
        "type": "delete", "description": "Remove the imatinib order", "resourceId": "MedicationRequest/imatinib-draft",
    }]
    assert not any("resource" in a for s in card["suggestions"] for a in s["actions"])  # no invented order or dose


def test_imatinib_with_pdgfra_d842v_in_gist_is_critical_and_prefers_avapritinib(call):
    cards = cards_of(call(request_fixture("order-select-imatinib-gist-pdgfra-d842v.json")))
    card = variant_cards(cards)[0]
    assert card["indicator"] == "critical"
    assert "Preferred: avapritinib" in card["detail"]
    assert "read from its text, “GIST mutation panel: PDGFRA D842V”" in card["detail"]


def test_dasatinib_against_f317l_warns_and_names_what_the_table_leaves(call):
    cards = cards_of(call(request_fixture("order-sign-dasatinib-with-f317l.json")))
    [card] = variant_cards(cards)
    assert card["indicator"] == "warning"
    assert card["summary"] == "Dasatinib is not expected to work: ABL1 F317L on record"
    assert "Not expected to work against it: dasatinib, bosutinib." in card["detail"]
    assert "TKIs the NCCN table lists no concern for: nilotinib, ponatinib" in card["detail"]
    remove = suggestion(card, "Remove the dasatinib order")
    assert remove["actions"][0]["resourceId"] == "MedicationRequest/dasatinib-draft"


def test_nilotinib_against_y253h(call):
    nilotinib = resource("dasatinib-draft-r4.json")
    nilotinib["id"] = "nilotinib-draft"
    nilotinib["medicationCodeableConcept"] = {"text": "nilotinib 200 MG Oral Capsule"}
    [card] = variant_cards(order(call, [nilotinib], text_result("ABL1 Y253H detected")))
    assert card["summary"] == "Nilotinib is not expected to work: ABL1 Y253H on record"


def test_dasatinib_with_t315i_is_critical(call):
    [card] = variant_cards(order(call, [resource("dasatinib-draft-r4.json")], text_result("ABL1 T315I detected")))
    assert card["indicator"] == "critical"


def test_ponatinib_with_t315i_gets_no_card(call):
    ponatinib = resource("dasatinib-draft-r4.json")
    ponatinib["medicationCodeableConcept"] = {"text": "ponatinib 45 MG Oral Tablet"}
    assert variant_cards(order(call, [ponatinib], text_result("ABL1 T315I detected"))) == []


def test_imatinib_with_a_kinase_domain_mutation_the_table_says_nothing_of_imatinib_about_warns(call):
    [card] = variant_cards(order(call, [resource("imatinib-400-draft-r4.json")], text_result("ABL1 E255K detected")))
    assert card["indicator"] == "warning"
    assert card["summary"].startswith("ABL1 E255K on record: a kinase-domain mutation is an indication to change")
    assert "Not expected to work against it: nilotinib." in card["detail"]
    assert suggestion(card, "Remove the imatinib order").get("isRecommended") is None


def test_an_abl1_variant_outside_the_table_says_it_is_not_in_it(call):
    [card] = variant_cards(order(call, [resource("imatinib-400-draft-r4.json")], text_result("ABL1 M351T detected")))
    assert "not in the NCCN table" in card["detail"] and "(status U)" in card["detail"]


def test_kit_exon_9_gives_an_unconfirmed_info_note_without_a_dose_change(call):
    cards = order(call, [resource("imatinib-400-draft-r4.json")], resource("lab-text-kit-exon-9-r4.json"),
                  conditions=("condition-gist-r4.json",))
    [card] = variant_cards(cards)
    assert card["indicator"] == "info"
    assert "Not confirmed (status U)" in card["detail"]
    assert "suggestions" not in card


def test_secondary_kit_exon_17_warns_with_unconfirmed_agents(call):
    cards = order(call, [resource("imatinib-400-draft-r4.json")], resource("lab-text-kit-exon-17-r4.json"),
                  conditions=("condition-gist-r4.json",))
    [card] = variant_cards(cards)
    assert card["indicator"] == "warning"
    assert "Preferred: regorafenib, ripretinib (status U)" in card["detail"]


def test_kit_variant_in_a_cml_patient_is_not_read_as_gist_advice(call):
    cards = order(call, [resource("imatinib-400-draft-r4.json")], resource("lab-text-kit-exon-17-r4.json"))
    assert variant_cards(cards) == []


def test_patient_already_on_imatinib_with_t315i_is_warned_when_something_else_is_ordered(call):
    cards = order(call, [resource("rifampin-draft-r4.json")], text_result("ABL1 T315I detected"),
                  active=[resource("imatinib-400-active-r4.json")])
    [card] = variant_cards(cards)
    assert card["indicator"] == "critical"
    assert "an active order" in card["detail"] and "Review the current imatinib therapy" in card["detail"]
    assert "suggestions" not in card  # an active order is not deleted from here


def test_a_later_negative_result_is_mentioned_but_does_not_silence_the_card(call):
    later = text_result("ABL1 T315I not detected")
    later["id"] = "lab-abl1-later"
    later["effectiveDateTime"] = "2026-10-30"
    [card] = variant_cards(order(call, [resource("imatinib-400-draft-r4.json")],
                                 text_result("ABL1 T315I detected"), later))
    assert card["indicator"] == "critical"
    assert "A later result, Observation/lab-abl1-later (2026-10-30), reports it not detected" in card["detail"]


@pytest.mark.parametrize("fixture", ["lab-text-abl1-wild-type-r4.json", "lab-text-abl1-no-mutation-r4.json"])
def test_no_variant_no_card(call, fixture):
    assert variant_cards(order(call, [resource("imatinib-400-draft-r4.json")], resource(fixture))) == []


def test_without_an_indication_in_the_record_the_card_still_comes_and_says_so(call):
    [card] = variant_cards(order(call, [resource("imatinib-400-draft-r4.json")], text_result("ABL1 T315I detected"),
                                 conditions=()))
    assert card["indicator"] == "critical"
    assert "The record names no indication; this applies to cml, ph-all." in card["detail"]


def test_patient_already_on_imatinib_hears_only_of_resistance_not_of_cautions(call):
    cards = order(call, [resource("rifampin-draft-r4.json")], text_result("ABL1 E255K detected"),
                  active=[resource("imatinib-400-active-r4.json")])
    assert variant_cards(cards) == []


@pytest.mark.parametrize(("written", "preferred"), [
    ("KIT p.Asp816Val (D816V) detected", "Preferred: regorafenib, ripretinib (status U)"),
    ("KIT N822K detected", "Preferred: regorafenib, ripretinib (status U)"),
    ("secondary KIT p.Tyr823Asp detected", "Preferred: regorafenib, ripretinib (status U)"),
    ("KIT K642E detected", "Preferred: sunitinib (status U)"),
])
def test_a_kit_change_written_without_its_exon_is_read_with_the_exon_the_sources_place_it_in(
    call, written, preferred
):
    """'KIT p.Asp816Val detected' had no exon and fell to the KIT fallback row: no card for imatinib at all."""
    result = resource("lab-text-kit-exon-17-r4.json")
    result["valueString"] = written
    cards = order(call, [resource("imatinib-400-draft-r4.json")], result, conditions=("condition-gist-r4.json",))
    [card] = variant_cards(cards)
    assert card["indicator"] == "warning"
    assert preferred in card["detail"]


def test_a_kit_change_no_source_places_gets_no_exon_advice_and_says_its_exon_is_not_known(call):
    result = resource("lab-text-kit-exon-17-r4.json")
    result["valueString"] = "KIT p.Ala829Pro detected"  # no source table of the knowledge base names its exon
    cards = order(call, [resource("imatinib-400-draft-r4.json")], result, conditions=("condition-gist-r4.json",))
    assert [c["source"]["topic"]["code"] for c in variant_cards(cards)] == ["tki-variant-exon-unknown"]


# A KIT change whose exon neither the result nor a source table gives: the card says so, never an exon's advice.

KIT_EXON_UNKNOWN = "KIT A829P on record without its exon: check the exon before imatinib"


def kit_text(text: str, version: str) -> dict:
    """A KIT text result as each version sends it: R4 a valueString; STU3 a value with only text; DSTU2 a
    valueString dated by `issued`."""
    result = resource("lab-text-kit-exon-17-r4.json")
    del result["valueString"]
    if version == "STU3":
        result["valueCodeableConcept"] = {"text": text}
    else:
        result["valueString"] = text
    if version == "DSTU2":
        del result["effectiveDateTime"]
        result["issued"] = "2026-09-05T10:00:00Z"
    return result


def kit_coded(display: str, version: str) -> dict:
    """A coded HGVS value naming KIT in its display: R4 with an interpretation list, STU3 one concept."""
    result = resource("lab-coded-hgvs-abl1-t315i-r4.json")
    result["code"] = {"coding": [{"system": "http://lab.example.org/codes", "code": "LAB-KIT",
                                  "display": "GIST mutation analysis"}]}
    result["valueCodeableConcept"] = {"coding": [{"system": "http://varnomen.hgvs.org", "code": "p.Ala829Pro",
                                                  "display": display}]}
    positive = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
                            "code": "POS", "display": "Positive"}]}
    result["interpretation"] = positive if version == "STU3" else [positive]
    return result


GIST_BY_VERSION = {"R4": "condition-gist-r4.json", "STU3": "condition-gist-r4.json",
                   "DSTU2": "condition-gist-dstu2.json"}
IMATINIB_BY_VERSION = {"R4": "imatinib-400-draft-r4.json", "STU3": "imatinib-400-draft-stu3.json",
                       "DSTU2": "imatinib-400-draft-dstu2.json"}


def kit_order(call, result, version: str, **kwargs) -> list[dict]:
    return variant_cards(order(call, [resource(IMATINIB_BY_VERSION[version])], result,
                               conditions=(GIST_BY_VERSION[version],), **kwargs))


def assert_exon_not_known(card: dict, change: str) -> None:
    assert card["source"]["topic"]["code"] == "tki-variant-exon-unknown"
    assert card["indicator"] == "warning"
    assert "the exon is not known to the service, which does not guess it" in card["detail"]
    assert f"Check the laboratory report (or ask the laboratory) which exon of KIT carries {change} before " \
        "deciding on imatinib" in card["detail"]
    assert "- Exon 18: A secondary KIT exon 18 mutation is said to point to regorafenib or ripretinib" in card["detail"]
    assert "- Exon 9: KIT exon 9" in card["detail"] and "- Exon 13: A secondary KIT exon 13" in card["detail"]
    assert not card.get("suggestions")


@pytest.mark.parametrize("version", ["R4", "STU3", "DSTU2"])
@pytest.mark.parametrize("written", ["KIT A829P detected", "Secondary KIT mutation: p.Ala829Pro detected",
                                     "KIT c.2485G>C (p.Ala829Pro) detected"])
def test_a_kit_change_without_its_exon_in_text_says_the_exon_is_not_known(call, written, version):
    [card] = kit_order(call, kit_text(written, version), version)
    assert card["summary"] == KIT_EXON_UNKNOWN
    assert_exon_not_known(card, "A829P")
    assert "The result does not give the exon, and no table the knowledge base holds places KIT A829P in one" \
        in card["detail"]
    assert "Observation/lab-kit-exon-17, reported 2026-09-05, read from its text" in card["detail"]
    # With its exon written, the exon's row applies and nothing is said of an unknown exon.
    [placed] = kit_order(call, kit_text(written.replace("KIT", "KIT exon 18", 1), version), version)
    assert placed["source"]["topic"]["code"] == "tki-variant-caution"
    assert "Preferred: regorafenib, ripretinib (status U)" in placed["detail"]


@pytest.mark.parametrize("version", ["R4", "STU3"])
@pytest.mark.parametrize("display", ["KIT p.Ala829Pro", "KIT p.(A829P)"])
def test_a_kit_change_without_its_exon_in_a_coded_value_says_the_exon_is_not_known(call, display, version):
    [card] = kit_order(call, kit_coded(display, version), version)
    assert card["summary"] == KIT_EXON_UNKNOWN
    assert_exon_not_known(card, "A829P")
    assert "read from its coded HGVS value" in card["detail"]


def test_a_structured_kit_variant_without_its_exon_says_the_exon_is_not_known(call):
    variant = resource("variant-abl1-t315i-genomics-ig-r4.json")
    for component in variant["component"]:
        code = component["code"]["coding"][0]["code"]
        if code == "48018-6":
            component["valueCodeableConcept"] = {"coding": [
                {"system": "http://www.genenames.org/geneId", "code": "HGNC:6342", "display": "KIT"}]}
        elif code == "48005-3":
            component["valueCodeableConcept"] = {"coding": [
                {"system": "http://varnomen.hgvs.org", "code": "p.Val654Ala"}]}
    variant["component"] = [c for c in variant["component"] if c["code"]["coding"][0]["code"] != "48004-6"]
    [card] = kit_order(call, variant, "R4")
    assert card["summary"] == "KIT V654A on record without its exon: check the exon before imatinib"
    assert_exon_not_known(card, "V654A")
    assert "read from its structured variant components" in card["detail"]


def test_an_exon_not_known_is_said_only_where_imatinib_is_being_ordered_and_the_row_applies(call):
    result = kit_text("KIT p.Val654Ala detected", "R4")
    [card] = kit_order(call, result, "R4")
    assert card["summary"] == "KIT V654A on record without its exon: check the exon before imatinib"
    cml = order(call, [resource("imatinib-400-draft-r4.json")], result)  # the KIT rows are GIST's
    assert variant_cards(cml) == []
    on_imatinib = order(call, [resource("rifampin-draft-r4.json")], result, conditions=("condition-gist-r4.json",),
                        active=[resource("imatinib-400-active-r4.json")])
    assert variant_cards(on_imatinib) == []


def test_a_kit_change_whose_exon_an_earlier_report_gives_is_read_with_that_exon(call):
    """The newest report of KIT A829P gave no exon; an earlier one said exon 18: the exon is known, not guessed."""
    earlier = kit_text("KIT exon 18 p.Ala829Pro detected", "R4")
    earlier.update(id="lab-kit-earlier", effectiveDateTime="2026-06-10")
    [card] = variant_cards(order(call, [resource("imatinib-400-draft-r4.json")], kit_text("KIT p.Ala829Pro detected",
                                 "R4"), earlier, conditions=("condition-gist-r4.json",)))
    assert card["source"]["topic"]["code"] == "tki-variant-caution"
    assert card["summary"].startswith("KIT A829P exon 18 on record")
    assert "Observation/lab-kit-earlier, reported 2026-06-10" in card["detail"]
