"""A TKI ordered (or imatinib taken) against a variant that the variant table says it should not meet.

Imatinib with BCR-ABL1 T315I or PDGFRA D842V: imatinib is not expected to work (critical). Another TKI the table
lists against a variant (dasatinib with F317L, nilotinib with Y253H, ...): the same kind of card. Imatinib with a
kinase-domain mutation the table says nothing of imatinib about: a warning; with an unconfirmed note (KIT exon 9):
an info card that says it is unconfirmed. The card names the result it read, its date and how it was read; it
suggests removing the draft and names the agents the table prefers, never with a dose.
"""

from dataclasses import dataclass
from typing import Literal

from cds_service.facts import PatientFacts
from cds_service.facts.genomics import (
    UnattributedChange,
    VariantFinding,
    actionable_variants,
    classed_not_actionable,
    detected_variants,
    later_negative,
    parse_protein_change,
)
from cds_service.facts.medications import MedicationUse
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import VariantMeaning
from cds_service.protocol.cards import Action, Card, Indicator, Suggestion, escape_markdown
from cds_service.rules.common import (
    agent_names,
    card_source,
    evidence_pointer,
    finding_source,
    fit_summary,
    footer,
    imatinib_drafts,
    origin_phrase,
    override,
    section,
)

Concern = Literal["avoid", "caution", "note"]
_RANK: dict[Concern, int] = {"note": 0, "caution": 1, "avoid": 2}
# The data these cards read: named on the card when it could not be had.
CONSULTED = ("medicationStatements", "conditions", "labResults", "genomicVariants")


@dataclass(frozen=True, slots=True)
class VariantConcern:
    finding: VariantFinding
    meaning: VariantMeaning
    concern: Concern


@dataclass(frozen=True, slots=True)
class TkiAgainstVariants:
    """One TKI use (being ordered, or imatinib already taken) and the variants on record that concern it."""

    use: MedicationUse
    ingredient: str
    concerns: tuple[VariantConcern, ...]

    @property
    def concern(self) -> Concern:
        return max((c.concern for c in self.concerns), key=_RANK.__getitem__)

    @property
    def is_draft(self) -> bool:
        return self.use.origin == "draft" and self.use.under_decision


def patient_cancers(facts: PatientFacts, knowledge: Knowledge) -> set[str]:
    return {d.id for d in facts.diagnoses} & knowledge.variants.cancers


def applies(meaning: VariantMeaning, facts: PatientFacts, knowledge: Knowledge) -> bool:
    """A row applies to the patient's cancer, or to anyone when the record names no cancer."""
    cancers = patient_cancers(facts, knowledge)
    return not cancers or bool(cancers & set(meaning.cancers))


def _concern(ingredient: str, meaning: VariantMeaning) -> Concern | None:
    if ingredient == "imatinib":
        return None if meaning.on_imatinib == "none" else meaning.on_imatinib
    return "avoid" if ingredient in meaning.avoid else None


def _tki_uses(facts: PatientFacts, knowledge: Knowledge) -> list[tuple[MedicationUse, str]]:
    """TKIs being ordered now, and imatinib the patient already takes."""
    uses = []
    for use in facts.medications:
        for ingredient in sorted(use.ingredients):
            role = knowledge.ingredients[ingredient].role
            if role not in ("imatinib", "tki"):
                continue
            if (use.origin == "draft" and use.under_decision) or (role == "imatinib" and use.origin != "draft"):
                uses.append((use, ingredient))
    return uses


def find_concerns(facts: PatientFacts, knowledge: Knowledge) -> list[TkiAgainstVariants]:
    variants = [
        (finding, meaning)
        for finding in actionable_variants(facts.genomic_findings, knowledge.variants)
        if (meaning := knowledge.variants.meaning(finding.gene, finding.protein, finding.exon)) is not None
        and applies(meaning, facts, knowledge)
    ]
    if not variants:
        return []
    found = []
    seen: set[str] = set()
    for use, ingredient in _tki_uses(facts, knowledge):  # drafts come first: one card per drug, on the draft
        concerns = tuple(
            VariantConcern(finding, meaning, concern)
            for finding, meaning in variants
            if (concern := _concern(ingredient, meaning)) is not None
            # Imatinib already taken: only "not expected to work" is worth a card while something else is ordered.
            and (use.origin == "draft" or concern == "avoid")
        )
        if concerns and ingredient not in seen:
            seen.add(ingredient)
            found.append(TkiAgainstVariants(use, ingredient, concerns))
    return found


