"""What a BCR-ABL1 kinase-domain mutation card says of imatinib: exactly what the NCCN table says (not an option only
where the table names imatinib, T315I), and that a positive result is an indication to change therapy (ELN expert
panel), cited."""

import html

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource

ELN = "A BCR-ABL1 kinase-domain mutation found on testing (recommended on failure or suboptimal response) is an " \
    "indication to change therapy; some mutations weigh on the choice of the next TKI. (ELN expert panel, status V)"
CITED = "Soverini S et al."
NOT_AN_OPTION = "Imatinib itself is not an option against"


def variant_card(call, text: str, draft: str = "imatinib-400-draft-r4.json", active=()) -> dict:
    result = resource("lab-text-abl1-t315i-detected-r4.json")
    result["valueString"] = text
    body = hook_request("order-sign", [resource(draft)], prefetch={
        "labResults": bundle(result),
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
        "activeMedications": bundle(*active),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("tki-variant")]
    return card


def assert_cited_on_its_evidence_page(client, card: dict) -> None:
    """The card is brief: the ELN panel's citation is on the evidence page the card links."""
    code = card["source"]["topic"]["code"]
    assert any(link["url"].endswith(f"/evidence/{code}") for link in card["links"])
    page = html.unescape(client.get(f"/evidence/{code}").text)
    assert CITED in page and "indication to change therapy" in page, code


def test_t315i_says_imatinib_itself_is_not_an_option_and_to_change_therapy(call, client):
    card = variant_card(call, "ABL1 T315I detected")
    assert card["indicator"] == "critical"
    assert f"{NOT_AN_OPTION} T315I: the NCCN table names it among the TKIs that do not work (status V2)." \
        in card["detail"]
    assert ELN in card["detail"]
    assert_cited_on_its_evidence_page(client, card)


@pytest.mark.parametrize("mutation", ["E255K", "F317L", "Y253H", "G250E", "V299L", "F359V", "T315A", "E255V"])
def test_other_table_mutations_say_what_the_table_says_of_imatinib_and_no_more(call, client, mutation):
    card = variant_card(call, f"ABL1 {mutation} detected")
    assert card["indicator"] == "warning"
    assert NOT_AN_OPTION not in card["detail"]
    assert ("The NCCN table lists mutations to avoid for bosutinib, dasatinib, nilotinib, ponatinib and names imatinib "
            f"only against T315I: it neither rules imatinib out nor supports it against {mutation} (status V2).") \
        in card["detail"]
    assert ELN in card["detail"]
    assert_cited_on_its_evidence_page(client, card)
    assert "indication to change therapy (ELN); review the imatinib order" in card["summary"]


def test_a_variant_outside_the_table_still_changes_therapy_without_claiming_the_table(call):
    card = variant_card(call, "ABL1 M351T detected")
    assert "it neither rules imatinib out nor supports it against this variant" in card["detail"]
    assert ELN in card["detail"]


def test_another_tki_against_its_mutation_also_says_to_change_therapy_but_not_the_imatinib_line(call):
    card = variant_card(call, "ABL1 F317L detected", draft="dasatinib-draft-r4.json")
    assert card["summary"] == "Dasatinib is not expected to work: ABL1 F317L on record"
    assert ELN in card["detail"]
    assert "names imatinib only against" not in card["detail"]


def test_gist_variants_do_not_get_the_cml_change_of_therapy_line(call):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "labResults": bundle(resource("lab-text-kit-exon-17-r4.json")),
        "conditions": bundle(resource("condition-gist-r4.json")),
    })
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"].startswith("tki-variant")]
    assert "indication to change therapy" not in card["detail"] and "NCCN table lists mutations" not in card["detail"]
