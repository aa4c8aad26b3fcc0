"""The full evidence behind each card topic (the `source.topic.code` a card carries), for /evidence/{topic}.

A card keeps what to do, the patient's numbers and one line of why; everything the knowledge base holds for its
topic is here: each fact with its status and sources, and what the service does with it. Every item is read from
the knowledge base at request time, so the page and the card can never disagree about a fact.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from cds_service.gather.trials import study_url
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import Inducer, SourcedText, Strategy
from cds_service.rules.common import EVIDENCE_LEVELS, agent_names, in_words
from cds_service.rules.guide import monitoring_notes


@dataclass(frozen=True, slots=True)
class Cited:
    citation: str
    status: str
    url: str | None


@dataclass(frozen=True, slots=True)
class Item:
    """One fact: what it says, how sure (V / V2 / U / derived) and where it was seen."""

    heading: str
    text: str
    status: str
    sources: tuple[Cited, ...]
    links: tuple[tuple[str, str], ...] = ()  # (label, url)


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    code: str
    title: str
    does: str  # what the service does with this evidence
    sections: tuple[Section, ...]
    related: tuple[tuple[str, str], ...] = field(default=())  # (label, local path)


_STRENGTH = {"V": 0, "V2": 1, "derived": 2, "U": 3}


def _weakest(knowledge: Knowledge, source_ids: list[str]) -> str:
    """A fact is as sure as the least sure source it rests on."""
    return max((knowledge.sources[s].status for s in source_ids), key=_STRENGTH.__getitem__, default="U")


def _cited(knowledge: Knowledge, source_ids: list[str] | tuple[str, ...]) -> tuple[Cited, ...]:
    return tuple(
        Cited(knowledge.sources[s].citation, knowledge.sources[s].status, knowledge.sources[s].url)
        for s in dict.fromkeys(source_ids)
    )


def _item(knowledge: Knowledge, heading: str, text: str, status: str, sources: list[str]) -> Item:
    return Item(heading, text, status, _cited(knowledge, sources))


def _sourced(knowledge: Knowledge, heading: str, entry: SourcedText) -> Item:
    return _item(knowledge, heading, entry.text, entry.status, entry.sources)


def _inducer_items(knowledge: Knowledge, management: str) -> Iterator[Item]:
    for ingredient_id, inducer in knowledge.inducers.items():
        if inducer.management == management:
            yield _inducer_item(knowledge, ingredient_id, inducer)


def _inducer_item(knowledge: Knowledge, ingredient_id: str, inducer: Inducer) -> Item:
    name = knowledge.ingredients[ingredient_id].name
    classes = "; ".join(f"{knowledge.sources[c.source].short}: {c.class_}" for c in inducer.classifications)
    text = f"Acted on as a {inducer.strength} CYP3A inducer. Classified by {classes}."
    if inducer.conflict:
        text += f" Sources differ: {inducer.conflict}"
    sources = [c.source for c in inducer.classifications]
    status: str
    if inducer.effect:
        text += f" Measured with imatinib: {inducer.effect.text}"
        sources += inducer.effect.sources
        status = inducer.effect.status
    else:
        text += " No imatinib-specific measurement; the class effect is expected."
        status = _weakest(knowledge, sources)
    return _item(knowledge, name, text, status, sources)


def _brand_items(knowledge: Knowledge, members: set[str]) -> tuple[Item, ...]:
    """The brands of several ingredients that contain one of `members`: a card names such a brand's ingredients,
    and this is where its label is cited."""
    items = []
    for brand in knowledge.brands.values():
        if members.intersection(brand.ingredients):
            text = (f"Read as {in_words([knowledge.ingredients[i].name for i in brand.ingredients])} when it is the "
                    "only name on the order")
            text += f"; its other active ingredients: {in_words(brand.others)}." if brand.others else "."
            items.append(_item(knowledge, brand.name, text, _weakest(knowledge, brand.sources), brand.sources))
    return tuple(items)


def _brand_section(knowledge: Knowledge, members: set[str]) -> tuple[Section, ...]:
    items = _brand_items(knowledge, members)
    return (Section("Brands of several ingredients", items),) if items else ()


def _percent(fraction: float) -> str:
    return f"{round(fraction * 100)} %"


def _alternative_items(knowledge: Knowledge, management: str) -> list[Item]:
    """What each source says of the alternatives to the inducers of one management kind, and who decides."""
    wanted = {i for i, inducer in knowledge.inducers.items() if inducer.management == management}
    items = []
    for alternatives in knowledge.interactions.alternatives.values():
        covered = [i for i in alternatives.for_ if i in wanted]
        if not covered:
            continue
        names = ", ".join(knowledge.ingredients[i].name for i in covered)
        for option in alternatives.options:
            items.append(_item(knowledge, f"{option.name}, for {names} ({alternatives.indication})", option.text,
                               option.status, option.sources))
        items.append(_item(knowledge, f"Who decides, for {names}", alternatives.to_decide, alternatives.status,
                           alternatives.sources))
    return items


def _pk_items(knowledge: Knowledge) -> list[Item]:
    """The population PK model's clearance factor per inducer, and how it was derived."""
    items = []
    for factor in knowledge.pk.inducers.values():
        who = agent_names(knowledge, factor.members) if factor.members else "any other strong inducer (borrowed)"
        items.append(_item(knowledge, f"Clearance x{factor.clearance_factor:g}: {who}", factor.derivation,
                           factor.status, factor.sources))
    return items