def _meaning_lines(item: TkiAgainstVariants, facts: PatientFacts, knowledge: Knowledge) -> list[str]:
    lines = []
    for concern in item.concerns:
        finding, meaning = concern.finding, concern.meaning
        lines.append(f"- **{escape_markdown(finding.name)}**: {finding_source(finding)}")
        if (negative := _later_negative_line(finding, facts)) is not None:
            lines.append(negative)
        lines.append(f"  - {meaning.note} (status {meaning.status})")
        avoid = ["imatinib"] * (meaning.on_imatinib == "avoid") + meaning.avoid
        if avoid:
            lines.append(f"  - Not expected to work against it: {agent_names(knowledge, avoid)}.")
        if item.ingredient == "imatinib" and (scope := _imatinib_in_table(meaning, finding, knowledge)):
            lines.append(f"  - {scope}")
        if meaning.prefer:
            agents = agent_names(knowledge, meaning.prefer)
            if meaning.prefer_status == "derived":
                lines.append(f"  - TKIs the NCCN table lists no concern for: {agents} (derived from its avoid lists).")
            else:
                lines.append(f"  - Preferred: {agents} (status {meaning.prefer_status}).")
        if not patient_cancers(facts, knowledge):
            lines.append(f"  - The record names no indication; this applies to {', '.join(meaning.cancers)}.")
    return lines


def _later_negative_line(finding: VariantFinding, facts: PatientFacts) -> str | None:
    """A newer result reporting the variant absent does not undo it: said, and the finding still counts."""
    negative = later_negative(finding, facts.genomic_findings)
    if negative is None:
        return None
    return (f"  - A later result, {negative.observation or 'without id'} ({negative.date}), reports it not detected; "
            "a resistant clone below detection can return, so the earlier finding still counts.")


def _imatinib_in_table(meaning: VariantMeaning, finding: VariantFinding, knowledge: Knowledge) -> str | None:
    """What the mutation table says of imatinib against this variant: no more than it says."""
    table = knowledge.genomics.mutation_table
    if meaning.gene != table.gene:
        return None
    if meaning.id in table.imatinib_named_for:
        return (f"Imatinib itself is not an option against {escape_markdown(finding.short or finding.name)}: the NCCN "
                f"table names it among the TKIs that do not work (status {table.status}).")
    named = [knowledge.variants_by_id[i] for i in table.imatinib_named_for]
    changes = [parse_protein_change(v.protein) for v in named if v.protein]
    against = ", ".join(change.short for change in changes if change is not None)
    listed = meaning.protein is not None
    return (
        f"The NCCN table lists mutations to avoid for {agent_names(knowledge, table.tkis)} and names imatinib only "
        f"against {against}: it neither rules imatinib out nor supports it against "
        f"{'this variant' if not listed else escape_markdown(finding.short or finding.name)} (status {table.status})."
    )


def _changes_therapy(item: TkiAgainstVariants, knowledge: Knowledge) -> bool:
    """A kinase-domain mutation on record: the ELN panel calls a positive result an indication to change therapy."""
    categories = knowledge.genomics.change_of_therapy.categories
    return any(c.meaning.category in categories for c in item.concerns)


def _summary(item: TkiAgainstVariants, knowledge: Knowledge) -> str:
    drug = knowledge.ingredients[item.ingredient].name.capitalize()
    names = ", ".join(c.finding.name for c in item.concerns)
    if item.concern == "avoid":
        return fit_summary(f"{drug} is not expected to work: {names} on record")
    if item.concern == "caution" and _changes_therapy(item, knowledge):
        what = f"{drug.lower()} order" if item.is_draft else f"current {drug.lower()}"
        return fit_summary(f"{names} on record: a kinase-domain mutation is an indication to change therapy (ELN); "
                           f"review the {what}")
    if item.concern == "caution":
        return fit_summary(f"{names} on record: check the TKI choice against the mutation table before {drug.lower()}")
    return fit_summary(f"{names} on record: an unconfirmed note on {drug.lower()} (status U)")


