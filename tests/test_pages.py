"""The pages over HTTP: what they load, what they refuse, and the decision-guide card's link to /guide."""

import html
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest

from cds_service.rules.guide_form import QUESTIONS
from cds_service.settings import Settings
from tests.helpers import bundle, cards_of, hook_request, resource
from tests.test_decision_guide import BLAST, branch, guide_cards

PAGES = [
    "/evidence",
    "/evidence/imatinib-strong-cyp3a4-inducer",
    "/evidence/decision-guide-gist-secondary-kit",
    "/evidence/tki-variant-avoid",
    "/guide",
    "/guide?cancer=gist&stage=advanced&mutation=kit-exon-17&prior=imatinib-failure",
    "/guide?cancer=cml&stage=chronic&mutation=abl1-t315i&prior=imatinib-failure",
    "/guide?cancer=gist&mutation=abl1-t315i",  # a choice for another cancer: set aside, said so
]


class _Attributes(HTMLParser):
    """Every URL a page loads (src, <link href>) and every one it links to (<a href>, form action)."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: list[str] = []
        self.linked: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("src"):
            self.loaded.append(values["src"])
        if tag == "link" and values.get("href"):
            self.loaded.append(values["href"])
        if tag in ("a", "area") and values.get("href"):
            self.linked.append(values["href"])
        if tag == "form" and values.get("action"):
            self.linked.append(values["action"])


def _urls(html: str) -> _Attributes:
    parser = _Attributes()
    parser.feed(html)
    return parser


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc and url.startswith(("/", "#"))


@pytest.mark.parametrize("path", PAGES)
def test_every_page_loads_only_the_services_own_assets(client, knowledge, path):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = _urls(response.text)
    assert urls.loaded and all(_local(url) for url in urls.loaded), urls.loaded
    # Navigation leaves the service only for a source the knowledge base cites or a trial's registry page.
    allowed = {s.url for s in knowledge.sources.values() if s.url} | {"https://clinicaltrials.gov/study/"}
    for url in urls.linked:
        assert _local(url) or any(url.startswith(a) for a in allowed), url
    assert "default-src 'none'" in response.headers["content-security-policy"]
    for url in urls.loaded:
        assert client.get(url).status_code == 200, url
    for url in urls.linked:
        if url.startswith("/"):
            assert client.get(url).status_code == 200, url


def test_the_stylesheet_is_served_by_the_service(client):
    response = client.get("/static/site.css")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/css")
    assert "@import" not in response.text and "url(http" not in response.text


@pytest.mark.parametrize(("query", "named"), [
    ("cancer=lymphoma", "'cancer' must be one of"),
    ("cancer=cml&stage=terminal", "'stage' must be one of"),
    ("cancer=cml&mutation=BRAF%20V600E", "'mutation' must be one of"),
    ("cancer=gist&prior=everything", "'prior' must be one of"),
])
def test_an_answer_the_form_does_not_offer_is_a_400_naming_the_question(client, query, named):
    response = client.get(f"/guide?{query}")
    assert response.status_code == 400
    assert named in html.unescape(response.text)


def test_a_variant_of_another_cancer_is_set_aside_and_said_so(client):
    page = client.get("/guide?cancer=gist&mutation=abl1-t315i").text
    assert "ABL1 T315I is not read for GIST" in page


def _guide_link(card) -> str:
    [link] = [k["url"] for k in card["links"] if "/guide?" in k["url"]]
    return link


def _kit_exon_17_card(call):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(resource("condition-gist-r4.json")),
        "labResults": bundle(resource("lab-text-kit-exon-17-r4.json")),
    })
    [card] = guide_cards(cards_of(call(body)))
    return card, body


def test_the_guide_card_links_the_page_with_the_patients_answers_as_categories_only(call):
    card, body = _kit_exon_17_card(call)
    url = urlsplit(_guide_link(card))
    assert (url.scheme, url.netloc, url.path) == ("http", "testserver", "/guide")
    query = parse_qs(url.query)
    assert set(query) <= set(QUESTIONS)
    # KIT exon 11 and exon 17 are both on record; exon 17 is the one that gives the card's row.
    assert query == {"cancer": ["gist"], "mutation": ["kit-exon-17"], "prior": ["none"]}
    assert body["context"]["patientId"] not in url.query and "2026" not in url.query


def test_behind_a_proxy_the_link_uses_the_public_base_url(knowledge, tmp_path):
    from fastapi.testclient import TestClient

    from cds_service.app import create_app

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'f.db'}", public_base_url="https://cds.example.org/x/")
    with TestClient(create_app(settings, knowledge)) as client:
        card, _ = _kit_exon_17_card(lambda body: client.post("/cds-services/imatinib-order-select", json=body))
    assert _guide_link(card).startswith("https://cds.example.org/x/guide?")


def _row_on_page(client, link: str) -> str:
    page = client.get(urlsplit(link).path + "?" + urlsplit(link).query).text
    return page.split('data-row="', 1)[1].split('"', 1)[0]


@pytest.mark.parametrize(("conditions", "labs", "history"), [
    (["condition-cml-chronic-r4.json"], ["bcr-abl1-is-failure-r4.json"], ["imatinib-history-2025-r4.json"]),
    (["condition-cml-chronic-r4.json"], ["bcr-abl1-is-warning-r4.json"], ["imatinib-history-2025-r4.json"]),
    (["condition-cml-chronic-r4.json"], ["variant-abl1-f317l-mcode-r4.json"], ["imatinib-history-2025-r4.json"]),
    (["condition-cml-chronic-r4.json"], [], ["nilotinib-history-r4.json"]),
    (["condition-cml-chronic-r4.json", *BLAST], [], []),
    (["condition-cml-accelerated-r4.json"], [], []),
    (["condition-gist-r4.json"], ["lab-text-kit-exon-17-r4.json"], []),
])
def test_the_page_the_card_links_shows_the_cards_row(client, call, conditions, labs, history):
    body = hook_request("order-select", [resource("imatinib-400-draft-r4.json")], prefetch={
        "conditions": bundle(*(resource(c) for c in conditions)),
        "labResults": bundle(*(resource(o) for o in labs)),
        "medicationHistory": bundle(*(resource(h) for h in history)),
    })
    [card] = guide_cards(cards_of(call(body)))
    assert _row_on_page(client, _guide_link(card)) == branch(card)
