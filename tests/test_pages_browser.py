"""The pages in a real browser (Debian's chromium through Playwright) against a real `cds-service serve`."""

import httpx
import pytest

from cds_service.knowledge import Knowledge
from cds_service.rules.guide import Scenario, scenario_trials
from tests.browser import NARROW, Pages
from tests.helpers import bundle, hook_request, request_fixture, resource


def _variant(knowledge: Knowledge, variant_id: str):
    return next(v for v in knowledge.genomics.variants if v.id == variant_id)


def _first_row_for(knowledge: Knowledge, cancer: str, category: str):
    """The knowledge base's own row for a mutation category: the first of the cancer's rows that names it."""
    rows = knowledge.combinations.guide
    return next(r for r in rows if r.cancer == cancer and r.mutations and category in r.mutations)


def _choose(tab: Pages, **labels: str) -> None:
    for question, label in labels.items():
        tab.page.get_by_label(question).select_option(label=label)


def test_choosing_gist_advanced_kit_exon_17_imatinib_failure_shows_the_knowledge_bases_row(pages, knowledge):
    pages.open("/guide")
    _choose(pages, **{"1. Cancer type": "GIST (gastrointestinal stromal tumour)", "2. Disease stage": "advanced",
                      "3. Mutation status": "KIT exon 17", "4. Prior therapy": "imatinib failure"})
    pages.page.get_by_role("button", name="Show the guidance").click()
    pages.page.wait_for_load_state("load")
    row = _first_row_for(knowledge, "gist", _variant(knowledge, "kit-exon-17").category)
    result = pages.page.locator("#result")
    assert result.locator(".summary").inner_text() == row.summary
    assert row.advice in result.inner_text()
    text = result.inner_text()
    scenario = Scenario("gist", "advanced", frozenset({"kit-secondary"}), frozenset({"imatinib"}), "failure")
    for strategy_id in row.strategies:  # shown with fitting evidence, or named as left out
        assert knowledge.combinations.strategies[strategy_id].label in text
    # The registered GIST trials of the row's strategies whose population fits imatinib-refractory GIST, linked.
    expected = {t.nct for t in scenario_trials(scenario, row, knowledge)}
    links = result.locator("a[href^='https://clinicaltrials.gov/study/']")
    assert {links.nth(i).get_attribute("href").rsplit("/", 1)[1] for i in range(links.count())} == expected
    assert "Toxicities to prepare for" in text
    # The choices stay set, so one can be changed to see what changes.
    assert pages.page.get_by_label("3. Mutation status").input_value() == "kit-exon-17"
    assert pages.outside == []


def test_the_guide_cards_link_opens_the_page_with_its_four_choices_set(pages, knowledge):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-cml-chronic-r4.json")),
        "labResults": bundle(resource("bcr-abl1-is-failure-r4.json")),
        "medicationHistory": bundle(resource("imatinib-history-2025-r4.json")),
    })
    cards = httpx.post(f"{pages.server.base}/cds-services/imatinib-order-select", json=body, timeout=10).json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"].startswith("decision-guide-")]
    [link] = [k for k in card["links"] if "/guide?" in k["url"]]
    assert link["type"] == "absolute" and link["url"].startswith(pages.server.base + "/guide?")
    pages.open(link["url"].removeprefix(pages.server.base))
    chosen = {q: pages.page.locator(f"#q-{q}").input_value() for q in ("cancer", "stage", "mutation", "prior")}
    assert chosen == {"cancer": "cml", "stage": "chronic", "mutation": "none", "prior": "imatinib-failure"}
    shown = pages.page.locator("[data-row]").get_attribute("data-row")
    assert f"decision-guide-{shown}" == card["source"]["topic"]["code"]


def test_the_guide_fits_an_ehr_side_panel(narrow_pages):
    narrow_pages.open("/guide?cancer=gist&stage=advanced&mutation=kit-exon-17&prior=imatinib-failure")
    width = narrow_pages.page.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW
    # Keyboard: the skip link comes first and every control is reachable with Tab.
    narrow_pages.page.keyboard.press("Tab")
    assert narrow_pages.page.evaluate("document.activeElement.textContent") == "Skip to the content"
    reached = set()
    for _ in range(12):
        narrow_pages.page.keyboard.press("Tab")
        reached.add(narrow_pages.page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {"q-cancer", "q-stage", "q-mutation", "q-prior", "BUTTON"} <= reached
    assert narrow_pages.outside == []


def test_a_cards_evidence_link_opens_its_evidence_page(pages, knowledge):
    body = request_fixture("order-select-sandbox-imatinib-with-rifampin.json")
    cards = httpx.post(f"{pages.server.base}/cds-services/imatinib-order-select", json=body, timeout=10).json()["cards"]
    [card] = [c for c in cards if c["source"]["topic"]["code"] == "imatinib-strong-cyp3a4-inducer"]
    [link] = [k["url"] for k in card["links"] if k["label"] == "Full evidence for this card"]
    pages.open(link.removeprefix(pages.server.base))
    assert pages.page.locator("h1").inner_text() == "Imatinib with a strong CYP3A4 inducer"
    assert f"Knowledge base {knowledge.version}" in pages.page.locator("main").inner_text()
    assert pages.outside == []


def test_an_unknown_topic_shows_the_not_found_page(pages):
    response = pages.open("/evidence/no-such-topic")
    assert response.status == 404
    assert pages.page.get_by_role("link", name="Every card topic and its evidence").is_visible()


@pytest.mark.parametrize("path", [
    "/guide",
    "/evidence",
    "/evidence/imatinib-strong-cyp3a4-inducer",
    "/evidence/no-such-topic",
    "/dosing/imatinib/page?w=70&age=50&sex=unknown&ind=CML&dose=400&tau=24&n=30&lt=720&lv=620",
])
def test_nothing_on_a_page_is_blocked_by_its_content_security_policy(pages, path):
    """An inline style or script the policy refuses is silently dropped: the page looks right in the template and
    wrong in the browser (the dosing chart's box lost its height this way)."""
    pages.open(path)
    pages.page.wait_for_load_state("networkidle")
    assert pages.blocked_by_policy == []


def test_nothing_on_the_dashboard_is_blocked_by_its_content_security_policy(committee_pages):
    committee_pages.open("/dashboard")
    committee_pages.page.wait_for_load_state("networkidle")
    assert committee_pages.blocked_by_policy == []
