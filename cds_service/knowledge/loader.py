"""Load, cross-check and index the knowledge files once, so a request only does dictionary look-ups."""

import csv
import re
import tomllib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from cds_service.knowledge.models import (
    Brand,
    Combinations,
    ConditionGroup,
    Genomics,
    ImatinibFacts,
    Inducer,
    Ingredient,
    Interactions,
    Manifest,
    MolecularResponse,
    PkInducerFactor,
    PkModel,
    Routes,
    Source,
    VariantMeaning,
)

BUNDLED_DIR = Path(str(resources.files("cds_service.knowledge") / "data"))
_STRENGTH_MG = re.compile(r"\b(\d+(?:\.\d+)?) MG\b", re.IGNORECASE)
# Distinct medication and route texts remembered per knowledge base: a formulary's worth, bounded against junk.
TEXT_MEMO_SIZE = 8192


M = TypeVar("M", bound=BaseModel)


class KnowledgeError(Exception):
    """A knowledge file that is missing, malformed or inconsistent; the message names the file and entry."""


@dataclass(frozen=True, slots=True)
class Product:
    rxcui: str
    name: str
    ingredients: tuple[str, ...]
    strength_mg: float | None  # single-ingredient products only


@dataclass(frozen=True, slots=True)
class NamedIn:
    """What the names in one text stand for: the ingredients, and the brands of several ingredients among them."""

    ingredients: frozenset[str]
    brands: tuple[str, ...]  # brands.toml ids, in the order the text names them