def _what_to_do(item: TkiAgainstVariants, knowledge: Knowledge) -> str:
    drug = knowledge.ingredients[item.ingredient].name
    if item.concern == "note":
        return "No change is suggested: the note is not confirmed. Decide with the treating specialist."
    if item.is_draft:
        step = f"Remove the {drug} order and choose the TKI with the treating specialist"
    else:
        step = f"Review the current {drug} therapy with the treating specialist"
    text = step + ". No dose is suggested for an alternative."
    if _changes_therapy(item, knowledge):
        change = knowledge.genomics.change_of_therapy
        text = f"{change.text} (ELN expert panel, status {change.status})\n\n{text}"
    return text


def variant_card(item: TkiAgainstVariants, facts: PatientFacts, knowledge: Knowledge) -> Card:
    drug = knowledge.ingredients[item.ingredient].name
    cited: dict[str, str] = {}
    for concern in item.concerns:
        for source in concern.meaning.sources:
            cited.setdefault(source, f"what {concern.finding.name} means")
    if _changes_therapy(item, knowledge):
        for source in knowledge.genomics.change_of_therapy.sources:
            cited.setdefault(source, "a kinase-domain mutation as an indication to change therapy")
    for source in knowledge.genomics.reading.sources:
        cited.setdefault(source, "how variant results are read")
    # A finding read from a value that says neither Present nor Absent is a warning to confirm, never critical, and
    # no order is removed on it alone.
    confirmed = [c for c in item.concerns if c.finding.unclear_value is None]
    critical = any(c.concern == "avoid" and c.meaning.critical for c in confirmed)
    by_concern: dict[str, Indicator] = {"avoid": "warning", "caution": "warning", "note": "info"}
    indicator: Indicator = "critical" if critical else by_concern[item.concern]
    suggestions = []
    if item.is_draft and item.use.reference and item.concern != "note" and confirmed:
        suggestions.append(Suggestion(
            label=f"Remove the {drug} order",
            isRecommended=True if item.concern == "avoid" else None,
            actions=[Action(type="delete", description=f"Remove the {drug} order", resourceId=item.use.reference)],
        ))
    detail = "\n\n".join([
        f"Found: {drug} ({escape_markdown(item.use.display)}, {origin_phrase(item.use)}).",
        section("**Variants on record**", "\n".join(_meaning_lines(item, facts, knowledge))),
        section("**What to do**", _what_to_do(item, knowledge)),
        evidence_pointer(),
        footer(knowledge, facts, [item.use], CONSULTED, legend=False),
    ])
    return Card(
        summary=_summary(item, knowledge),
        detail=detail,
        indicator=indicator,
        source=card_source(knowledge, f"tki-variant-{item.concern}", "A TKI against a variant on record"),
        suggestions=suggestions,
        selectionBehavior="at-most-one",
        overrideReasons=[
            override("result-superseded", "The variant result is outdated or superseded"),
            override("specialist-decision", "The treating specialist chose this TKI knowingly"),
            override("no-alternative", "No alternative is available"),
        ],
    )


@dataclass(frozen=True, slots=True)
class PossibleReading:
    """One gene an unattributed variant may belong to, and what the table says of it there (None: nothing)."""

    gene: str
    meaning: VariantMeaning | None
    concern: Concern | None


@dataclass(frozen=True, slots=True)
class UnclearGene:
    """A TKI use and the variants on record whose gene is not clear, one reading of which would concern it."""

    use: MedicationUse
    ingredient: str
    changes: tuple[tuple[UnattributedChange, tuple[PossibleReading, ...]], ...]