def _dosing_items(knowledge: Knowledge) -> list[Item]:
    dosing = knowledge.imatinib.dosing
    unconfirmed = dosing.unconfirmed_max_daily_mg_with_inducer
    return [
        _item(knowledge, "Dose increase", f"At least {_percent(dosing.inducer_increase_fraction)} more imatinib, "
              f"in whole tablets of {' or '.join(str(s) for s in dosing.tablet_strengths_mg)} mg.",
              dosing.inducer_increase_status, [*dosing.inducer_increase_sources, *dosing.tablet_strengths_sources]),
        _item(knowledge, "Highest dose suggested", f"{dosing.max_daily_mg_with_inducer} mg/day; from "
              f"{dosing.twice_daily_from_mg} mg/day the dose is split twice daily.", dosing.max_daily_status,
              [*dosing.max_daily_sources, *dosing.twice_daily_sources]),
        Item("A higher dose some sources name", unconfirmed.text, unconfirmed.status, ()),
        _item(knowledge, "Why a dose increase alone is not enough", dosing.exposure_note,
              dosing.exposure_note_status, dosing.exposure_note_sources),
    ]


def _tdm_items(knowledge: Knowledge) -> list[Item]:
    tdm = knowledge.imatinib.tdm
    items = [
        _item(knowledge, f"Trough target, {t.indication.upper()}", f"At least {t.min_ng_ml:g} ng/mL.", t.status,
              t.sources)
        for t in tdm.targets
    ]
    items.append(_item(knowledge, "Sampling", tdm.sampling, _weakest(knowledge, tdm.sampling_sources),
                       tdm.sampling_sources))
    items.append(Item("When to draw it", f"Draw it {tdm.days_until_trough_text}", tdm.days_until_trough_status, ()))
    items.append(_item(knowledge, "Upper watch level", f"Watch closely above {tdm.watch_above_ng_ml:g} ng/mL.",
                       _weakest(knowledge, tdm.watch_above_sources), tdm.watch_above_sources))
    items.extend(
        _item(knowledge, f"Level code {c.code}", c.text, c.status, c.sources) for c in tdm.level_codes
    )
    return items