@dataclass(frozen=True, slots=True)
class VariantIndex:
    """Look-ups from what a lab reports (gene name or HGNC id, protein change, exon) to what it means."""

    by_protein: dict[tuple[str, str], VariantMeaning]
    by_exon: dict[tuple[str, int], VariantMeaning]
    fallback: dict[str, VariantMeaning]
    cancers: frozenset[str]  # every indication a row applies to
    genes_by_cancer: dict[str, frozenset[str]]  # the genes whose rows apply to each indication
    gene_by_hgnc: dict[str, str]
    gene_by_alias: dict[str, str]
    genes_with_protein: dict[str, tuple[str, ...]]  # p.Asp842Val -> the genes a row holds that change for
    alias_pattern: re.Pattern[str]
    negative_pattern: re.Pattern[str]
    positive_pattern: re.Pattern[str]
    tested_pattern: re.Pattern[str]
    not_actionable_pattern: re.Pattern[str] | None  # a lab's "uncertain significance", "likely benign"
    no_result_pattern: re.Pattern[str] | None  # "not tested", "failed", "no call"
    exon_of: dict[tuple[str, str], int]  # (KIT, p.Asp816Val) -> 17: where the sources place a change
    other_gene_pattern: re.Pattern[str]  # a symbol of a gene the knowledge base does not hold (JAK2, KRAS)

    @classmethod
    def build(cls, genomics: Genomics) -> "VariantIndex":
        by_hgnc: dict[str, str] = {}
        by_alias: dict[str, str] = {}
        for symbol, gene in genomics.genes.items():
            by_hgnc[gene.hgnc] = symbol
            by_hgnc[gene.hgnc.removeprefix("HGNC:")] = symbol
            for alias in (symbol, *gene.aliases):
                by_alias[alias] = symbol
        reading = genomics.reading
        return cls(
            by_protein={(v.gene, v.protein): v for v in genomics.variants if v.protein},
            by_exon={(v.gene, v.exon): v for v in genomics.variants if v.exon and not v.protein},
            fallback={v.gene: v for v in genomics.variants if not v.protein and not v.exon},
            cancers=frozenset(c for v in genomics.variants for c in v.cancers),
            genes_by_cancer={
                cancer: frozenset(v.gene for v in genomics.variants if cancer in v.cancers)
                for cancer in {c for v in genomics.variants for c in v.cancers}
            },
            gene_by_hgnc=by_hgnc,
            gene_by_alias=by_alias,
            genes_with_protein={
                protein: tuple(dict.fromkeys(v.gene for v in genomics.variants if v.protein == protein))
                for protein in {v.protein for v in genomics.variants if v.protein}
            },
            # Case-sensitive: "KIT" is a gene, "kit" is not. "ABL1:p.Thr315Ile" names ABL1; "BCR::ABL1" is one name.
            alias_pattern=re.compile(rf"(?<![\w:/-])({_alternatives(by_alias)})(?![\w/-]|::)"),
            negative_pattern=re.compile(rf"(?<!\w)({_alternatives(reading.negative_terms)})(?!\w)", re.IGNORECASE),
            positive_pattern=re.compile(rf"(?<!\w)({_alternatives(reading.positive_terms)})(?!\w)", re.IGNORECASE),
            tested_pattern=re.compile(rf"(?<!\w)({_alternatives(reading.tested_terms)})(?!\w)", re.IGNORECASE),
            not_actionable_pattern=re.compile(
                rf"(?<!\w)({_alternatives(reading.not_actionable_terms)})(?!\w)", re.IGNORECASE
            ) if reading.not_actionable_terms else None,
            no_result_pattern=re.compile(
                rf"(?<!\w)({_alternatives(reading.no_result_terms)})(?!\w)", re.IGNORECASE
            ) if reading.no_result_terms else None,
            exon_of={(row.gene, protein): row.exon for row in genomics.exons for protein in row.proteins},
            other_gene_pattern=_other_gene_pattern(genomics.other_genes.symbols if genomics.other_genes else []),
        )

    def meaning(self, gene: str, protein: str | None, exon: int | None) -> VariantMeaning | None:
        """The most specific row: gene + protein change, else gene + exon (the exon the sources place the change in
        when the lab does not write it), else the gene's fallback row."""
        if protein and (found := self.by_protein.get((gene, protein))):
            return found
        exon = exon or (self.exon_of.get((gene, protein)) if protein else None)
        if exon and (found := self.by_exon.get((gene, exon))):
            return found
        return self.fallback.get(gene)

    def exon_rows(self, gene: str) -> list[VariantMeaning]:
        """The gene's rows by exon, in exon order: for KIT the advice goes by exon, not by change."""
        return sorted((m for (g, _), m in self.by_exon.items() if g == gene), key=lambda m: m.exon or 0)

    def exon_not_known(self, gene: str, protein: str | None, exon: int | None) -> bool:
        """The gene's advice goes by exon, and neither the result nor a source table the knowledge base holds places
        this change in one: its exon is not known (and is never guessed from the change's position)."""
        if exon or not self.exon_rows(gene):
            return False
        return protein is None or ((gene, protein) not in self.by_protein and (gene, protein) not in self.exon_of)


def _other_gene_pattern(listed: list[str]) -> re.Pattern[str]:
    """Another gene's symbol: HGNC style with a digit (TP53, ASXL1, JAK2), by its shape, or a listed symbol without
    one ([other_genes]: KRAS, MPL, CALR). Case-sensitive and whole words, as gene names are."""
    shapes = "|".join([*([_alternatives(listed)] if listed else []), r"[A-Z][A-Z0-9]*\d[A-Z0-9]*"])
    return re.compile(rf"(?<![\w.-])({shapes})(?![\w-])")