def _readings(change: UnattributedChange, ingredient: str, facts: PatientFacts, knowledge: Knowledge
              ) -> tuple[PossibleReading, ...]:
    readings = []
    for gene in change.candidates:
        meaning = None
        if gene in knowledge.variants.fallback:
            meaning = knowledge.variants.meaning(gene, change.protein, change.exon)
        if meaning is not None and not applies(meaning, facts, knowledge):
            meaning = None
        readings.append(PossibleReading(gene, meaning, _concern(ingredient, meaning) if meaning else None))
    return tuple(readings)


def find_unclear_genes(facts: PatientFacts, knowledge: Knowledge) -> list[UnclearGene]:
    """TKIs being ordered (or imatinib taken) while a variant whose gene is not clear would, read as one of its
    possible genes, be a concern for it. The gene is never guessed: the card says so."""
    if not facts.unattributed_variants:
        return []
    found, seen = [], set()
    for use, ingredient in _tki_uses(facts, knowledge):
        changes = []
        for change in facts.unattributed_variants:
            readings = _readings(change, ingredient, facts, knowledge)
            if any(r.concern is not None and (use.origin == "draft" or r.concern == "avoid") for r in readings):
                changes.append((change, readings))
        if changes and ingredient not in seen:
            seen.add(ingredient)
            found.append(UnclearGene(use, ingredient, tuple(changes)))
    return found


def _unclear_lines(change: UnattributedChange, readings: tuple[PossibleReading, ...], knowledge: Knowledge
                   ) -> list[str]:
    """The result as read, why its gene is not clear, and what each possible gene would mean."""
    where = change.observation or "an Observation without id"
    evidence = escape_markdown(change.evidence if len(change.evidence) <= 200 else change.evidence[:199] + "…")
    genes = ", ".join(change.candidates)
    if change.from_title:
        why = f"The test's name lists the genes {genes} and the result does not say which one carries it."
    else:
        why = f"The result names no gene; the knowledge base knows {escape_markdown(change.name)} only in {genes}."
    lines = [
        f"**{escape_markdown(change.name)}**, gene not stated: {where}, reported {change.date}, read from its "
        f"text, “{evidence}”. {why}",
        "",
    ]
    for reading in readings:
        label = f"{reading.gene} {escape_markdown(change.name)}"
        if reading.meaning is None:
            lines.append(f"- If it is {label}: the knowledge base holds no advice for it.")
        else:
            lines.append(f"- If it is {label}: {_meaning_text(reading.meaning, knowledge)}")
    return lines


def _meaning_text(meaning: VariantMeaning, knowledge: Knowledge) -> str:
    """What one row of the table says, in one line: its note, the TKIs not expected to work, the agents it names."""
    text = f"{meaning.note} (status {meaning.status})"
    avoid = ["imatinib"] * (meaning.on_imatinib == "avoid") + meaning.avoid
    if avoid:
        text += f" Not expected to work against it: {agent_names(knowledge, avoid)}."
    if meaning.prefer and meaning.prefer_status == "derived":
        text += f" TKIs the NCCN table lists no concern for: {agent_names(knowledge, meaning.prefer)}."
    elif meaning.prefer:
        text += f" Preferred: {agent_names(knowledge, meaning.prefer)} (status {meaning.prefer_status})."
    return text


