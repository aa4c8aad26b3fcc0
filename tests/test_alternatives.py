"""Each inducer card names the alternatives a source gives, with the source and status, and what is left to the
prescriber; an inducer no source gives an alternative for says so."""

import html

import pytest

from tests.helpers import bundle, cards_of, hook_request, resource
from tests.meds import order, statement
from tests.rendering import assert_renders_as_written


def card_for(call, *inducers: dict, topic: str) -> dict:
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")],
                        prefetch={"activeMedications": bundle(*inducers)})
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == topic]
    return assert_renders_as_written(card)


STRONG = "imatinib-strong-cyp3a4-inducer"


@pytest.mark.parametrize("drug", ["carbamazepine 200 mg tablet", "phenytoin 100 mg capsule",
                                  "phenobarbital 30 mg tablet"])
def test_an_enzyme_inducing_antiepileptic_names_levetiracetam_and_lamotrigine_with_sources(call, drug):
    card = card_for(call, order("R4", "aed", drug, mg=200), topic=STRONG)
    step = card["detail"].split("**What to do**")[1].split("\n2. ")[0]
    assert "**levetiracetam** or **lamotrigine** (status V2)" in step
    assert "The choice and the changeover are for the prescriber with neurology" in step
    assert "no source in the knowledge base names an alternative" not in step
    # What each source says of them, and the sources in full, are on the evidence page the card links.
    assert any(link["url"].endswith(f"/evidence/{STRONG}") for link in card["links"])


def test_the_evidence_page_says_what_each_source_says_of_the_alternatives(client):
    page = html.unescape(client.get(f"/evidence/{STRONG}").text)
    assert "levetiracetam, for carbamazepine" in page
    assert "does not induce the cytochrome P450 system" in page
    assert "Fonkem E et al. The role of levetiracetam" in page
    assert "recommended as a substitute for rifampin" in page


def test_rifampin_names_rifabutin_as_a_weaker_inducer_and_leaves_the_regimen_to_the_tb_team(call):
    card = card_for(call, resource("rifampin-active-r4.json"), topic=STRONG)
    step = card["detail"].split("**What to do**")[1].split("\n2. ")[0]
    assert "For rifampin (tuberculosis): **rifabutin**, itself a moderate CYP3A inducer (status V2)" in step
    assert "is for the TB team" in step
    assert "levetiracetam" not in step


def test_an_inducer_no_source_gives_an_alternative_for_says_so_and_names_none(call):
    card = card_for(call, order("R4", "apa", "apalutamide 60 mg tablet", mg=240), topic=STRONG)
    step = card["detail"].split("**What to do**")[1].split("\n2. ")[0]
    assert "For apalutamide: no source in the knowledge base names an alternative" in step
    assert "**" not in step.split("prefer an alternative")[1]  # no alternative named in bold


def test_two_inducers_get_each_their_own_alternatives(call):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json"),
                                       order("R4", "cbz", "carbamazepine 200 mg tablet", status="draft", mg=200)],
                        prefetch={"activeMedications": bundle(resource("rifampin-active-r4.json"))})
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == STRONG]
    assert "For carbamazepine (seizures)" in card["detail"] and "For rifampin (tuberculosis)" in card["detail"]


def test_a_moderate_antiepileptic_inducer_lists_the_alternatives_too(call):
    card = card_for(call, order("R4", "oxc", "oxcarbazepine 300 mg tablet", mg=600),
                    topic="imatinib-moderate-cyp3a4-inducer")
    assert "**Alternatives**\n\n- For oxcarbazepine (seizures): **levetiracetam**" in card["detail"]


def test_a_moderate_inducer_without_a_sourced_alternative_gets_no_alternatives_section(call):
    card = card_for(call, resource("dexamethasone-oral-active-r4.json"), topic="imatinib-moderate-cyp3a4-inducer")
    assert "**Alternatives**" not in card["detail"]


def test_st_johns_wort_is_stopped_and_nothing_is_named_in_its_place(call):
    body = hook_request("order-sign", [resource("imatinib-400-draft-r4.json")], prefetch={
        "medicationStatements": bundle(statement("R4", "sjw", "St John's wort 300 mg capsules"))})
    [card] = [c for c in cards_of(call(body)) if c["source"]["topic"]["code"] == "imatinib-st-johns-wort"]
    assert "Whether anything should replace it is for the prescriber." in card["detail"]
    assert "**Alternatives**\n\n- For St John's wort (self-medication): Stop it rather than raise" in card["detail"]