def _alternatives(terms: Iterable[str]) -> str:
    """A regex alternation, longest first so "BCR-ABL1" wins over "ABL1"."""
    return "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))


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
        *,
        genomics: Genomics,
        response: MolecularResponse,
        combinations: Combinations,
        interactions: Interactions,
        pk: PkModel,
        brands: dict[str, Brand],
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

        self.brands = brands
        self.ingredients_by_name, self.brand_by_name = _name_index(ingredients, self.brands)
        alternatives = "|".join(re.escape(n) for n in sorted(self.ingredients_by_name, key=len, reverse=True))
        self.name_pattern = re.compile(rf"(?<!\w)({alternatives})(?!\w)", re.IGNORECASE)

        terms = "|".join(re.escape(t) for t in sorted(routes.non_systemic_terms, key=len, reverse=True))
        self.non_systemic_pattern = re.compile(rf"(?<!\w)({terms})(?!\w)", re.IGNORECASE)
        # EHRs send the same few thousand drug and route texts again and again: match each text once, not per request.
        self.names_in = lru_cache(maxsize=TEXT_MEMO_SIZE)(self._names_in)
        self.names_non_systemic_route = lru_cache(maxsize=TEXT_MEMO_SIZE)(self._names_non_systemic_route)

        self.condition_by_code: dict[tuple[str, str], ConditionGroup] = {}
        self.condition_prefixes: list[tuple[str, str, ConditionGroup]] = []
        for group in conditions:
            for c in group.codes:
                if c.match == "prefix":
                    self.condition_prefixes.append((c.system, c.code, group))
                else:
                    self.condition_by_code[(c.system, c.code)] = group
        self.condition_labels = {group.id: group.label for group in reversed(conditions)}
        # Conditions recognised by name: (group, names pattern, pattern of words that make a text about else).
        self.condition_names: list[tuple[ConditionGroup, re.Pattern[str], re.Pattern[str] | None]] = [
            (
                group,
                re.compile(rf"(?<!\w)({_alternatives(_fold(n) for n in group.names)})(?!\w)"),
                re.compile(rf"(?<![\w/])({_alternatives(_fold(n) for n in group.not_names)})(?![\w/])")
                if group.not_names else None,
            )
            for group in conditions if group.names
        ]

        self.level_codes = {(c.system, c.code) for c in imatinib.tdm.level_codes}
        self.trough_targets = {t.indication: t for t in imatinib.tdm.targets}

        self.genomics = genomics
        self.variants = VariantIndex.build(genomics)
        self.variants_by_id = {v.id: v for v in genomics.variants}
        self.response = response
        # What a result is, by its code: read once per result instead of once per reader (facts/observations.py).
        kinds: dict[tuple[str, str], set[str]] = {}
        for code in self.level_codes:
            kinds.setdefault(code, set()).add("level")
        kinds.setdefault((response.is_result.system, response.is_result.code), set()).add("bcr-abl1")
        kinds.setdefault((genomics.reading.system, genomics.reading.variant_code), set()).add("variant")
        for coding in (*imatinib.paediatric.weight_codes, *imatinib.paediatric.height_codes):
            kinds.setdefault((coding.system, coding.code), set()).add("body measure")
        self.result_kinds = {code: frozenset(names) for code, names in kinds.items()}
        self.is_result_units = frozenset(unit.casefold() for unit in response.is_result.units)
        self.combinations = combinations
        self.class_members: dict[str, frozenset[str]] = {
            class_id: frozenset(agent_class.members) for class_id, agent_class in combinations.classes.items()
        }
        self.strategy_agents: dict[str, frozenset[str]] = {
            strategy_id: frozenset(strategy.agents).union(
                *(self.class_members.get(c, frozenset()) for c in strategy.classes)
            )
            for strategy_id, strategy in combinations.strategies.items()
        }
        self.combination_agents: frozenset[str] = frozenset().union(*self.strategy_agents.values())
        self.interactions = interactions
        self.inhibitors = interactions.inhibitors
        # The alternatives a source names for each inducer, by inducer id.
        self.alternatives_for: dict[str, tuple[str, ...]] = {}
        for set_id, alternative_set in interactions.alternatives.items():
            for inducer in alternative_set.for_:
                self.alternatives_for[inducer] = (*self.alternatives_for.get(inducer, ()), set_id)
        self.bcr_abl1_inhibitors: frozenset[str] = frozenset(interactions.duplicates.members)
        self.pk = pk
        self.pk_inducer_by_ingredient: dict[str, PkInducerFactor] = {
            member: factor for factor in pk.inducers.values() for member in factor.members
        }
        self.pk_inducer_fallback: PkInducerFactor = next(f for f in pk.inducers.values() if not f.members)

    def pk_inducer_factor(self, ingredient: str) -> tuple[PkInducerFactor, bool]:
        """The prior's clearance factor for an inducer, and whether it is borrowed (no imatinib figure for it)."""
        found = self.pk_inducer_by_ingredient.get(ingredient)
        return (found, False) if found else (self.pk_inducer_fallback, True)

    def cite(self, source_ids: list[str]) -> str:
        return "; ".join(self.sources[s].citation for s in source_ids)

    def cite_short(self, source_ids: list[str]) -> str:
        """The sources by their short names, for a card that keeps the full citations on its evidence page."""
        return "; ".join(self.sources[s].short for s in source_ids)

    def _names_in(self, text: str) -> NamedIn:
        """The ingredients whose name or brand appears in `text` as whole words (case- and apostrophe-insensitive),
        every ingredient of a brand of several among them, and those brands."""
        names = [match.group(1).casefold() for match in self.name_pattern.finditer(fold_text(text))]
        return NamedIn(
            frozenset(i for name in names for i in self.ingredients_by_name[name]),
            tuple(dict.fromkeys(self.brand_by_name[n] for n in names if n in self.brand_by_name)),
        )

    def _names_non_systemic_route(self, text: str) -> bool:
        """Whether `text` names a route or dose form that delivers no systemic dose (eye drops, cream, ...)."""
        return self.non_systemic_pattern.search(fold_text(text)) is not None


