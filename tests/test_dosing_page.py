"""The concentration-time page: linked from the cards with model inputs only, served with the service's own assets,
drawn in a real browser, redrawn with the trough the dosing API gives when the pharmacist tries another dose."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import cards_of, hook_request, resource
from tests.test_tdm_cards import DRAFTS, level, prefetch

PUBLIC_CASE_PAGE = "/dosing/imatinib/page?w=70&age=50&sex=unknown&ind=CML&dose=400&tau=24&n=30&lt=720&lv=620"


def page_link(card: dict) -> str:
    links = [link for link in card.get("links") or [] if "/dosing/imatinib/page?" in link["url"]]
    assert len(links) == 1, card.get("links")
    assert links[0]["type"] == "absolute"
    return links[0]["url"]


def test_the_tdm_card_links_the_page_with_model_inputs_and_relative_times_only(call):
    card = next(c for c in cards_of(call(hook_request("order-select", [resource(DRAFTS["R4"])],
                                                      prefetch=prefetch(level(640)))))
                if c["source"]["topic"]["code"] == "imatinib-tdm")
    url = page_link(card)
    query = parse_qs(urlsplit(url).query)
    assert set(query) <= {"w", "age", "sex", "ind", "dose", "tau", "n", "lt", "lv", "lu", "inducer"}
    assert query["age"] == ["65"] and query["sex"] == ["female"] and query["lv"] == ["640"]
    for private in ("pt-cml-1", "1961", "2026", "Patient", "level-640"):
        assert private not in url


def test_the_inducer_card_links_the_page_with_the_inducer(call):
    rifampin = {**resource("rifampin-active-r4.json"), "authoredOn": "2026-11-01"}
    card = next(c for c in cards_of(call(hook_request("order-sign", [resource(DRAFTS["R4"])],
                                                      prefetch=prefetch(active=(rifampin,)))))
                if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer")
    assert parse_qs(urlsplit(page_link(card)).query)["inducer"] == ["rifampin"]


def test_the_page_is_served_with_its_figures_and_a_strict_content_policy(client):
    response = client.get(PUBLIC_CASE_PAGE)
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert 'id="proposal-trough">915<' in response.text
    assert 'src="/static/vendor/chart.umd.min.js"' in response.text
    assert client.get("/static/dosing.js").status_code == 200


@pytest.mark.parametrize(("query", "named"), [("dose=abc&tau=24", "dose"), ("dose=400&tau=8", "regimen.interval_hours"),
                                              ("dose=400&tau=24&age=12", "covariates.age_years")])
def test_a_page_link_the_model_cannot_draw_is_a_400_naming_the_parameter(client, query, named):
    response = client.get(f"/dosing/imatinib/page?{query}")
    assert response.status_code == 400
    assert named in response.text


def test_the_page_draws_and_redraws_with_the_apis_trough(pages):
    pages.open(PUBLIC_CASE_PAGE)
    page = pages.page
    page.wait_for_selector("body[data-drawn='600/24']")
    assert page.text_content("#alternative-trough") == "915"  # the proposal, from the API
    assert page.evaluate("Chart.getChart('concentration').data.datasets.length") == 5
    assert page.evaluate("document.getElementById('concentration').parentElement.offsetHeight") == 420
    assert pages.blocked_by_policy == []
    page.select_option("#dose", "400")
    page.wait_for_selector("body[data-drawn='400/24']")
    assert page.text_content("#alternative-trough") == "610"  # Tucuxi: 610.0 on 400 mg once daily
    page.select_option("#interval", "12")
    page.wait_for_selector("body[data-drawn='400/12']")
    assert int(page.text_content("#alternative-trough")) > 1500
    assert pages.outside == []


def test_the_tdm_card_links_its_evidence_page_which_shows_the_model(call, client):
    card = next(c for c in cards_of(call(hook_request("order-select", [resource(DRAFTS["R4"])],
                                                      prefetch=prefetch(level(640)))))
                if c["source"]["topic"]["code"] == "imatinib-tdm")
    [link] = [k for k in card["links"] if k["label"] == "Full evidence for this card"]
    page = client.get(urlsplit(link["url"]).path)
    assert page.status_code == 200
    assert "ch.tucuxi.imatinib.gotta2012" in page.text
