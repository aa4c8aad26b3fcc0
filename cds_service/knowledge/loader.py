"""Load, cross-check and index the knowledge files once, so a request only does dictionary look-ups."""

import csv
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cds_service.knowledge.models import (
    ConditionGroup,
    ImatinibFacts,
    Inducer,
    Ingredient,
    Manifest,
    Routes,
    Source,
)

BUNDLED_DIR = Path(str(resources.files("cds_service.knowledge") / "data"))
_STRENGTH_MG = re.compile(r"\b(\d+(?:\.\d+)?) MG\b", re.IGNORECASE)


M = TypeVar("M", bound=BaseModel)


class KnowledgeError(Exception):
    """A knowledge file that is missing, malformed or inconsistent; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class Product:
    rxcui: str
    name: str
    ingredients: tuple[str, ...]
    strength_mg: float | None  # single-ingredient products only


class Knowledge:
    """Every fact the rules use, with indexes built at load time."""

    def __init__(
        self,
        manifest: Manifest,
        sources: dict[str, Source],
        ingredients: dict[str, Ingredient],
        inducers: dict[str, Inducer],
        products: dict[str, Product],
        imatinib: ImatinibFacts,
        conditions: list[ConditionGroup],
        routes: Routes,
    ):
        self.manifest = manifest
        self.version = manifest.version
        self.sources = sources
        self.ingredients = ingredients
        self.inducers = inducers
        self.products = products
        self.imatinib = imatinib
        self.conditions = conditions
        self.routes = routes

        self.ingredients_by_rxnorm: dict[str, tuple[str, ...]] = {
            code: product.ingredients for code, product in products.items()
        }
        self.ingredients_by_atc: dict[str, str] = {}
        for ingredient_id, ingredient in ingredients.items():
            if ingredient.rxnorm:
                self.ingredients_by_rxnorm[ingredient.rxnorm] = (ingredient_id,)
            for atc in ingredient.atc:
                self.ingredients_by_atc[atc] = ingredient_id

        names: dict[str, str] = {}
        for ingredient_id, ingredient in ingredients.items():
            for name in (*ingredient.names, *ingredient.brands):
                names[_fold(name)] = ingredient_id
        self.ingredient_by_name = names
        alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
        self.name_pattern = re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE)

        terms = "|".join(re.escape(t) for t in sorted(routes.non_systemic_terms, key=len, reverse=True))
        self.non_systemic_pattern = re.compile(rf"(?<!\w)({terms})(?!\w)", re.IGNORECASE)

        self.condition_by_code: dict[tuple[str, str], ConditionGroup] = {}
        self.condition_prefixes: list[tuple[str, str, ConditionGroup]] = []
        for group in conditions:
            for c in group.codes:
                if c.match == "prefix":
                    self.condition_prefixes.append((c.system, c.code, group))
                else:
                    self.condition_by_code[(c.system, c.code)] = group

        self.level_codes = {(c.system, c.code) for c in imatinib.tdm.level_codes}
        self.trough_targets = {t.indication: t for t in imatinib.tdm.targets}

    def cite(self, source_ids: list[str]) -> str:
        return "; ".join(self.sources[s].citation for s in source_ids)


def _fold(text: str) -> str:
    """Case- and apostrophe-insensitive key for names ("St. John’s Wort" == "st. john's wort")."""
    return text.replace("\u2019", "'").casefold()


def fold_text(text: str) -> str:
    return text.replace("\u2019", "'")


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise KnowledgeError(f"{path.name}: file is missing from {path.parent}") from None
    except tomllib.TOMLDecodeError as exc:
        raise KnowledgeError(f"{path.name}: not valid TOML: {exc}") from None


def _validate(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(entry)'}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise KnowledgeError(f"{where}: {problems}") from None


def _entries(model: type[M], table: dict[str, Any], file: str) -> dict[str, M]:
    return {key: _validate(model, value, f"{file}: [{key}]") for key, value in table.items()}


def _read_products(path: Path, ingredients: dict[str, Ingredient]) -> dict[str, Product]:
    products: dict[str, Product] = {}
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except FileNotFoundError:
        raise KnowledgeError(f"{path.name}: file is missing from {path.parent}") from None
    for line, row in enumerate(rows, start=2):
        rxcui, name, ingredient_field = row.get("rxcui"), row.get("name"), row.get("ingredients")
        if not rxcui or not rxcui.isdigit() or not name or not ingredient_field:
            raise KnowledgeError(f"{path.name}: line {line}: needs a numeric rxcui, a name and ingredients")
        members = tuple(ingredient_field.split("+"))
        for member in members:
            if member not in ingredients:
                raise KnowledgeError(f"{path.name}: line {line} ({rxcui}): unknown ingredient '{member}'")
        strengths = _STRENGTH_MG.findall(name)
        strength = float(strengths[0]) if len(members) == 1 and len(strengths) == 1 else None
        products[rxcui] = Product(rxcui, name, members, strength)
    return products


def _check_sources(knowledge: Knowledge) -> None:
    def check(ids: list[str], where: str) -> None:
        for source_id in ids:
            if source_id not in knowledge.sources:
                raise KnowledgeError(f"{where}: cites unknown source '{source_id}' (add it to sources.toml)")

    for key, ingredient in knowledge.ingredients.items():
        check(ingredient.sources, f"ingredients.toml: [{key}]")
    for key, inducer in knowledge.inducers.items():
        if key not in knowledge.ingredients:
            raise KnowledgeError(f"inducers.toml: [{key}]: not an ingredient in ingredients.toml")
        check([c.source for c in inducer.classifications], f"inducers.toml: [{key}]")
        if inducer.effect:
            check(inducer.effect.sources, f"inducers.toml: [{key}].effect")
    dosing, tdm = knowledge.imatinib.dosing, knowledge.imatinib.tdm
    for ids, where in (
        (dosing.tablet_strengths_sources, "dosing.tablet_strengths_sources"),
        (dosing.inducer_increase_sources, "dosing.inducer_increase_sources"),
        (dosing.max_daily_sources, "dosing.max_daily_sources"),
        (dosing.twice_daily_sources, "dosing.twice_daily_sources"),
        (dosing.exposure_note_sources, "dosing.exposure_note_sources"),
        (tdm.watch_above_sources, "tdm.watch_above_sources"),
        (tdm.sampling_sources, "tdm.sampling_sources"),
        *((i.sources, f"dosing.indications[{i.indication}]") for i in dosing.indications),
        *((t.sources, f"tdm.targets[{t.indication}]") for t in tdm.targets),
        *((c.sources, f"tdm.level_codes[{c.code}]") for c in tdm.level_codes),
    ):
        check(ids, f"imatinib.toml: {where}")
    for group in knowledge.conditions:
        check(group.sources, f"conditions.toml: [{group.id}]")
    check(knowledge.routes.sources, "routes.toml")
    if dosing.max_daily_mg_with_inducer % min(dosing.tablet_strengths_mg):
        raise KnowledgeError("imatinib.toml: dosing.max_daily_mg_with_inducer is not a whole number of tablets")


def load_knowledge(directory: Path | None = None) -> Knowledge:
    folder = directory or BUNDLED_DIR
    manifest = _validate(Manifest, _read_toml(folder / "manifest.toml"), "manifest.toml")
    sources = _entries(Source, _read_toml(folder / "sources.toml").get("sources", {}), "sources.toml")
    ingredients = _entries(Ingredient, _read_toml(folder / "ingredients.toml"), "ingredients.toml")
    inducers = _entries(Inducer, _read_toml(folder / "inducers.toml"), "inducers.toml")
    products = _read_products(folder / "products.csv", ingredients)
    imatinib = _validate(ImatinibFacts, _read_toml(folder / "imatinib.toml"), "imatinib.toml")
    conditions_raw = _read_toml(folder / "conditions.toml").get("conditions", [])
    conditions = [
        _validate(ConditionGroup, entry, f"conditions.toml: conditions[{index}]")
        for index, entry in enumerate(conditions_raw)
    ]
    routes = _validate(Routes, _read_toml(folder / "routes.toml"), "routes.toml")
    knowledge = Knowledge(manifest, sources, ingredients, inducers, products, imatinib, conditions, routes)
    _check_sources(knowledge)
    return knowledge