def _name_index(
    ingredients: dict[str, Ingredient], brands: dict[str, Brand]
) -> tuple[dict[str, tuple[str, ...]], dict[str, str]]:
    """Each folded name to the ingredients it stands for (a brand of several: all of them), and each such brand's
    name to its brands.toml id. A name given twice is an error: one of the two would silently be lost."""
    by_name: dict[str, tuple[str, ...]] = {}
    brand_by_name: dict[str, str] = {}

    def add(name: str, members: tuple[str, ...], where: str) -> None:
        folded = _fold(name)
        if folded in by_name:
            raise KnowledgeError(f"{where}: the name '{name}' is already given to {', '.join(by_name[folded])}")
        by_name[folded] = members

    for ingredient_id, ingredient in ingredients.items():
        for name in (*ingredient.names, *ingredient.brands):
            add(name, (ingredient_id,), f"ingredients.toml: [{ingredient_id}]")
    for brand_id, brand in brands.items():
        add(brand.name, tuple(brand.ingredients), f"brands.toml: [{brand_id}]")
        brand_by_name[_fold(brand.name)] = brand_id
    return by_name, brand_by_name


def _fold(text: str) -> str:
    """Case- and apostrophe-insensitive key for names ("St. John’s Wort" == "st. john's wort")."""
    return text.replace("\u2019", "'").casefold()


def fold_name(text: str) -> str:
    """Case- and apostrophe-insensitive form of a name, as the knowledge base's name patterns are written."""
    return _fold(text)


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
        _cite_check(knowledge, ids, where)

    for key, ingredient in knowledge.ingredients.items():
        check(ingredient.sources, f"ingredients.toml: [{key}]")
    for key, brand in knowledge.brands.items():
        check(brand.sources, f"brands.toml: [{key}]")
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
        (dosing.labelled_daily_mg.sources, "dosing.labelled_daily_mg"),
        (knowledge.imatinib.paediatric.sources, "paediatric.sources"),
        (knowledge.imatinib.paediatric.bsa_sources, "paediatric.bsa_sources"),
        (knowledge.imatinib.paediatric.measurement_code_sources, "paediatric.measurement_code_sources"),
        (knowledge.imatinib.paediatric.freshness_sources, "paediatric.freshness_sources"),
        (dosing.plausible_daily_mg.sources, "dosing.plausible_daily_mg"),
        (tdm.watch_above_sources, "tdm.watch_above_sources"),
        (tdm.sampling_sources, "tdm.sampling_sources"),
        (tdm.trough_window_sources, "tdm.trough_window_sources"),
        *((i.sources, f"dosing.indications[{i.indication}]") for i in dosing.indications),
        *((t.sources, f"tdm.targets[{t.indication}]") for t in tdm.targets),
        *((c.sources, f"tdm.level_codes[{c.code}]") for c in tdm.level_codes),
    ):
        check(ids, f"imatinib.toml: {where}")
    for group in knowledge.conditions:
        check(group.sources, f"conditions.toml: [{group.id}]")
        check(group.history_sources, f"conditions.toml: [{group.id}] history_sources")
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
    brands = _entries(Brand, _read_toml(folder / "brands.toml"), "brands.toml")
    _check_brands(brands, ingredients)
    knowledge = Knowledge(
        manifest, sources, ingredients, inducers, products, imatinib, conditions, routes,
        genomics=_validate(Genomics, _read_toml(folder / "variants.toml"), "variants.toml"),
        response=_validate(MolecularResponse, _read_toml(folder / "response.toml"), "response.toml"),
        combinations=_validate(Combinations, _read_toml(folder / "combinations.toml"), "combinations.toml"),
        interactions=_validate(Interactions, _read_toml(folder / "interactions.toml"), "interactions.toml"),
        pk=_validate(PkModel, _read_toml(folder / "pk_imatinib.toml"), "pk_imatinib.toml"),
        brands=brands,
    )
    _check_sources(knowledge)
    _check_genomics(knowledge)
    _check_combinations(knowledge)
    _check_interactions(knowledge)
    _check_pk(knowledge)
    return knowledge