def unclear_gene_card(item: UnclearGene, facts: PatientFacts, knowledge: Knowledge) -> Card:
    drug = knowledge.ingredients[item.ingredient].name
    names = ", ".join(change.name for change, _ in item.changes)
    cited: dict[str, str] = {}
    for change, readings in item.changes:
        for reading in readings:
            for source in reading.meaning.sources if reading.meaning else ():
                cited.setdefault(source, f"what {reading.gene} {change.name} would mean")
    for source in knowledge.genomics.reading.sources:
        cited.setdefault(source, "how variant results are read")
    sections = [f"Found: {drug} ({escape_markdown(item.use.display)}, {origin_phrase(item.use)})."]
    for change, readings in item.changes:
        sections.append("\n".join(_unclear_lines(change, readings, knowledge)))
    sections += [
        "**What to do**\n\nThe service does not guess whose variant this is. Check the laboratory report (or ask the "
        f"laboratory) which gene carries {escape_markdown(names)} before deciding on {drug}; once the result "
        "names its gene, the mutation table applies.",
        evidence_pointer(),
        footer(knowledge, facts, [item.use], CONSULTED, legend=False),
    ]
    return Card(
        summary=fit_summary(f"{names} on record without its gene: check which gene before {drug}"),
        detail="\n\n".join(sections),
        indicator="warning",
        source=card_source(knowledge, "tki-variant-gene-unclear", "A variant on record without its gene"),
        overrideReasons=[
            override("gene-confirmed-elsewhere", "The gene was checked on the laboratory report"),
            override("specialist-decision", "The treating specialist chose this TKI knowingly"),
        ],
    )


@dataclass(frozen=True, slots=True)
class ExonNotKnown:
    """An imatinib order and the variants on record of a gene whose advice goes by exon (KIT) that give no exon
    and that no source table places: what the exon would mean is said, the exon is never guessed."""

    use: MedicationUse
    findings: tuple[VariantFinding, ...]  # of one gene
    exons: tuple[VariantMeaning, ...]  # that gene's rows by exon

    @property
    def concern(self) -> Concern | None:
        concerns = [concern for row in self.exons if (concern := _concern("imatinib", row))]
        return max(concerns, key=_RANK.__getitem__, default=None)


def find_exons_not_known(facts: PatientFacts, knowledge: Knowledge) -> list[ExonNotKnown]:
    """Imatinib being ordered while a variant on record of a gene whose advice goes by exon gives none, when one
    of the exons would concern imatinib: the card says the exon is not known rather than no card at all."""
    drafts = imatinib_drafts(facts)
    if not drafts:
        return []
    index = knowledge.variants
    by_gene: dict[str, list[VariantFinding]] = {}
    for finding in actionable_variants(facts.genomic_findings, index):
        fallback = index.fallback.get(finding.gene)
        if index.exon_not_known(finding.gene, finding.protein, finding.exon) and fallback is not None \
                and applies(fallback, facts, knowledge):
            by_gene.setdefault(finding.gene, []).append(finding)
    found = [ExonNotKnown(drafts[0], tuple(f), tuple(index.exon_rows(gene))) for gene, f in by_gene.items()]
    return [item for item in found if item.concern is not None]


def _exon_lines(item: ExonNotKnown, facts: PatientFacts, knowledge: Knowledge) -> list[str]:
    lines = []
    for finding in item.findings:
        change = f"{finding.gene} {finding.short or finding.protein}" if finding.protein else None
        lines.append(f"- **{escape_markdown(finding.name)}**: {finding_source(finding)}")
        if (negative := _later_negative_line(finding, facts)) is not None:
            lines.append(negative)
        lines.append("  - " + (f"The result does not give the exon, and no table the knowledge base holds places "
                               f"{escape_markdown(change)} in one" if change else
                               "The result names no protein change and no exon")
                     + ": the exon is not known to the service, which does not guess it.")
    if not patient_cancers(facts, knowledge):
        lines.append(f"- The record names no indication; the exon advice applies to "
                     f"{', '.join(item.exons[0].cancers)}.")
    return lines