def _paediatric_items(knowledge: Knowledge) -> list[Item]:
    """A child's limit, and why an inducer's increase stays inside it (what a child's card says briefly)."""
    paediatric = knowledge.imatinib.paediatric
    return [
        _item(knowledge, "The dose in children", f"Under {paediatric.adult_from_years}: "
              f"{paediatric.dose_mg_per_m2:g} mg/m²/day by body-surface area, never above "
              f"{paediatric.max_daily_mg} mg/day. A dose being ordered is checked against that dose itself (the "
              f"{min(knowledge.imatinib.dosing.tablet_strengths_mg)} mg tablet is scored); an increase the service "
              "suggests is in whole tablets.", paediatric.status, paediatric.sources),
        _item(knowledge, "Body-surface area", "Mosteller: the square root of height (cm) x weight (kg) / 3600, "
              "in m².", paediatric.bsa_status, paediatric.bsa_sources),
        _item(knowledge, "How recent the weight and height must be", f"A weight of the last "
              f"{paediatric.max_weight_age_days} days and a height of the last {paediatric.max_height_age_days} "
              "days (children grow); without them no dose is computed. Service policy, not from a source.",
              paediatric.freshness_status, paediatric.freshness_sources),
        Item("With an inducer", f"{paediatric.inducer_note} Any increase stays within the child's limit.", "U", ()),
    ]


def _strong_inducer(knowledge: Knowledge) -> Topic:
    dosing = knowledge.imatinib.dosing
    return Topic(
        "imatinib-strong-cyp3a4-inducer", "Imatinib with a strong CYP3A4 inducer",
        "When imatinib meets a strong CYP3A4 inducer (one of them ordered now), the service shows a warning "
        "(critical when the last trough level is below target) that says to avoid the combination and names the "
        "alternatives a source gives, shows the troughs the population PK model predicts with the inducer, suggests an "
        f"update of the imatinib draft to at least {_percent(dosing.inducer_increase_fraction)} more in whole tablets, "
        f"never above {dosing.max_daily_mg_with_inducer} mg/day, and a trough-level order with the target for the "
        "patient's indication.",
        (Section("The inducers", tuple(_inducer_items(knowledge, "dose-increase"))),
         *_brand_section(knowledge, {i for i, x in knowledge.inducers.items() if x.management == "dose-increase"}),
         Section("Alternatives a source names", tuple(_alternative_items(knowledge, "dose-increase"))),
         Section("The dose", tuple(_dosing_items(knowledge))),
         Section("Children", tuple(_paediatric_items(knowledge))),
         Section("Predicted exposure: the population PK model's inducer factors", tuple(_pk_items(knowledge))),
         Section("The trough level", tuple(_tdm_items(knowledge))),
         Section("The response (CML)", (_sourced(knowledge, "A failure milestone", knowledge.response.failure),))),
    )


def _st_johns_wort(knowledge: Knowledge) -> Topic:
    return Topic(
        "imatinib-st-johns-wort", "Imatinib with St John's wort",
        "St John's wort is never necessary, so the card says to stop it (the imatinib product information names it "
        "among the inducers to avoid) and suggests removing a draft order for it; it never raises the imatinib dose.",
        (Section("St John's wort", tuple(_inducer_items(knowledge, "stop"))),
         Section("Instead of it", tuple(_alternative_items(knowledge, "stop")))),
    )


def _moderate_inducer(knowledge: Knowledge) -> Topic:
    return Topic(
        "imatinib-moderate-cyp3a4-inducer", "Imatinib with a moderate CYP3A4 inducer",
        "A moderate inducer gets an info card (a warning when the last trough level is below target) and a "
        "trough-level order; no dose change is suggested.",
        (Section("The inducers", tuple(_inducer_items(knowledge, "monitor"))),
         *_brand_section(knowledge, {i for i, x in knowledge.inducers.items() if x.management == "monitor"}),
         Section("Alternatives a source names", tuple(_alternative_items(knowledge, "monitor"))),
         Section("The trough level", tuple(_tdm_items(knowledge)))),
    )