def _check_brands(brands: dict[str, Brand], ingredients: dict[str, Ingredient]) -> None:
    """A brand names only known ingredients, and never leaves one out among its `others` (no rule would see it)."""
    known = {_fold(name): key for key, ingredient in ingredients.items() for name in ingredient.names}
    for key, brand in brands.items():
        where = f"brands.toml: [{key}]"
        for ingredient in brand.ingredients:
            if ingredient not in ingredients:
                raise KnowledgeError(f"{where}: '{ingredient}' is not an ingredient in ingredients.toml")
        for other in brand.others:
            if _fold(other) in known:
                raise KnowledgeError(f"{where}: '{other}' is ingredients.toml's [{known[_fold(other)]}]: list it "
                                     "under ingredients, or no rule sees it")


def _cite_check(knowledge: Knowledge, ids: list[str], where: str) -> None:
    for source_id in ids:
        if source_id not in knowledge.sources:
            raise KnowledgeError(f"{where}: cites unknown source '{source_id}' (add it to sources.toml)")


def _ingredients_check(knowledge: Knowledge, ids: list[str], where: str) -> None:
    for ingredient in ids:
        if ingredient not in knowledge.ingredients:
            raise KnowledgeError(f"{where}: '{ingredient}' is not an ingredient in ingredients.toml")


