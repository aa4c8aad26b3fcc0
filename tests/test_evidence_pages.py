"""/evidence/{topic}: every topic a card carries has its page, with every source and the knowledge-base version."""

import html
from urllib.parse import urlsplit

import pytest

from cds_service.web.evidence import topic_codes
from tests.helpers import FIXTURES, SERVICE_FOR_HOOK, cards_of, request_fixture

REQUESTS = sorted(p.name for p in (FIXTURES / "requests").glob("*.json"))


def _text(response) -> str:
    return html.unescape(response.text)


@pytest.mark.parametrize("name", REQUESTS)
def test_every_card_links_its_topics_evidence_page_and_the_page_exists(client, call, name):
    body = request_fixture(name)
    if body.get("hook") not in SERVICE_FOR_HOOK:
        pytest.skip("not a hook request")
    for card in cards_of(call(body)):
        code = card["source"]["topic"]["code"]
        [link] = [k for k in card["links"] if k["label"] == "Full evidence for this card"]
        url = urlsplit(link["url"])
        assert link["type"] == "absolute" and (url.scheme, url.netloc) == ("http", "testserver")
        assert url.path == f"/evidence/{code}"
        page = client.get(url.path)
        assert page.status_code == 200, code
        assert card["source"]["topic"]["code"] in page.text


def test_an_unknown_topic_is_a_404_page_that_leads_to_the_index(client):
    response = client.get("/evidence/imatinib-with-coffee")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No card carries the topic 'imatinib-with-coffee'" in _text(response)
    assert 'href="/evidence"' in response.text


def test_the_index_lists_every_topic(client, knowledge):
    page = client.get("/evidence").text
    for code in topic_codes(knowledge):
        assert f'href="/evidence/{code}"' in page


def test_the_strong_inducer_page_holds_every_inducer_source_and_the_dose_rule(client, knowledge):
    page = _text(client.get("/evidence/imatinib-strong-cyp3a4-inducer"))
    assert f"Knowledge base {knowledge.version}" in page
    dosing = knowledge.imatinib.dosing
    strong = [i for i, inducer in knowledge.inducers.items() if inducer.management == "dose-increase"]
    assert strong
    for ingredient_id in strong:
        inducer = knowledge.inducers[ingredient_id]
        assert knowledge.ingredients[ingredient_id].name in page
        for c in inducer.classifications:
            assert knowledge.sources[c.source].citation in page
        if inducer.effect:
            assert inducer.effect.text in page
    assert f"never above {dosing.max_daily_mg_with_inducer} mg/day" in page
    assert dosing.exposure_note in page
    for target in knowledge.imatinib.tdm.targets:
        assert f"At least {target.min_ng_ml:g} ng/mL." in page
        for source in target.sources:
            assert knowledge.sources[source].citation in page


def test_the_variant_page_says_what_each_variant_means_with_its_status(client, knowledge):
    page = _text(client.get("/evidence/tki-variant-avoid"))
    for meaning in knowledge.genomics.variants:
        if meaning.on_imatinib == "avoid":
            assert meaning.note in page
    assert "status V2" in page


def test_the_gene_unclear_page_names_the_other_genes_and_their_sources(client, knowledge):
    page = _text(client.get("/evidence/tki-variant-gene-unclear"))
    assert "Genes the knowledge base does not hold" in page and "KRAS" in page and "CALR" in page
    assert knowledge.sources["musc-myeloid-panel"].citation in page


def test_a_guide_row_page_links_its_trials_and_the_guide(client, knowledge):
    page = client.get("/evidence/decision-guide-gist-secondary-kit").text
    assert 'href="/guide?cancer=gist"' in page
    assert 'href="https://clinicaltrials.gov/study/NCT01991379"' in page


def test_what_the_brief_inducer_card_leaves_out_is_on_its_page(client, knowledge):
    """The card's line of why is the finding in brief, a child's card names the limit and not its sources, a failure
    milestone names ELN 2020 and its status only: the page has each in full, with its sources."""
    page = _text(client.get("/evidence/imatinib-strong-cyp3a4-inducer"))
    paediatric = knowledge.imatinib.paediatric
    assert f"{paediatric.dose_mg_per_m2:g} mg/m²/day by body-surface area" in page
    for source in (*paediatric.sources, *paediatric.bsa_sources):
        assert knowledge.sources[source].citation in page
    assert paediatric.inducer_note in page
    failure = knowledge.response.failure
    assert failure.text in page
    for source in failure.sources:
        assert knowledge.sources[source].citation in page


def test_the_exon_unknown_page_says_where_the_sources_place_kit_changes_and_what_each_exon_means(client, knowledge):
    page = _text(client.get("/evidence/tki-variant-exon-unknown"))
    assert "the exon is never guessed" in page
    assert "KIT exon 17" in page and "p.Asp816Val" in page
    assert knowledge.sources["gist-mutation-tables"].citation in page
    for row in knowledge.variants.exon_rows("KIT"):
        assert row.note in page