_INHIBITOR_DOES = {
    "strong": "When imatinib meets a strong CYP3A4 inhibitor, the service shows a warning with the one measured "
              "figure, the toxicities to watch and the monitoring to do; it suggests no dose change, because no "
              "source gives one.",
    "moderate": "A moderate CYP3A4 inhibitor gets an info card quoting the one measured figure (a strong "
                "inhibitor's) and no dose change.",
}


def _inhibitor(knowledge: Knowledge, strength: str) -> Topic:
    inhibition = knowledge.interactions.inhibition
    inhibitors = []
    for ingredient_id, inhibitor in knowledge.inhibitors.items():
        if inhibitor.strength != strength:
            continue
        sources = [c.source for c in inhibitor.classifications]
        text = f"Classified {strength} by " + "; ".join(
            knowledge.sources[c.source].short for c in inhibitor.classifications)
        status = _weakest(knowledge, sources)
        if inhibitor.effect:
            text += f". Measured with imatinib: {inhibitor.effect.text}"
            sources += inhibitor.effect.sources
            status = inhibitor.effect.status
        inhibitors.append(_item(knowledge, knowledge.ingredients[ingredient_id].name, text, status, sources))
    measured = knowledge.inhibitors.get(inhibition.measured)
    figure: tuple[Item, ...] = ()
    if strength != "strong" and measured is not None and measured.effect is not None:
        figure = (_item(knowledge, f"The measured figure ({knowledge.ingredients[inhibition.measured].name})",
                        measured.effect.text, measured.effect.status, measured.effect.sources),)
    return Topic(
        f"imatinib-{strength}-cyp3a4-inhibitor", f"Imatinib with a {strength} CYP3A4 inhibitor",
        _INHIBITOR_DOES[strength],
        (Section("What to watch", (*figure,
                                   _sourced(knowledge, "Toxicities", inhibition.toxicities),
                                   _sourced(knowledge, "Monitoring", inhibition.monitoring),
                                   _sourced(knowledge, "Management", inhibition.management),
                                   _sourced(knowledge, "Grapefruit", inhibition.grapefruit))),
         Section("The inhibitors", tuple(inhibitors)),
         *_brand_section(knowledge, {i for i, x in knowledge.inhibitors.items() if x.strength == strength})),
    )


_CONCERN_DOES = {
    "avoid": "Imatinib is not expected to work against this variant: a critical card (for T315I and D842V) or a "
             "warning, naming the agents the table prefers and suggesting removal of the imatinib draft; never a "
             "dose for an alternative.",
    "caution": "The source lists TKIs to avoid against this variant but says nothing of imatinib: a warning with "
               "the TKIs to avoid and those it lists no concern for.",
    "note": "An unconfirmed note for imatinib (status U): an info card that says so; no dose change is suggested.",
}


def _variant_topic(knowledge: Knowledge, concern: str) -> Topic:
    items = []
    for meaning in knowledge.genomics.variants:
        # As the card decides: imatinib's own concern, and "avoid" for another TKI the variant lists.
        if meaning.on_imatinib != concern and not (concern == "avoid" and meaning.avoid):
            continue
        text = meaning.note
        if meaning.avoid:
            text += f" TKIs to avoid: {agent_names(knowledge, meaning.avoid)}."
        if meaning.prefer:
            kind = "lists no concern for" if meaning.prefer_status == "derived" else "prefers"
            text += f" The table {kind} {agent_names(knowledge, meaning.prefer)} (status {meaning.prefer_status})."
        label = meaning.gene + (f" {meaning.protein}" if meaning.protein else "") + (
            f" exon {meaning.exon}" if meaning.exon else "")
        items.append(_item(knowledge, label, text, meaning.status, meaning.sources))
    sections = [Section("The variants and what they mean", tuple(items))]
    if concern in ("avoid", "caution"):
        sections.append(Section("BCR-ABL1 kinase-domain mutations", _kinase_domain_items(knowledge)))
    return Topic(f"tki-variant-{concern}", "A TKI against a variant on record", _CONCERN_DOES[concern],
                 tuple(sections))