def _check_genomics(knowledge: Knowledge) -> None:
    """Every variant row names a known gene, known agents and cancers, and no two rows claim the same variant."""
    genomics = knowledge.genomics
    condition_ids = {group.id for group in knowledge.conditions}
    _cite_check(knowledge, genomics.reading.sources, "variants.toml: [reading]")
    _cite_check(knowledge, genomics.reading.not_actionable_sources, "variants.toml: [reading] not_actionable_sources")
    for symbol, gene in genomics.genes.items():
        _cite_check(knowledge, gene.sources, f"variants.toml: [genes.{symbol}]")
    table = genomics.mutation_table
    _cite_check(knowledge, table.sources, "variants.toml: [mutation_table]")
    _ingredients_check(knowledge, table.tkis, "variants.toml: [mutation_table]")
    ids = {v.id for v in genomics.variants}
    if table.gene not in genomics.genes or not set(table.imatinib_named_for) <= ids:
        raise KnowledgeError("variants.toml: [mutation_table] names a gene or variant row that does not exist")
    for row in genomics.variants:
        if row.gene == table.gene and (row.on_imatinib == "avoid") != (row.id in table.imatinib_named_for):
            raise KnowledgeError(f"variants.toml: {row.id}: on_imatinib = 'avoid' exactly where the table names "
                                 "imatinib ([mutation_table] imatinib_named_for)")
    _cite_check(knowledge, genomics.change_of_therapy.sources, "variants.toml: [change_of_therapy]")
    if genomics.other_genes is not None:
        _cite_check(knowledge, genomics.other_genes.sources, "variants.toml: [other_genes]")
        read = {name for symbol, gene in genomics.genes.items() for name in (symbol, *gene.aliases)}
        if held := sorted(read & set(genomics.other_genes.symbols)):
            raise KnowledgeError(f"variants.toml: [other_genes] lists genes the knowledge base reads: {held}")
    for index, placed in enumerate(genomics.exons):
        _cite_check(knowledge, placed.sources, f"variants.toml: exons[{index}]")
        if placed.gene not in genomics.genes:
            raise KnowledgeError(f"variants.toml: exons[{index}]: gene '{placed.gene}' is not in [genes]")
    seen: set[tuple[str, str | None, int | None]] = set()
    for index, variant in enumerate(genomics.variants):
        where = f"variants.toml: variants[{index}] ({variant.id})"
        _cite_check(knowledge, variant.sources, where)
        if variant.gene not in genomics.genes:
            raise KnowledgeError(f"{where}: gene '{variant.gene}' is not in [genes]")
        _ingredients_check(knowledge, [*variant.avoid, *variant.prefer], where)
        if set(variant.avoid) & set(variant.prefer):
            raise KnowledgeError(f"{where}: an agent is both to avoid and preferred")
        if bool(variant.prefer) != (variant.prefer_status is not None):
            raise KnowledgeError(f"{where}: prefer and prefer_status go together")
        unknown = set(variant.cancers) - condition_ids
        if unknown:
            raise KnowledgeError(f"{where}: unknown cancers {sorted(unknown)} (ids of conditions.toml)")
        key = (variant.gene, variant.protein, None if variant.protein else variant.exon)
        if key in seen:
            covered = variant.protein or variant.exon or "(fallback)"
            raise KnowledgeError(f"{where}: another row already covers {variant.gene} {covered}")
        seen.add(key)
    response = knowledge.response
    _cite_check(knowledge, response.is_result.sources, "response.toml: [is_result]")
    _cite_check(knowledge, response.failure.sources, "response.toml: [failure]")
    _cite_check(knowledge, response.deep_response.sources, "response.toml: [deep_response]")
    months = [m.months for m in response.milestones]
    if months != sorted(set(months)):
        raise KnowledgeError("response.toml: milestones must be in increasing order of months")
    for milestone in response.milestones:
        _cite_check(knowledge, milestone.sources, f"response.toml: milestones[{milestone.months} months]")


# A guide row that says no combination applies must list none (the T315I guide once said so and listed one).
_NO_COMBINATION = re.compile(r"\b(?:do|does) not apply|\bno combination|\bnone of the (?:imatinib )?combinations",
                             re.IGNORECASE)


def _check_combinations(knowledge: Knowledge) -> None:
    """Strategies, guide rows and trials refer only to agents, classes, notes and strategies that exist."""
    combos = knowledge.combinations
    for class_id, agent_class in combos.classes.items():
        _cite_check(knowledge, agent_class.sources, f"combinations.toml: [classes.{class_id}]")
        _ingredients_check(knowledge, agent_class.members, f"combinations.toml: [classes.{class_id}]")
    for note_id, note in combos.monitoring.items():
        _cite_check(knowledge, note.sources, f"combinations.toml: [monitoring.{note_id}]")
    for stage_id, stage in combos.stages.items():
        _cite_check(knowledge, stage.sources, f"combinations.toml: [stages.{stage_id}]")
    for strategy_id, strategy in combos.strategies.items():
        where = f"combinations.toml: [strategies.{strategy_id}]"
        _cite_check(knowledge, [*strategy.sources, *strategy.claim_sources], where)
        _ingredients_check(knowledge, strategy.agents, where)
        known_ids: tuple[tuple[str, Collection[str], str], ...] = (
            *((c, combos.classes.keys(), "class") for c in strategy.classes),
            *((m, combos.monitoring.keys(), "monitoring note") for m in strategy.monitoring),
        )
        for name, known, kind in known_ids:
            if name not in known:
                raise KnowledgeError(f"{where}: unknown {kind} '{name}'")
    for index, row in enumerate(combos.guide):
        where = f"combinations.toml: guide[{index}] ({row.id})"
        _cite_check(knowledge, row.sources, where)
        if row.strategies and _NO_COMBINATION.search(f"{row.summary} {row.advice}"):
            raise KnowledgeError(f"{where}: says no combination applies, yet lists strategies")
        for strategy_id in row.strategies:
            if strategy_id not in combos.strategies:
                raise KnowledgeError(f"{where}: unknown strategy '{strategy_id}'")
    for trial in combos.trials:
        where = f"combinations.toml: trials ({trial.nct})"
        _cite_check(knowledge, [*trial.sources, *trial.population_sources], where)
        _ingredients_check(knowledge, trial.agents or [], where)
        for strategy_id in trial.strategies:
            if strategy_id not in combos.strategies:
                raise KnowledgeError(f"{where}: unknown strategy '{strategy_id}'")
    _cite_check(knowledge, combos.line_of_therapy.sources, "combinations.toml: [line_of_therapy]")
    safety = combos.ibd_with_pd1
    _cite_check(knowledge, safety.sources, "combinations.toml: [ibd_with_pd1]")
    if safety.class_ not in combos.classes:
        raise KnowledgeError(f"combinations.toml: [ibd_with_pd1]: unknown class '{safety.class_}'")
    if safety.condition not in {group.id for group in knowledge.conditions}:
        raise KnowledgeError(f"combinations.toml: [ibd_with_pd1]: unknown condition '{safety.condition}'")