def exon_unknown_card(item: ExonNotKnown, facts: PatientFacts, knowledge: Knowledge) -> Card:
    drug = knowledge.ingredients["imatinib"].name
    gene = item.findings[0].gene
    names = ", ".join(f.name for f in item.findings)
    changes = ", ".join(escape_markdown(f.short or f.protein or "the variant") for f in item.findings)
    exons = [f"- Exon {row.exon}: {_meaning_text(row, knowledge)}" for row in item.exons]
    detail = "\n\n".join([
        f"Found: {drug} ({escape_markdown(item.use.display)}, {origin_phrase(item.use)}).",
        section("**Variants on record without their exon**", "\n".join(_exon_lines(item, facts, knowledge))),
        section(f"**What the exon would mean** (the {gene} rows of the variant table)", "\n".join(exons)),
        section("**What to do**", f"Check the laboratory report (or ask the laboratory) which exon of {gene} "
                f"carries {changes} before deciding on {drug}; once the result names its exon, that exon's advice "
                "applies. No change is suggested until then."),
        evidence_pointer(),
        footer(knowledge, facts, [item.use], CONSULTED, legend=False),
    ])
    return Card(
        summary=fit_summary(f"{names} on record without its exon: check the exon before {drug}"),
        detail=detail,
        indicator="info" if item.concern == "note" else "warning",
        source=card_source(knowledge, "tki-variant-exon-unknown", "A variant on record without its exon"),
        overrideReasons=[
            override("exon-confirmed", "The exon was checked on the laboratory report"),
            override("specialist-decision", "The treating specialist chose this TKI knowingly"),
        ],
    )


@dataclass(frozen=True, slots=True)
class ClassedNotActionable:
    """A TKI being ordered, and variants on record the laboratory classed as of uncertain or no significance."""

    use: MedicationUse
    findings: tuple[VariantFinding, ...]


def find_classed_not_actionable(facts: PatientFacts, knowledge: Knowledge) -> ClassedNotActionable | None:
    """Said, never silent: such a variant is set aside from the resistance reading, and the card says why."""
    drafts = [use for use, _ in _tki_uses(facts, knowledge) if use.origin == "draft" and use.under_decision]
    findings = tuple(
        f for f in detected_variants(facts.genomic_findings)
        if classed_not_actionable(f, knowledge.variants)
        and ((m := knowledge.variants.meaning(f.gene, f.protein, f.exon)) is None or applies(m, facts, knowledge))
    )
    return ClassedNotActionable(drafts[0], findings) if drafts and findings else None


def classed_not_actionable_card(item: ClassedNotActionable, facts: PatientFacts, knowledge: Knowledge) -> Card:
    drug = knowledge.ingredients[next(iter(sorted(item.use.ingredients)))].name
    names = ", ".join(f.name for f in item.findings)
    tiers = "; ".join(f"{knowledge.sources[s].short} (status {knowledge.sources[s].status}): tier III, variants of "
                      "unknown clinical significance; tier IV, benign or likely benign"
                      for s in knowledge.genomics.reading.not_actionable_sources)
    lines = []
    for finding in item.findings:
        lines.append(f"- **{escape_markdown(finding.name)}**: {finding_source(finding)}")
        lines.append(f"  - The laboratory classed it “{escape_markdown(finding.lab_significance or '')}”, and the "
                     "mutation table does not name this change: it is not read as a resistance mutation.")
    detail = "\n\n".join([
        f"Found: {drug} ({escape_markdown(item.use.display)}, {origin_phrase(item.use)}).",
        section("**Variants on record classed as of uncertain or no significance**", "\n".join(lines)),
        section("**What it means**", f"{tiers}. The service reads a tier III or IV variant as no indication to "
                "change therapy by itself (derived from these tiers)."),
        section("**What to do**", f"No change of {drug} is suggested on this variant. If the response is not on "
                "track, discuss the result and its classification with the laboratory."),
        evidence_pointer(),
        footer(knowledge, facts, [item.use], CONSULTED, legend=False),
    ])
    return Card(
        summary=fit_summary(f"{names} on record, classed by the laboratory as of uncertain or no significance: not "
                            "read as a resistance mutation"),
        detail=detail,
        indicator="info",
        source=card_source(knowledge, "tki-variant-uncertain", "A variant of uncertain significance on record"),
    )


def variant_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    cards = [variant_card(item, facts, knowledge) for item in find_concerns(facts, knowledge)]
    if (uncertain := find_classed_not_actionable(facts, knowledge)) is not None:
        cards.append(classed_not_actionable_card(uncertain, facts, knowledge))
    cards += [unclear_gene_card(item, facts, knowledge) for item in find_unclear_genes(facts, knowledge)]
    return cards + [exon_unknown_card(item, facts, knowledge) for item in find_exons_not_known(facts, knowledge)]