def _strategy_items(knowledge: Knowledge, strategy: Strategy) -> list[Item]:
    items = [_item(knowledge, "Evidence", f"{EVIDENCE_LEVELS[strategy.evidence_level]}. {strategy.evidence}",
                   strategy.status, strategy.sources)]
    if strategy.claim:
        items.append(_item(knowledge, "The review's claim", strategy.claim, "U", strategy.claim_sources))
    return items


def _trial_items(knowledge: Knowledge, strategy_ids: list[str]) -> list[Item]:
    return [
        Item(f"{t.nct}" + (f" ({t.name})" if t.name else ""),
             t.summary + (f" Registry status: {t.registry_status}." if t.registry_status else "")
             + f" Enrolled: {t.population} (status {t.population_status}); its evidence counts only for a patient "
             "this population fits.",
             t.status, _cited(knowledge, [*t.sources, *t.population_sources]),
             ((f"{t.nct} on ClinicalTrials.gov", study_url(t.nct)),))
        for t in knowledge.combinations.trials if set(t.strategies) & set(strategy_ids)
    ]


def _monitoring_items(knowledge: Knowledge, strategy_ids: list[str], cancer: str | None) -> list[Item]:
    return [_item(knowledge, "To prepare for" if n.kind == "toxicity" else "To check", n.text, n.status, n.sources)
            for n in monitoring_notes(strategy_ids, cancer, knowledge)]


def _guide_topic(knowledge: Knowledge, row_id: str) -> Topic | None:
    row = next((r for r in knowledge.combinations.guide if r.id == row_id and not r.quiet), None)
    if row is None:
        return None
    sections = [Section("The guide's advice", (_item(knowledge, row.summary, row.advice, row.status, row.sources),))]
    for strategy_id in row.strategies:
        strategy = knowledge.combinations.strategies[strategy_id]
        sections.append(Section(f"Strategy: {strategy.label}", tuple(_strategy_items(knowledge, strategy))))
    if trials := _trial_items(knowledge, row.strategies):
        sections.append(Section("Registered trials of these strategies", tuple(trials)))
    if monitoring := _monitoring_items(knowledge, row.strategies, row.cancer):
        sections.append(Section("Monitoring plan (the review's checklist)", tuple(monitoring)))
    return Topic(
        f"decision-guide-{row.id}", f"Decision guide: {row.summary}",
        "The decision-guide card answers the review's four questions from the record (cancer and phase from "
        "Conditions, mutation status from variant results, prior therapy from medication history and, in CML, the "
        "BCR-ABL1 response); the first matching row gives the advice. It shows only when imatinib is being ordered "
        "and the row has something to add. Registered trials are matched to the same answers.",
        tuple(sections), (("Open the decision guide", f"/guide?cancer={row.cancer}"),),
    )


def _combination_topic(knowledge: Knowledge, strategy_id: str) -> Topic | None:
    strategy = knowledge.combinations.strategies.get(strategy_id)
    if strategy is None or strategy_id not in knowledge.strategy_agents:
        return None
    sections = [Section("The evidence for the pairing", tuple(_strategy_items(knowledge, strategy)))]
    if trials := _trial_items(knowledge, [strategy_id]):
        sections.append(Section("Registered trials", tuple(trials)))
    if monitoring := _monitoring_items(knowledge, [strategy_id], None):
        sections.append(Section("Monitoring plan (the review's checklist)", tuple(monitoring)))
    return Topic(
        f"combination-{strategy_id}", f"Imatinib combination: {strategy.label}",
        "When imatinib and an agent of this strategy meet (one of them ordered now), an info card gives the "
        "monitoring plan and how strong the evidence for the pairing is. Monitoring notes for another cancer are "
        "left out on the card.",
        tuple(sections),
    )