def _cited_ids(value: Any, where: str) -> Iterable[tuple[list[str], str]]:
    """Every `sources` list and `source` id anywhere in a knowledge entry, with where it sits: a field added later is
    checked without anyone listing it here."""
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            field = getattr(value, name)
            if (name == "sources" or name.endswith("_sources")) and isinstance(field, list):
                yield field, f"{where}.{name}"
            elif name == "source" and isinstance(field, str):
                yield [field], f"{where}.{name}"
            else:
                yield from _cited_ids(field, f"{where}.{name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _cited_ids(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _cited_ids(item, f"{where}[{index}]")


def _check_interactions(knowledge: Knowledge) -> None:
    """Every citation resolves, and inhibitors, alternatives and duplicates name only agents the service knows."""
    interactions = knowledge.interactions
    for ids, where in _cited_ids(interactions, "interactions.toml"):
        _cite_check(knowledge, ids, where)
    _ingredients_check(knowledge, list(interactions.inhibitors), "interactions.toml: [inhibitors]")
    if interactions.inhibition.measured not in interactions.inhibitors:
        raise KnowledgeError("interactions.toml: [inhibition].measured is not one of [inhibitors]")
    for set_id, alternatives in interactions.alternatives.items():
        where = f"interactions.toml: [alternatives.{set_id}]"
        for inducer in alternatives.for_:
            if inducer not in knowledge.inducers:
                raise KnowledgeError(f"{where}: '{inducer}' is not an inducer in inducers.toml")
        _ingredients_check(knowledge, [o.agent for o in alternatives.options if o.agent], where)
    _ingredients_check(knowledge, interactions.duplicates.members, "interactions.toml: [duplicates]")
    overlap = set(interactions.inhibitors) & set(knowledge.inducers)
    if overlap:
        raise KnowledgeError(f"interactions.toml: {sorted(overlap)} are both inhibitors and inducers")


def _check_pk(knowledge: Knowledge) -> None:
    """Every PK entry cites known sources; inducer members are known ingredients; candidates are whole tablets."""
    pk = knowledge.pk
    for ids, where in _cited_ids(pk, "pk_imatinib.toml"):
        _cite_check(knowledge, ids, where)
    for key, factor in pk.inducers.items():
        _ingredients_check(knowledge, factor.members, f"pk_imatinib.toml: [inducers.{key}]")
    smallest = min(knowledge.imatinib.dosing.tablet_strengths_mg)
    for dose in (*pk.proposal.once_daily_mg, *pk.proposal.twice_daily_mg):
        if dose <= 0 or dose % smallest:
            raise KnowledgeError(f"pk_imatinib.toml: [proposal]: {dose} mg is not a whole number of tablets")
