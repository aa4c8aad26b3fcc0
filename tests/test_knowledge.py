"""The knowledge base loads, is internally consistent, and a broken entry is reported by file and entry."""

import csv
import re
import shutil
from pathlib import Path

import pytest

from cds_service.knowledge import KnowledgeError, load_knowledge
from cds_service.knowledge.loader import BUNDLED_DIR


def test_every_entry_cites_sources_that_exist(knowledge):
    for ingredient in knowledge.ingredients.values():
        assert all(s in knowledge.sources for s in ingredient.sources)
    for inducer in knowledge.inducers.values():
        assert all(c.source in knowledge.sources for c in inducer.classifications)
        if inducer.effect:
            assert inducer.effect.sources and all(s in knowledge.sources for s in inducer.effect.sources)


def test_every_product_maps_to_known_ingredients(knowledge):
    with (BUNDLED_DIR / "products.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(knowledge.products) == 431
    assert knowledge.ingredients_by_rxnorm["403879"] == ("imatinib",)
    assert knowledge.ingredients_by_rxnorm["855922"] == ("phenobarbital", "phenytoin")


def test_every_brand_in_the_product_list_is_recognised_by_name(knowledge):
    with (BUNDLED_DIR / "products.csv").open() as handle:
        for row in csv.DictReader(handle):
            for brand in re.findall(r"\[([^\]]+)\]", row["name"]):
                found = knowledge.ingredients_by_name.get(brand.casefold())
                assert found and set(found) == set(row["ingredients"].split("+")), (brand, row["ingredients"])


def test_strong_inducers_named_by_the_knowledge_base_are_acted_on_as_strong(knowledge):
    strong = {"apalutamide", "carbamazepine", "enzalutamide", "fosphenytoin", "lumacaftor", "mitotane",
              "phenobarbital", "phenytoin", "primidone", "rifampin", "avasimibe", "ivosidenib", "rifapentine"}
    assert {k for k, v in knowledge.inducers.items() if v.strength == "strong" and v.management != "stop"} == strong
    assert knowledge.inducers["st_johns_wort"].management == "stop"


def test_conflicting_sources_are_recorded(knowledge):
    for name in ("st_johns_wort", "rifapentine", "phenobarbital", "primidone", "ivosidenib"):
        assert knowledge.inducers[name].conflict, name


def test_unconfirmed_1200_mg_maximum_is_not_used_for_suggestions(knowledge):
    dosing = knowledge.imatinib.dosing
    assert dosing.unconfirmed_max_daily_mg_with_inducer.status == "U"
    assert dosing.max_daily_mg_with_inducer == 800


def copy_bundled(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(BUNDLED_DIR, target)
    return target


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("inducers.toml", 'strength = "strong"', 'strength = "huge"', "inducers.toml: [rifampin]: strength"),
        ("ingredients.toml", 'sources = ["rxnorm", "who-atc", "smpc-mims"]', 'sources = ["nowhere"]',
         "ingredients.toml: [imatinib]: cites unknown source 'nowhere'"),
        ("products.csv", "403879,imatinib 400 MG Oral Tablet,imatinib", "403879,imatinib 400 MG Oral Tablet,imatinob",
         "products.csv: line"),
        ("imatinib.toml", "max_daily_mg_with_inducer = 800", "max_daily_mg_with_inducer = 850",
         "not a whole number of tablets"),
        ("sources.toml", "[sources.lexicomp]", "[sources.lexicomp\n", "sources.toml: not valid TOML"),
        ("pk_imatinib.toml", "sd_eta_volume = 0.629", "sd_eta_volume = -0.629",
         "pk_imatinib.toml: variability.sd_eta_volume"),
        ("pk_imatinib.toml", 'members = ["st_johns_wort"]', 'members = ["st_johns_wart"]',
         "pk_imatinib.toml: [inducers.st_johns_wort]: 'st_johns_wart' is not an ingredient"),
        ("pk_imatinib.toml", "once_daily_mg = [100, 200", "once_daily_mg = [150, 200",
         "150 mg is not a whole number of tablets"),
        ("pk_imatinib.toml", 'sources = ["bolton-2004", "smpc-mims"]', 'sources = ["bolton-2005"]',
         "pk_imatinib.toml.inducers.rifampin.sources: cites unknown source 'bolton-2005'"),
    ],
)
def test_a_broken_file_is_reported_by_file_and_entry(tmp_path, file, old, new, message):
    assert_refused(tmp_path, file, old, new, message)


def assert_refused(tmp_path: Path, file: str, old: str, new: str, message: str) -> None:
    """A copy of the bundled knowledge base with `old` made `new` in `file` stops start-up, saying `message`."""
    folder = copy_bundled(tmp_path)
    text = (folder / file).read_text()
    assert old in text
    (folder / file).write_text(text.replace(old, new, 1))
    with pytest.raises(KnowledgeError, match=re.escape(message)):
        load_knowledge(folder)


def test_a_missing_file_is_reported(tmp_path):
    folder = copy_bundled(tmp_path)
    (folder / "routes.toml").unlink()
    with pytest.raises(KnowledgeError, match=re.escape("routes.toml: file is missing")):
        load_knowledge(folder)


def test_the_pk_model_is_the_tucuxi_file_as_sourced(knowledge):
    pk = knowledge.pk
    assert pk.model_id == "ch.tucuxi.imatinib.gotta2012"
    assert (pk.absorption.ka_per_h, pk.clearance.intercept_l_per_h, pk.volume.intercept_l) == (0.609, 14.3, 347.0)
    assert (pk.variability.sd_eta_clearance, pk.variability.sd_eta_volume, pk.variability.correlation) == (
        0.356, 0.629, 0.798)
    assert pk.residual.proportional_sigma == 0.3138
    assert (pk.domain.age_years.kind, pk.domain.weight_kg.kind) == ("hard", "soft")
    assert "typo" in (BUNDLED_DIR / "pk_imatinib.toml").read_text()


@pytest.mark.parametrize(
    ("ingredient", "factor", "borrowed"),
    [("rifampin", 3.8, False), ("carbamazepine", 3.7, False), ("phenytoin", 3.7, False),
     ("st_johns_wort", 1.45, False), ("enzalutamide", 3.8, True)],
)
def test_inducer_clearance_factors(knowledge, ingredient, factor, borrowed):
    found, was_borrowed = knowledge.pk_inducer_factor(ingredient)
    assert (found.clearance_factor, was_borrowed) == (factor, borrowed)
    assert found.sources and found.derivation


def test_derived_inducer_factors_follow_from_the_auc_reductions(knowledge):
    """AUC = F dose / CL, so an AUC reduction r multiplies CL by 1 / (1 - r): -73 % -> 3.7, -31 % -> 1.45."""
    assert knowledge.pk_inducer_factor("carbamazepine")[0].clearance_factor == pytest.approx(1 / 0.27, abs=0.01)
    assert knowledge.pk_inducer_factor("st_johns_wort")[0].clearance_factor == pytest.approx(1 / 0.69, abs=0.01)