def _pd1_ibd(knowledge: Knowledge) -> Topic:
    note = knowledge.combinations.ibd_with_pd1
    return Topic(
        "pd-1-inhibitor-ibd", "A PD-1 inhibitor with inflammatory bowel disease",
        "A PD-1 inhibitor ordered for a patient with inflammatory bowel disease on record gets a warning with the "
        "measured risk.",
        (Section("The risk", (_item(knowledge, "Gastrointestinal adverse events", note.text, note.status,
                                    note.sources),)),
         *(Section("How inflammatory bowel disease is recognised", (
             _item(knowledge, "Codes and names", "SNOMED CT, ICD-10-CM and ICD-10 K50/K51 codes, else its name in "
                   "the condition's text; an inactive or resolved IBD still counts, a refuted one never.",
                   group.status, [*group.sources, *group.history_sources]),
         )) for group in knowledge.conditions if group.id == note.condition)),
    )


def _inducer_stopped(knowledge: Knowledge) -> Topic:
    de = knowledge.interactions.de_induction
    return Topic(
        "imatinib-inducer-stopped", "Imatinib after a CYP3A4 inducer was stopped",
        "When a strong inducer has stopped while the imatinib dose is still the one raised for it, exposure rises as "
        "induction wears off: the card gives the dose before the inducer (from the history), the day to step back "
        "to it, and a trough-level order; the step back is offered once it is due.",
        (Section("Induction wearing off", (
            _item(knowledge, "Back to baseline", f"CYP3A activity is back to baseline about {de.baseline_after_days} "
                  "days after rifampicin is stopped.", de.baseline_status, de.baseline_sources),
            _item(knowledge, "When to step back", f"Keep the adjusted dose about {de.keep_adjusted_days} days after "
                  "stopping an inducer, then step back.", de.keep_adjusted_status, de.keep_adjusted_sources),
            _item(knowledge, "How far back the record is read", f"An inducer that ended up to {de.lookback_days} days "
                  "ago is looked for (twice the period above); one that ended longer ago counts only when "
                  "imatinib was raised while it ran and no imatinib dose has been recorded since (the raise was "
                  "never stepped back).",
                  de.lookback_status, de.lookback_sources),
            _item(knowledge, "The trough level", de.trough_note, de.trough_note_status, de.trough_note_sources),
        )), Section("The inducers", tuple(_inducer_items(knowledge, "dose-increase")))),
    )


def _duplicates(knowledge: Knowledge) -> Topic:
    dup = knowledge.interactions.duplicates
    return Topic(
        "duplicate-bcr-abl1-inhibitors", "Two BCR-ABL1 inhibitors at once",
        "Imatinib with another BCR-ABL1 inhibitor, one of them ordered now, is most often a switch half done: the "
        "card asks, offers to remove the imatinib draft (or says to stop the active imatinib order), and says whether "
        "the pairing is a studied combination (the combination strategies below).",
        (Section("The other BCR-ABL1 inhibitors", (
            _item(knowledge, dup.label, f"{agent_names(knowledge, dup.members)}: each {dup.direction}.", dup.status,
                  dup.sources),)),
         Section("Studied pairings", tuple(_strategy_items(knowledge, knowledge.combinations.strategies["dual-tki"]))
                 if "dual-tki" in knowledge.combinations.strategies else ())),
    )


def _dose_check(knowledge: Knowledge) -> Topic:
    dosing = knowledge.imatinib.dosing
    labelled, plausible = dosing.labelled_daily_mg, dosing.plausible_daily_mg
    return Topic(
        "imatinib-dose-check", "The imatinib dose being ordered",
        "Without an inducer (whose card reads the dose itself), the imatinib dose being ordered is checked on its "
        "own: a dose outside any a source gives, or written per kg, is an order to check; one outside the label's "
        "daily doses is flagged; a child's dose is held against 340 mg/m²/day by body-surface area and 600 mg/day; a "
        "dose that cannot be read is said to be unchecked.",
        (Section("Adults", (
            _item(knowledge, "Labelled daily doses", labelled.text, labelled.status, labelled.sources),
            _item(knowledge, "Any dose a source gives", f"{plausible.text}; outside it, the order is to be checked.",
                  plausible.status, plausible.sources))),
         Section("Children", tuple(_paediatric_items(knowledge)[:3]))),
    )


