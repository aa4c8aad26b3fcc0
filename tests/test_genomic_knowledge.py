"""The variant table, strategies, guide and trials are data the loader checks; the review's unfound trials appear
nowhere a prescriber could read them."""

import json
import re
import shutil
from pathlib import Path

import pytest

from cds_service.knowledge import KnowledgeError, load_knowledge
from cds_service.knowledge.loader import BUNDLED_DIR
from tests.helpers import FIXTURES, bundle, cards_of, hook_request, resource

# Trial names from the 2025 review that no registry holds (shared/seeds/README.md).
UNFOUND_TRIALS = ["IFN-IMAP", "COMBIMAT", "PONI-COMBO", "GIST-DOX", "IMMU-GIST", "KIT-CAR-T", "AI-Dose-CML", "EPIMAT"]
UNFOUND = re.compile(
    "|".join(r"\b" + r"[\W_]?".join(re.escape(p) for p in re.split(r"-", name)) + r"\b" for name in UNFOUND_TRIALS),
    re.IGNORECASE,
)


@pytest.fixture
def knowledge_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(BUNDLED_DIR, target)
    return target


def edit(folder: Path, name: str, old: str, new: str) -> None:
    path = folder / name
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_pattern_catches_the_names_however_they_are_hyphenated():
    assert UNFOUND.search("the IFN\u2011IMAP study") and UNFOUND.search("Kit CAR T") and UNFOUND.search("ai-dose-cml")
    assert not UNFOUND.search("Imatinib + KIT-directed CAR-T cells; GIST: doxorubicin")


def test_no_knowledge_file_names_an_unfound_trial():
    for path in BUNDLED_DIR.iterdir():
        assert not UNFOUND.search(path.read_text(encoding="utf-8")), path.name


def scenario_bodies() -> list[dict]:
    fixtures = [json.loads(p.read_text()) for p in sorted((FIXTURES / "requests").glob("*.json"))]
    bodies = [body for body in fixtures if body.get("prefetch")]  # no FHIR server in tests
    for conditions, labs, history in [
        (["condition-cml-chronic-r4.json"], [], []),
        (["condition-cml-blast-r4.json"], [], []),
        (["condition-cml-chronic-r4.json"], ["bcr-abl1-is-warning-r4.json"], ["imatinib-history-2025-r4.json"]),
        (["condition-gist-r4.json", "condition-crohns-r4.json"], [], []),
        (["condition-gist-r4.json"], ["lab-text-kit-exon-17-r4.json"], []),
    ]:
        for partner in ([], ["peginterferon-alfa-2a-draft-r4.json"], ["pembrolizumab-draft-r4.json"]):
            drafts = ["imatinib-400-draft-r4.json", *partner]
            bodies.append(hook_request("order-select", [resource(d) for d in drafts], prefetch={
                "conditions": bundle(*(resource(c) for c in conditions)),
                "labResults": bundle(*(resource(o) for o in labs)),
                "medicationHistory": bundle(*(resource(h) for h in history)),
            }))
    return bodies


def test_no_card_names_an_unfound_trial(call):
    shown = 0
    for body in scenario_bodies():
        service = {"order-select": "imatinib-order-select", "order-sign": "imatinib-order-sign"}.get(body["hook"])
        cards = cards_of(call(body, service))
        shown += len(cards)
        text = json.dumps(cards, ensure_ascii=False)
        assert not UNFOUND.search(text), UNFOUND.search(text)
    assert shown > 20  # the scenarios do show strategy, guide and trial cards


def test_a_variant_row_citing_an_unknown_source_stops_loading(knowledge_copy):
    edit(knowledge_copy, "variants.toml", 'note = "T315I: imatinib', 'sources = ["nobody"]\nnote = "T315I: imatinib')
    with pytest.raises(KnowledgeError, match=r"variants.toml"):
        load_knowledge(knowledge_copy)


def test_a_variant_row_naming_an_unknown_agent_stops_loading(knowledge_copy):
    edit(knowledge_copy, "variants.toml", 'prefer = ["ponatinib", "asciminib"]', 'prefer = ["ponatinib", "imatinibb"]')
    with pytest.raises(KnowledgeError, match=r"variants.toml: variants\[0\] \(abl1-t315i\): 'imatinibb' is not an "):
        load_knowledge(knowledge_copy)


def test_a_protein_change_not_in_three_letter_hgvs_stops_loading(knowledge_copy):
    edit(knowledge_copy, "variants.toml", 'protein = "p.Thr315Ile"', 'protein = "T315I"')
    with pytest.raises(KnowledgeError, match=r"variants.toml: variants.0.protein"):
        load_knowledge(knowledge_copy)


@pytest.mark.parametrize(("old", "new", "error"), [
    ('"BCOR", "BRAF"', '"BCOR", "KIT", "BRAF"', r"\[other_genes\] lists genes the knowledge base reads: \['KIT'\]"),
    ('"BCOR", "BRAF"', '"BCOR", "JAK2", "BRAF"', r"other_genes.symbols.1"),  # a digit: known by its shape
    ('sources = ["musc-myeloid-panel"', 'sources = ["nobody"', r"variants.toml: \[other_genes\]"),
])
def test_other_gene_symbols_are_checked(knowledge_copy, old, new, error):
    """Listed symbols hide the changes after them from ABL1, KIT and PDGFRA: none may be one of them, each is
    cited, and one with a digit needs no entry."""
    edit(knowledge_copy, "variants.toml", old, new)
    with pytest.raises(KnowledgeError, match=error):
        load_knowledge(knowledge_copy)


def test_a_trial_for_an_unknown_strategy_stops_loading(knowledge_copy):
    edit(knowledge_copy, "combinations.toml", 'strategies = ["imatinib-binimetinib"]\nsources = ["chi-2022"]',
         'strategies = ["imatinib-magic"]\nsources = ["chi-2022"]')
    with pytest.raises(KnowledgeError, match=r"trials \(NCT01991379\): unknown strategy 'imatinib-magic'"):
        load_knowledge(knowledge_copy)


def test_a_malformed_registry_id_stops_loading(knowledge_copy):
    edit(knowledge_copy, "combinations.toml", 'nct = "NCT00585221"', 'nct = "IFN-IMAP"')
    with pytest.raises(KnowledgeError, match=r"combinations.toml: trials.\d+.nct"):
        load_knowledge(knowledge_copy)


def test_a_guide_row_that_shows_a_card_needs_a_summary(knowledge_copy):
    edit(knowledge_copy, "combinations.toml", 'summary = "T315I: switch', 'tagline = "T315I: switch')
    with pytest.raises(KnowledgeError, match=r"combinations.toml: guide"):
        load_knowledge(knowledge_copy)


def test_every_curated_trial_is_one_the_knowledge_base_lists(knowledge):
    listed = {"NCT00219739", "NCT03578367", "NCT01991379", "NCT00585221"}  # shared/knowledge/README.md section 7
    assert {t.nct for t in knowledge.combinations.trials} == listed