def _tdm(knowledge: Knowledge) -> Topic:
    pk = knowledge.pk
    model = _item(knowledge, f"Population PK model {pk.model_id} (version {pk.version})",
                  "One-compartment model with first-order absorption; the level is fitted (MAP) against the dose "
                  "history, so a sample drawn hours after a dose is not read as a trough.", pk.status, pk.sources)
    failure = knowledge.response.failure
    return Topic(
        "imatinib-tdm", "Imatinib level against the trough target (population PK)",
        "When the latest imatinib level, fitted with the population PK model, gives an individual steady-state "
        "trough below the target, the card says what the level means, gives the model's proposal with its predicted "
        "trough and every candidate regimen, and the BCR-ABL1 response beside the exposure; a failure milestone "
        "calls for changing the TKI rather than only raising the dose. A level the model cannot explain (more than a "
        "factor 2 from its fitted curve, or a trough below the target that the fit puts at or above it) is said as "
        "measured, with no dose from the model; a level above the watch level is said to be watched closely.",
        (Section("The model", (model,)),
         Section("The trough level", tuple(_tdm_items(knowledge))),
         Section("The response", (_sourced(knowledge, "A failure milestone", failure),))),
    )


def _coverage(knowledge: Knowledge) -> Topic:
    return Topic(
        "imatinib-check-incomplete", "Imatinib check incomplete: data not available",
        "When data a check needs could not be had (not prefetched and not fetched, or answered with an error), the "
        "service says which check could not be made, rather than staying silent. This card makes no clinical claim.",
        (),
    )


def _gene_unclear(knowledge: Knowledge) -> Topic:
    reading, other = knowledge.genomics.reading, knowledge.genomics.other_genes
    items = [_item(knowledge, "Variant results in FHIR", "Genomics Reporting IG and mCODE variants, coded HGVS values "
                   "and text; a gene named in the result wins over the genes in the test's name.", reading.status,
                   reading.sources)]
    if other is not None:
        items.append(_item(knowledge, "Genes the knowledge base does not hold", "A change after such a gene's symbol "
                           "is that gene's, not the gene of the test's name: a symbol with a digit (JAK2, TP53) by its "
                           f"shape, one without only when listed: {', '.join(other.symbols)}.", other.status,
                           other.sources))
    return Topic(
        "tki-variant-gene-unclear", "A variant on record without its gene",
        "A result that gives a protein change or exon without its gene, under a test whose name lists several genes "
        "(or none at all), is never read as any gene's: when one of its possible readings would concern the TKI "
        "being ordered, a warning says the gene is not clear and what each reading would mean, with no suggestion.",
        (Section("How variant results are read", tuple(items)),),
    )


def _exon_unknown(knowledge: Knowledge) -> Topic:
    index = knowledge.variants
    genes = sorted({gene for gene, _ in index.by_exon})
    placed = [_item(knowledge, f"{row.gene} exon {row.exon}", ", ".join(row.proteins), row.status, row.sources)
              for row in knowledge.genomics.exons]
    rows = [_item(knowledge, f"{row.gene} exon {row.exon}", row.note, row.status, row.sources)
            for gene in genes for row in index.exon_rows(gene)]
    return Topic(
        "tki-variant-exon-unknown", "A variant on record without its exon",
        f"The advice for {', '.join(genes)} goes by exon. A variant reported without its exon, in a change no source "
        "table below places, gets no exon's advice and the exon is never guessed: when imatinib is being ordered "
        "and one of the exons would concern it, a card says the exon is not known, what each exon would mean, and "
        "to check the laboratory report for it; it suggests no change.",
        (Section("Changes the sources place in an exon", tuple(placed)), Section("What each exon means", tuple(rows))),
    )


def _uncertain(knowledge: Knowledge) -> Topic:
    reading = knowledge.genomics.reading
    items = (
        _item(knowledge, "What the laboratory's classification means", "Tier III: variants of unknown clinical "
              "significance; tier IV: benign or likely benign. The service reads either as no indication to change "
              "therapy by itself (derived).", "V", reading.not_actionable_sources),
        _item(knowledge, "The words read as that classification", ", ".join(reading.not_actionable_terms) + " (in a "
              "53037-8 clinical-significance component, or in the clause of the result that names the change; only "
              "for a result reporting one change, never from a disclaimer elsewhere in the report).", "derived",
              reading.not_actionable_sources),
    )
    return Topic(
        "tki-variant-uncertain", "A variant of uncertain significance on record",
        "A variant the laboratory classed as of uncertain or no clinical significance, in a change the mutation table "
        "does not name, is not read as a resistance mutation: with a TKI being ordered, an info card names it and its "
        "classification and suggests no change. A change the table names (T315I) keeps the table's reading.",
        (Section("How the classification is read", items),),
    )


def _kinase_domain_items(knowledge: Knowledge) -> tuple[Item, ...]:
    table, change = knowledge.genomics.mutation_table, knowledge.genomics.change_of_therapy
    return (
        _item(knowledge, "What the NCCN table covers", f"Mutations to avoid for {agent_names(knowledge, table.tkis)};"
              " imatinib is named only where a row says it does not work.", table.status, table.sources),
        _item(knowledge, "A positive kinase-domain result", change.text, change.status, change.sources),
    )


_FIXED: dict[str, Callable[[Knowledge], Topic]] = {
    "tki-variant-gene-unclear": _gene_unclear,
    "tki-variant-exon-unknown": _exon_unknown,
    "tki-variant-uncertain": _uncertain,
    "imatinib-strong-cyp3a4-inducer": _strong_inducer,
    "imatinib-st-johns-wort": _st_johns_wort,
    "imatinib-moderate-cyp3a4-inducer": _moderate_inducer,
    "imatinib-strong-cyp3a4-inhibitor": lambda knowledge: _inhibitor(knowledge, "strong"),
    "imatinib-moderate-cyp3a4-inhibitor": lambda knowledge: _inhibitor(knowledge, "moderate"),
    "pd-1-inhibitor-ibd": _pd1_ibd,
    "imatinib-check-incomplete": _coverage,
    "imatinib-inducer-stopped": _inducer_stopped,
    "duplicate-bcr-abl1-inhibitors": _duplicates,
    "imatinib-tdm": _tdm,
    "imatinib-dose-check": _dose_check,
}


def topic(code: str, knowledge: Knowledge) -> Topic | None:
    """The evidence page for a card topic, or None for a topic no card carries."""
    if code in _FIXED:
        return _FIXED[code](knowledge)
    if code.startswith("tki-variant-") and code.removeprefix("tki-variant-") in _CONCERN_DOES:
        return _variant_topic(knowledge, code.removeprefix("tki-variant-"))
    if code.startswith("decision-guide-"):
        return _guide_topic(knowledge, code.removeprefix("decision-guide-"))
    if code.startswith("combination-"):
        return _combination_topic(knowledge, code.removeprefix("combination-"))
    return None


@lru_cache(maxsize=8)  # per knowledge base: the engine asks for every card
def topic_codes(knowledge: Knowledge) -> tuple[str, ...]:
    """Every topic a card can carry, for the index page and the cards' evidence links."""
    return (
        *_FIXED,
        *(f"tki-variant-{c}" for c in _CONCERN_DOES),
        *(f"decision-guide-{r.id}" for r in knowledge.combinations.guide if not r.quiet),
        *(f"combination-{s}" for s in knowledge.strategy_agents),
    )
