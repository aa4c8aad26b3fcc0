"""Genomic variants from the patient's Observations, in every shape labs send them, normalised to one form.

Three shapes: a Genomics Reporting IG / mCODE variant (LOINC 69548-6 with gene and HGVS components); a coded HGVS
value; and text ("ABL1 T315I detected", "BCR-ABL1 kinase domain mutation: p.Thr315Ile", "PDGFRA D842V"). Protein
changes come as 3-letter or 1-letter, with or without `p.` and parentheses; all become `p.Thr315Ile`. Only final,
amended or corrected results count, and a variant reported absent or negative is kept as a negative finding, never
as a variant. Each finding says which Observation it came from, its date, and how it was read.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from cds_service.facts.labs import is_result, observation_time
from cds_service.fhir import (
    Resource,
    codings,
    concept_text,
    concept_words,
    has_coding,
    listed,
    local_reference,
    one_or_many,
)
from cds_service.knowledge.loader import Knowledge, VariantIndex
from cds_service.knowledge.models import VariantReading

ReadFrom = Literal["components", "coded value", "text"]

# IUPAC amino-acid codes (nomenclature, not clinical knowledge).
_THREE = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu", "G": "Gly", "H": "His",
    "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe", "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp",
    "Y": "Tyr", "V": "Val",
}
_ONE = {three: one for one, three in _THREE.items()}
_AA3 = "|".join(_ONE)
_AA1 = "".join(_THREE)
_MISSENSE_3 = re.compile(rf"(?<![\w.])(?:p\.)?\(?({_AA3})(\d{{1,4}})({_AA3})\)?(?![a-z])")
_MISSENSE_1 = re.compile(rf"(?<![\w.])(?:p\.)?\(?([{_AA1}])(\d{{1,4}})([{_AA1}])\)?(?!\w)")
# Any other HGVS protein change (deletions, duplications, frameshifts), kept as written.
_OTHER_HGVS_P = re.compile(rf"(?<![\w])p\.\(?((?:{_AA3})\d+[A-Za-z0-9_*=]*)\)?")
# The gene an HGVS expression names with its reference sequence: "NM_005157.6(ABL1):c.944C>T".
_HGVS_GENE = re.compile(r"\(([A-Za-z0-9-]+)\):")
# A protein change right after a gene symbol: after a space ("TP53 R248Q", "KRAS p.Gly12Asp") or HGVS's colon
# ("KRAS:p.Gly12Asp"). Not after ": ", which joins a test's title to its result ("Myeloid panel: ASXL1, BCR-ABL1,
# TP53: T315I detected").
_CHANGE_AHEAD = re.compile(rf"(?:\s+|:)(?:p\.)?\(?(?:{_AA3}|[{_AA1}])\d")
_EXON = re.compile(r"\bexon\s*(\d{1,2})\b", re.IGNORECASE)
# Clauses: a negative word negates every variant in its clause, so sentences ("T315I detected. F317L not
# detected.") and "but" split too; "p.Thr315Ile" and "NM_005157.6" have no space after the dot.
_AND = re.compile(r"\s+(?i:and)\s+")
_CLAUSES = re.compile(r"[;\n]|[,.]\s|\s(?i:but)\s")
# Sentences, for the lists of what a test looked for ("Mutations tested: T315I, F317L, E255K."): a comma ends none.
_SENTENCE = re.compile(r"[^;\n]+?(?=\.\s|\.?$|[;\n])")


@dataclass(frozen=True, slots=True)
class ProteinChange:
    ref: str
    position: int
    alt: str

    @property
    def hgvs(self) -> str:
        return f"p.{self.ref}{self.position}{self.alt}"

    @property
    def short(self) -> str:
        return f"{_ONE[self.ref]}{self.position}{_ONE[self.alt]}"


def protein_changes(text: str) -> list[ProteinChange]:
    """Missense changes in `text`, whichever form they are written in, in order of appearance."""
    found: list[tuple[int, ProteinChange]] = []
    for match in _MISSENSE_3.finditer(text):
        found.append((match.start(), ProteinChange(match.group(1), int(match.group(2)), match.group(3))))
    for match in _MISSENSE_1.finditer(text):
        ref, alt = _THREE[match.group(1)], _THREE[match.group(3)]
        found.append((match.start(), ProteinChange(ref, int(match.group(2)), alt)))
    unique: dict[ProteinChange, int] = {}
    for start, change in sorted(found, key=lambda item: item[0]):
        unique.setdefault(change, start)
    return list(unique)


def parse_protein_change(text: str) -> ProteinChange | None:
    changes = protein_changes(text)
    return changes[0] if changes else None


@dataclass(frozen=True, slots=True)
class VariantFinding:
    """One gene's result in one Observation: a variant found, or (detected=False) one reported absent."""

    gene: str
    protein: str | None  # p.Thr315Ile; other HGVS protein changes as written; None when none was named
    short: str | None  # T315I, for missense changes
    exon: int | None
    detected: bool
    read_from: ReadFrom
    evidence: str  # what was read: the components' codes, the coded value, or the text
    observation: str | None
    when: str | None
    dna: str | None = None
    genomic: str | None = None
    assessment_missing: bool = False  # a 69548-6 variant without a Present/Absent value, read as found
    # A 69548-6 variant whose value says neither Present nor Absent (Inconclusive, a word the service does not
    # know): read as found, never dropped, and the card quotes the value so the clinician can check it.
    unclear_value: str | None = None
    # The laboratory's words classing it as of uncertain or no clinical significance ("Uncertain significance",
    # "likely benign"): not read as a resistance mutation unless the mutation table names the change.
    lab_significance: str | None = None

    @property
    def key(self) -> tuple[str, str | None, int | None]:
        return (self.gene, self.protein, None if self.protein else self.exon)

    @property
    def name(self) -> str:
        parts = [self.gene]
        if self.short or self.protein:
            parts.append(self.short or self.protein or "")
        if self.exon:
            parts.append(f"exon {self.exon}")
        return " ".join(parts) if len(parts) > 1 else f"{self.gene} (no variant named)"

    @property
    def date(self) -> str:
        return self.when[:10] if self.when else "date not given"


def _texts(concept: Any) -> list[str]:
    """The text and every coding's display and code of a CodeableConcept."""
    texts = [t for t in [concept_text(concept)] if t]
    for coding in codings(concept):
        texts.extend(v for v in (coding.get("display"), coding.get("code")) if isinstance(v, str) and v)
    return texts


def _value_texts(holder: Resource) -> list[str]:
    texts = _texts(holder.get("valueCodeableConcept"))
    if isinstance(holder.get("valueString"), str):
        texts.append(holder["valueString"])
    return texts


def _components_by_code(observation: Resource, reading: VariantReading) -> dict[str, list[Resource]]:
    """The components by each code (in the reading's system) they carry, in order, each once under a code: one pass
    where a variant asks for four of its components (what `has_coding` finds for each code)."""
    by_code: dict[str, list[Resource]] = {}
    for component in observation.get("component") or ():
        concept = component.get("code") if isinstance(component, dict) else None
        if not isinstance(concept, dict):
            continue
        for coding in listed(concept.get("coding")):
            if not isinstance(coding, dict) or coding.get("system") != reading.system:
                continue
            if isinstance(code := coding.get("code"), str):
                found = by_code.setdefault(code, [])
                if not found or found[-1] is not component:
                    found.append(component)
    return by_code


def _gene_of(texts_and_codes: list[tuple[str | None, str]], index: VariantIndex) -> str | None:
    """A gene the knowledge base knows, from (system, code-or-text) pairs: HGNC ids first, then names."""
    for system, value in texts_and_codes:
        if system is not None and value in index.gene_by_hgnc:
            return index.gene_by_hgnc[value]
    for _, value in texts_and_codes:
        match = index.alias_pattern.search(value)
        if match:
            return index.gene_by_alias[match.group(1)]
    return None


def _gene_pairs(concept: Any, reading: VariantReading) -> list[tuple[str | None, str]]:
    pairs: list[tuple[str | None, str]] = []
    for coding in codings(concept):
        if isinstance(coding.get("code"), str) and coding.get("system") in reading.gene_systems:
            pairs.append((coding["system"], coding["code"]))
        if isinstance(coding.get("display"), str):
            pairs.append((None, coding["display"]))
    if text := concept_text(concept):
        pairs.append((None, text))
    return pairs


def _assessment(observation: Resource, reading: VariantReading, index: VariantIndex) -> str:
    """present, absent, mixed (a change found beside one ruled out), no result (the test failed, was not done, or
    Inconclusive), unclear (an answer the service does not know), or missing (no value at all). A coded answer
    counts by its code, a display or none; a value that is only the change ("ABL1 T315I") names the change found."""
    value = observation.get("valueCodeableConcept")
    if has_coding(value, reading.system, reading.present_code):
        return "present"
    for answer in reading.coded_answers:
        if has_coding(value, answer.system, answer.code):
            return answer.answer
    if isinstance(observation.get("valueBoolean"), bool):
        return "present" if observation["valueBoolean"] else "absent"
    texts = _value_texts(observation)
    if index.no_result_pattern is not None and any(index.no_result_pattern.search(t) for t in texts):
        return "no result"  # "Not tested", "Failed", "No call": checked before "no" reads as a negative
    if not texts and not any(key.startswith("value") for key in observation):
        return "missing"
    if any(index.negative_pattern.search(t) for t in texts):
        # "T315I detected. E255K not detected.": one result per change, read clause by clause, not all "absent".
        said = {status for _, _, status in _changes_said(texts, index)}
        return "mixed" if said == {"present", "absent"} else "absent"
    if any(index.positive_pattern.search(t) for t in texts):
        return "present"
    if any(_status_of(clause, index) == "absent" for t in texts for _, clause in _clauses(t, index)):
        return "absent"  # "No T315I"
    if texts and all(_only_names_a_change(t, index) for t in texts):
        return "present"
    return "unclear"


_NOTATION = re.compile(r"[\s:;,.()\[\]/_-]+|\bp\b|\bc\b|N[MP]_\d+(?:\.\d+)?")


def _only_names_a_change(text: str, index: VariantIndex) -> bool:
    """A value that is nothing but the change and its gene ("ABL1 T315I", "p.(Thr315Ile)"): it names the change
    found. A word beside it ("T315I: none", "T315I excluded") makes it a value the service does not read."""
    if not _changes_at(text):
        return False
    rest = index.alias_pattern.sub(" ", text)
    for change in (_MISSENSE_3, _MISSENSE_1, _OTHER_HGVS_P):
        rest = change.sub(" ", rest)
    return not _NOTATION.sub("", rest)


def _value_words(observation: Resource) -> str:
    """The value as the card quotes it: its text or codes' displays, else its codes, else its JSON type."""
    value = observation.get("valueCodeableConcept")
    words = concept_words(value)
    if isinstance(observation.get("valueString"), str):
        words.append(observation["valueString"])
    if words:
        return "; ".join(dict.fromkeys(words))
    codes = [str(c.get("code")) for c in codings(value) if c.get("code")]
    if codes:
        return "code " + ", ".join(codes)
    kinds = [key for key in observation if key.startswith("value")]
    return kinds[0] if kinds else "no value"


def _changes_said(
    texts: list[str], index: VariantIndex, of_gene: str | None = None
) -> list[tuple[str | None, int | None, str]]:
    """(protein change, exon, "present" or "absent") for each change a result's clauses name with a result word.

    With `of_gene`, only the changes that can be that gene's: a clause that names another gene ("TP53 R248Q
    detected", or a gene of the knowledge base other than `of_gene`) says nothing about it."""
    said: list[tuple[str | None, int | None, str]] = []
    for text in texts:
        for _, clause in _clauses(text, index):
            if (status := _status_of(clause, index)) is None:
                continue
            if of_gene is not None and _names_a_gene_other_than(clause, of_gene, index):
                continue
            exon = _exon_in([clause])
            said.extend((protein, exon, status) for _, protein, _ in _changes_at(clause))
    return said


def _names_a_gene_other_than(clause: str, gene: str, index: VariantIndex) -> bool:
    named = {index.gene_by_alias[m.group(1)] for m in index.alias_pattern.finditer(clause)}
    return bool(named - {gene}) or (not named and _names_another_gene(clause, index))


def _said_of(protein: str | None, exon: int | None, said: list[tuple[str | None, int | None, str]]) -> str | None:
    """What the clause naming this change says of it: "present", "absent", or None when no clause names it."""
    for said_protein, said_exon, status in said:
        if (protein is not None and said_protein == protein) or (protein is None and said_exon == exon):
            return status
    return None


def _as_said(readings: list["Reading"], said: list[tuple[str | None, int | None, str]]) -> list["Reading"]:
    """A result that reports several changes with different results: each change as its own clause says, and only
    changes the result names (a change in the test's title alone is what was looked for, not what was found)."""
    kept: list[Reading] = []
    for reading in readings:
        status = _said_of(reading.protein, reading.exon, said)
        if status is None:
            continue
        if isinstance(reading, VariantFinding):
            kept.append(replace(reading, detected=status == "present"))
        elif status == "present":
            kept.append(reading)
    return kept


def _exon_in(texts: list[str]) -> int | None:
    for text in texts:
        if match := _EXON.search(text):
            return int(match.group(1))
    return None


def _first_hgvs(texts: list[str]) -> tuple[str | None, str | None]:
    """(normalised protein change, 1-letter form) from the first text that names one."""
    for text in texts:
        if change := parse_protein_change(text):
            return change.hgvs, change.short
        if match := _OTHER_HGVS_P.search(text):
            return "p." + match.group(1), None
    return None, None


def _all_texts(observation: Resource) -> list[str]:
    texts = [*_texts(observation.get("code")), *_value_texts(observation)]
    for component in observation.get("component") or ():
        if isinstance(component, dict):
            texts.extend(_texts(component.get("code")))
            texts.extend(_value_texts(component))
    return texts


def _from_components(observation: Resource, knowledge: Knowledge, base: dict[str, Any]) -> list["Reading"]:
    """A Genomics Reporting IG or mCODE variant."""
    reading, index = knowledge.genomics.reading, knowledge.variants
    assessment = _assessment(observation, reading, index)
    if assessment == "no result":
        return []
    if assessment == "unclear":
        unclear = _value_words(observation)
        return [replace(r, unclear_value=unclear) if isinstance(r, VariantFinding) else r
                for r in _from_components_as(observation, knowledge, base, "present")]
    return _from_components_as(observation, knowledge, base, assessment)


def _from_components_as(
    observation: Resource, knowledge: Knowledge, base: dict[str, Any], assessment: str
) -> list["Reading"]:
    reading, index = knowledge.genomics.reading, knowledge.variants
    gene = None
    components = _components_by_code(observation, reading)
    gene_components = components.get(reading.gene_component, [])
    for component in gene_components:
        gene = gene or _gene_of(_gene_pairs(component.get("valueCodeableConcept"), reading), index)

    def component_texts(code: str) -> list[str]:
        return [t for c in components.get(code, ()) for t in _value_texts(c)]

    if gene is None and gene_components:  # another gene's variant (TP53, ASXL1): none of the knowledge base's
        return []
    if gene is None:  # the IG code, but the gene only in the title or in text
        changes = [*component_texts(reading.protein_component), *component_texts(reading.dna_component)]
        found = _from_text(
            observation, knowledge, base, detected_by_value=assessment != "absent", result_words=tuple(changes)
        )
        return _as_said(found, _changes_said(_value_texts(observation), index)) if assessment == "mixed" else found

    protein, short = _first_hgvs(component_texts(reading.protein_component))
    exon = _exon_in(_all_texts(observation))
    said = _changes_said(_value_texts(observation), index, of_gene=gene)
    others = _other_changes_said(observation, gene, protein, said, base)
    if assessment == "mixed":
        status = _said_of(protein, exon, said)
        if status is None:
            return others  # the value reports other changes, not this one: this one is unclear
        assessment = status
    dna = next(iter(component_texts(reading.dna_component)), None)
    genomic = next(iter(component_texts(reading.genomic_component)), None)
    evidence = "; ".join(filter(None, [f"gene {gene}", protein, dna, genomic]))
    return [VariantFinding(
        gene=gene, protein=protein, short=short, exon=exon,
        detected=assessment != "absent", read_from="components", evidence=evidence,
        dna=dna, genomic=genomic, assessment_missing=assessment == "missing", **base,
    ), *others]


def _other_changes_said(
    observation: Resource, gene: str, protein: str | None, said: list[tuple[str | None, int | None, str]],
    base: dict[str, Any],
) -> list["Reading"]:
    """Changes of the structured gene that the value's words report beside the components' own ("T315I not
    detected. E255K detected."), each as its clause says: a lab that writes a second change in words has found, or
    ruled out, that one too."""
    words = [concept_text(observation.get("valueCodeableConcept")), observation.get("valueString")]
    text = "; ".join(dict.fromkeys(w for w in words if isinstance(w, str) and w))
    found: dict[str, VariantFinding] = {}
    for other, _exon, status in said:
        if other is None or other == protein or other in found:
            continue
        change = parse_protein_change(other)
        found[other] = VariantFinding(
            gene=gene, protein=other, short=change.short if change else None, exon=None,
            detected=status == "present", read_from="text", evidence=text, **base,
        )
    return list(found.values())


def _from_coded_value(observation: Resource, knowledge: Knowledge, base: dict[str, Any]) -> list["Reading"]:
    """A value coded in HGVS (e.g. `NM_005157.6(ABL1):c.944C>T (p.Thr315Ile)`)."""
    reading, index = knowledge.genomics.reading, knowledge.variants
    value = observation.get("valueCodeableConcept")
    hgvs = [c for c in codings(value) if c.get("system") == reading.hgvs_system]
    texts = [t for c in hgvs for t in (c.get("code"), c.get("display")) if isinstance(t, str)]
    named = {m.group(1) for t in texts for m in _HGVS_GENE.finditer(t)}
    title = _read_title("; ".join(concept_words(observation.get("code"))), index)
    if named:  # the HGVS expression names its gene: that one, not a gene the test's name mentions
        gene = next((index.gene_by_alias[n] for n in sorted(named) if n in index.gene_by_alias), None)
    elif (gene := _gene_of([(None, t) for t in texts], index)) is None:
        if any(_names_another_gene(t, index) for t in texts):
            return []  # "KRAS p.Gly12Asp": another gene's variant, not the gene of the test's name
        gene = title.gene  # the title's gene when it names only one
    protein, short = _first_hgvs(texts)
    if protein is None and _exon_in(texts) is None:
        return []
    if gene is None:
        candidates = () if named else _candidates(protein, title, index)
        if not candidates:
            return []
        return [UnattributedChange(
            protein=protein, short=short, exon=_exon_in(texts), candidates=candidates,
            from_title=bool(title.candidates), evidence="; ".join(texts), **base,
        )]
    # The interpretation (a list in R4, one concept in STU3) or the value's own text may say "Not detected"; a text
    # that names this change with its result decides for it ("T315I detected. E255K not detected." is no negative).
    words = [t for concept in [*one_or_many(observation.get("interpretation")), value] for t in _texts(concept)]
    said = _changes_said(words, index, of_gene=gene)
    status = _said_of(protein, None, said) if protein else None
    detected = status == "present" if status else not any(index.negative_pattern.search(t) for t in words)
    return [VariantFinding(
        gene=gene, protein=protein, short=short, exon=_exon_in(texts), detected=detected,
        read_from="coded value", evidence="; ".join(texts), **base,
    ), *_other_changes_said(observation, gene, protein, said, base)]


def _names_another_gene(clause: str, index: VariantIndex) -> bool:
    """A protein change written after a gene symbol ("TP53 R248Q", "KRAS p.Gly12Asp"): only called for clauses that
    name none of the knowledge base's genes, so the change is that other gene's, not the gene of an earlier clause."""
    return any(_CHANGE_AHEAD.match(clause, m.end()) for m in _other_genes_in(clause, index))


# Symbols of that shape that are no gene: BCR-ABL1 transcripts (p210, e13a2), molecular response levels (MR4), and
# database identifiers a report writes before a change: Ensembl transcripts and genes (ENST00000318560), COSMIC
# (COSM12560, COSV...), ClinVar (VCV..., RCV...) and ClinGen allele (CA...) ids. Read as genes, they made
# "COSM12560: p.T315I detected" another gene's change, and the T315I was dropped.
_NOT_A_GENE = re.compile(r"[Pp]\d+|[EeBb]\d+[Aa]\d+|MR\d+|ENS[A-Z]*\d+|COS[MV]\d+|[VR]CV\d+|CA\d{5,}")


def _other_genes_in(text: str, index: VariantIndex, start: int = 0) -> list[re.Match[str]]:
    """The symbols of genes the knowledge base does not hold that `text` names from `start` on, in order.

    Two ways to know a symbol, each chosen for the error it makes. A symbol with a digit (TP53, ASXL1, JAK2, IDH2)
    is HGNC's style and unlike any word labs write, so its shape is enough (a change such as T315I, a transcript
    such as p210 or a response level such as MR4 excepted). A symbol without one (KRAS, MPL, CALR) looks like the
    abbreviations a report writes before a change (CML, GIST, KD, NGS, PCR, DNA, IS, DETECTED): read by its shape
    with a list of exceptions, every word the list missed would hide a real ABL1 or KIT change such as T315I, a
    critical card lost without a trace. So only the symbols the knowledge base lists, with their sources, count
    ([other_genes] in variants.toml); a gene missing there is read as before, and is added with a source.
    """
    return [
        m for m in index.other_gene_pattern.finditer(text, start)
        if not _MISSENSE_1.fullmatch(m.group(1)) and not _NOT_A_GENE.fullmatch(m.group(1))
    ]


def _split_at_status_and(clause: str, index: VariantIndex) -> list[str]:
    """An "and" next to a result word joins two results ("T315I detected and F317L not detected", "negative for
    F317L and positive for T315I", "T315I and no F317L"): split there. "T315I and F317L not detected" stays whole,
    so its negative covers both."""
    parts, start = [], 0
    for match in _AND.finditer(clause):
        before, after = clause[start:match.start()], clause[match.end():]
        ends_with_status = any(
            m.end() == len(before) for p in (index.negative_pattern, index.positive_pattern) for m in p.finditer(before)
        )
        starts_with_status = after.lower().startswith("no ") or any(
            p.match(after) for p in (index.negative_pattern, index.positive_pattern)
        )
        if ends_with_status or starts_with_status:
            parts.append(before)
            start = match.end()
    parts.append(clause[start:])
    return parts


@dataclass(frozen=True, slots=True)
class UnattributedChange:
    """A variant a result reports without saying whose it is: the title names several genes, or none at all.

    Never read as any gene's variant: cards say the gene is not clear and what each possible reading would mean.
    """

    protein: str | None
    short: str | None
    exon: int | None
    candidates: tuple[str, ...]  # the genes the test's title names, else the knowledge base's genes for the change
    from_title: bool  # the candidates are the title's genes (else: no gene named anywhere)
    evidence: str
    observation: str | None
    when: str | None

    @property
    def name(self) -> str:
        parts = [p for p in (self.short or self.protein, f"exon {self.exon}" if self.exon else None) if p]
        return " ".join(parts)

    @property
    def date(self) -> str:
        return self.when[:10] if self.when else "date not given"


Reading = VariantFinding | UnattributedChange

# Symbols listed beside a gene in a test's title ("KIT, PDGFRA, BRAF").
_SYMBOL = r"[A-Z][A-Z0-9-]+|\x00"
_SYMBOL_LIST = re.compile(rf"(?:{_SYMBOL})(?:\s*(?:,|/|\+|&|\band\b)\s*(?:{_SYMBOL}))+")


@dataclass(frozen=True, slots=True)
class _Title:
    """The genes a test's title (its code's text and displays) names."""

    genes: tuple[str, ...]  # knowledge-base genes, in order
    others: tuple[str, ...]  # other gene symbols

    @property
    def gene(self) -> str | None:
        """The gene the title attributes by itself: only when it names exactly one gene."""
        return self.genes[0] if len(self.genes) == 1 and not self.others else None

    @property
    def candidates(self) -> tuple[str, ...]:
        return (*self.genes, *self.others)


def _read_title(title: str, index: VariantIndex) -> _Title:
    genes: dict[str, None] = {}
    masked = title
    for _ in range(2):  # "BCR/ABL1" is one gene; once it is masked, "KIT/PDGFRA" is a list of two
        genes.update((index.gene_by_alias[m.group(1)], None) for m in index.alias_pattern.finditer(masked))
        masked = index.alias_pattern.sub("\x00", masked).replace("/", " / ")
    others: dict[str, None] = {m.group(1): None for m in _other_genes_in(masked, index)}
    if genes or others:
        for listed in _SYMBOL_LIST.finditer(masked):
            for symbol in re.findall(_SYMBOL, listed.group(0)):
                if symbol != "\x00" and not _MISSENSE_1.fullmatch(symbol):
                    others.setdefault(symbol)
    return _Title(tuple(genes), tuple(others))


def _clauses(text: str, index: VariantIndex) -> list[tuple[int, str]]:
    """Clauses with where each starts in `text`."""
    found, cursor = [], 0
    for piece in _CLAUSES.split(text):
        for part in _split_at_status_and(piece, index):
            start = text.find(part, cursor)
            found.append((start, part))
            cursor = start + len(part)
    return found


def _changes_at(clause: str) -> list[tuple[int, str | None, str | None]]:
    """(position, protein change, 1-letter form) in a clause; an exon alone is a change without a protein."""
    changes: list[tuple[int, str | None, str | None]] = []
    for change in protein_changes(clause):
        changes.append((_position_of(clause, change), change.hgvs, change.short))
    if not changes and (other := _OTHER_HGVS_P.search(clause)):
        changes = [(other.start(), "p." + other.group(1), None)]
    if not changes and (exon := _EXON.search(clause)):
        changes = [(exon.start(), None, None)]
    return changes


def _position_of(clause: str, change: ProteinChange) -> int:
    for pattern in (_MISSENSE_3, _MISSENSE_1):
        for match in pattern.finditer(clause):
            groups = match.groups()
            ref = groups[0] if pattern is _MISSENSE_3 else _THREE[groups[0]]
            alt = groups[2] if pattern is _MISSENSE_3 else _THREE[groups[2]]
            if (ref, int(groups[1]), alt) == (change.ref, change.position, change.alt):
                return match.start()
    return 0


def _from_text(
    observation: Resource, knowledge: Knowledge, base: dict[str, Any], detected_by_value: bool = True,
    result_words: tuple[str, ...] = (),
) -> list[Reading]:
    """Free text: the test's title and the result read together, clause by clause ("T315I detected; F317L not").

    Whose variant a change is: the gene named nearest before it in the result; else the gene the result named last;
    else the test's title, only when the title names one gene. A title that names several genes ("GIST panel
    (PDGFRA, KIT)") attributes nothing: the change is kept as unattributed, and so is a change the knowledge base
    knows (T315I, D842V) in a result that names no gene at all.
    """
    index = knowledge.variants
    title = "; ".join(dict.fromkeys(concept_words(observation.get("code"))))
    words = [*concept_words(observation.get("valueCodeableConcept")), *result_words]
    if isinstance(observation.get("valueString"), str):
        words.append(observation["valueString"])
    result = "; ".join(dict.fromkeys(words))
    text = f"{title}: {result}" if title and result else title or result
    boundary = len(title) + 2 if title and result else (0 if result else len(text) + 1)
    named_title = _read_title(title, index) if title else _Title((), ())
    if not index.alias_pattern.search(text) and not named_title.candidates and not _known_change(text, index):
        return []

    def allowed(position: int, gene: str, change_at: int) -> bool:
        # A gene named in the result; the title's one gene; or a gene named beside the change in the title itself.
        return position >= boundary or gene == named_title.gene or change_at < boundary

    findings: dict[tuple[str, str | None, int | None], VariantFinding] = {}
    unattributed: dict[tuple[str | None, int | None], UnattributedChange] = {}
    carried: tuple[int, str | None] = (-1, None)  # the gene the text named last, and where
    negatives: list[str] = []
    clauses = _clauses(text, index)
    tested = _tested_lists(text, boundary, index)
    nothing_found = _reports_nothing_found(clauses, boundary, tested, index)
    for start, clause in clauses:
        mentions = [(start + m.start(), index.gene_by_alias[m.group(1)]) for m in index.alias_pattern.finditer(clause)]
        other_gene = not mentions and _names_another_gene(clause, index)
        others = _other_symbols(clause, start, max(boundary - start, 0), index)
        status = _status_of(clause, index)
        negative = status == "absent"
        detected = detected_by_value and not negative and not nothing_found
        exon = _exon_in([clause])
        changes = [] if other_gene else _changes_at(clause)
        for offset, protein, short in changes:
            at = start + offset
            if max((p for p in others if p < at), default=-1) > max((p for p, _ in mentions if p < at), default=-1):
                continue  # "JAK2 V617F detected" under a BCR-ABL1 title: the gene the result names wins
            found = detected
            if status is None and (listed := _listed_as_tested(at, tested)) is not None:
                if listed == "tested" and not nothing_found:
                    continue  # what was looked for: only another clause that names it with a result says more
                found = detected_by_value and listed == "present" and not nothing_found
            gene = _gene_for(at, mentions, carried, allowed, boundary, named_title)
            if gene is not None:
                finding = VariantFinding(
                    gene=gene, protein=protein, short=short, exon=exon, detected=found, read_from="text",
                    evidence=text, **base,
                )
                findings.setdefault(finding.key, finding)
            elif found and (protein or exon) and (candidates := _candidates(protein, named_title, index)):
                unattributed.setdefault((protein, exon), UnattributedChange(
                    protein=protein, short=short, exon=exon, candidates=candidates,
                    from_title=bool(named_title.candidates), evidence=text, **base,
                ))
        end = start + len(clause)
        kept = [(p, g) for p, g in mentions if allowed(p, g, end if end < boundary else boundary)]
        if kept:
            carried = kept[-1]
        elif other_gene:
            carried = (start, None)  # the report moved on to a gene the knowledge base does not hold
        if others and others[-1] > carried[0]:
            carried = (others[-1], None)
        if not changes and negative:
            gene = _gene_for(end, kept, carried, allowed, boundary, named_title)
            if gene is not None:
                negatives.append(gene)
    for gene_tested in negatives:  # "no mutation detected": tested, nothing found
        if not any(f.gene == gene_tested and f.detected for f in findings.values()):
            finding = VariantFinding(
                gene=gene_tested, protein=None, short=None, exon=None, detected=False, read_from="text",
                evidence=text, **base,
            )
            findings.setdefault(finding.key, finding)
    return [*findings.values(), *unattributed.values()]


def _status_of(clause: str, index: VariantIndex) -> str | None:
    """"absent" for a negative clause (a negative word, or a part starting with "no"), "present" for a positive
    one, None for a clause with no result word."""
    if index.negative_pattern.search(clause) or any(p.strip().lower().startswith("no ") for p in clause.split(":")):
        return "absent"
    return "present" if index.positive_pattern.search(clause) else None


def _tested_lists(text: str, boundary: int, index: VariantIndex) -> list[tuple[int, int, str]]:
    """(start, end, reading) of each list of what a test looked for in the result (from `boundary` on: "Mutations
    tested: T315I, F317L", "panel includes ...", "sequencing covers codons 240-500 including ..."): from its word to
    the end of the sentence. The reading is "tested", or the result a word before it in its sentence gives the list
    ("mutations detected, including T315I": "present"; "no mutation detected in the kinase domain, including
    T315I": "absent")."""
    lists: list[tuple[int, int, str]] = []
    for sentence in _SENTENCE.finditer(text, boundary):
        if match := index.tested_pattern.search(sentence.group(0)):
            lead = sentence.group(0)[:match.start()]
            lists.append((sentence.start() + match.start(), sentence.end(), _status_of(lead, index) or "tested"))
    return lists


def _listed_as_tested(at: int, lists: list[tuple[int, int, str]]) -> str | None:
    return next((reading for start, end, reading in lists if start <= at < end), None)


def _reports_nothing_found(
    clauses: list[tuple[int, str]], boundary: int, lists: list[tuple[int, int, str]], index: VariantIndex
) -> bool:
    """The result's only result words are negative, and it says so of the whole test ("Result: none detected", "No
    mutations detected") or lists what was tested: every change it names is then absent. "T315I and no F317L" (a
    negative of one change only) still reports T315I."""
    statuses = []
    for start, clause in clauses:
        if start + len(clause) <= boundary:
            continue
        part = clause[max(boundary - start, 0):]
        if (status := _status_of(part, index)) is not None:
            statuses.append((status, bool(_changes_at(part))))
    if not statuses or any(status == "present" for status, _ in statuses):
        return False
    return any(not names_change for _, names_change in statuses) or bool(lists)


def _other_symbols(clause: str, start: int, result_from: int, index: VariantIndex) -> list[int]:
    """Where the result's part of a clause names a gene symbol the knowledge base does not hold (JAK2, KRAS), in
    order: a change after one is that gene's, not the gene of the test's title."""
    masked = index.alias_pattern.sub(lambda m: "\x00" * len(m.group(0)), clause)
    return [start + m.start() for m in _other_genes_in(masked, index, result_from)]


def _gene_for(
    at: int, mentions: list[tuple[int, str]], carried: tuple[int, str | None], allowed: Callable[[int, str, int], bool],
    boundary: int,
    title: _Title,
) -> str | None:
    """The gene a change at `at` belongs to: named nearest before it in its clause, else after it in the clause,
    else the one named last before; the title's genes only count for the result when the title names one gene."""
    usable = [(p, g) for p, g in mentions if allowed(p, g, at)]
    before = [g for p, g in usable if p < at]
    if before:
        return before[-1]
    if usable:
        return usable[0][1]
    position, gene = carried
    if at >= boundary > position:
        return title.gene
    return gene


def _known_change(text: str, index: VariantIndex) -> bool:
    return any(index.genes_with_protein.get(c.hgvs) for c in protein_changes(text))


def _candidates(protein: str | None, title: _Title, index: VariantIndex) -> tuple[str, ...]:
    """Who an unattributed change may belong to: the title's genes; with no gene named, the knowledge base's genes
    for that protein change. Nothing when neither holds a gene the knowledge base knows."""
    if title.candidates:
        known = bool(title.genes) or bool(protein and index.genes_with_protein.get(protein))
        return title.candidates if known else ()
    return tuple(index.genes_with_protein.get(protein or "", ()))


def read_observation(observation: Resource, knowledge: Knowledge) -> list[Reading]:
    """The findings one result holds (and variants it names without their gene); none for a preliminary result or
    one about no known gene."""
    if not is_result(observation):
        return []
    reading = knowledge.genomics.reading
    if has_coding(observation.get("code"), reading.system, reading.variant_code):
        return _with_lab_significance(
            _from_components(observation, knowledge, _where_and_when(observation)), observation, knowledge)
    if "valueQuantity" in observation:  # a number (a blood count, an IS ratio) never names a variant
        return []
    value = observation.get("valueCodeableConcept")
    if any(c.get("system") == reading.hgvs_system for c in codings(value)):
        found = _from_coded_value(observation, knowledge, _where_and_when(observation))
    else:
        found = _from_text(observation, knowledge, _where_and_when(observation))
    return _with_lab_significance(found, observation, knowledge)


_SIGNIFICANCE_COMPONENT = "53037-8"  # LOINC: Genetic variation clinical significance


def _with_lab_significance(found: list[Reading], observation: Resource, knowledge: Knowledge) -> list[Reading]:
    """The laboratory's "uncertain significance" on the one change the result reports: from a 53037-8
    clinical-significance component, or from the clause naming the change, never from a disclaimer elsewhere in
    the report ("variants of uncertain significance are not reported") nor from a result naming several changes,
    of any gene (whose classification it is would be a guess)."""
    index = knowledge.variants
    pattern = index.not_actionable_pattern
    detected = [r for r in found if isinstance(r, VariantFinding) and r.detected]
    if pattern is None or len(detected) != 1:
        return found
    finding = detected[0]
    said = None
    if finding.read_from == "components":
        reading = knowledge.genomics.reading
        for component in _components_by_code(observation, reading).get(_SIGNIFICANCE_COMPONENT, ()):
            said = next((m.group(1) for t in _value_texts(component) if (m := pattern.search(t))), said)
    else:
        texts = _value_texts(observation)
        if sum(len(_changes_at(clause)) for t in texts for _, clause in _clauses(t, index)) != 1:
            return found
        for t in texts:
            for _, clause in _clauses(t, index):
                if _changes_at(clause) and not index.negative_pattern.search(clause) \
                        and (m := pattern.search(clause)):
                    said = m.group(1)
    if said is None:
        return found
    return [replace(r, lab_significance=said) if r is finding else r for r in found]


def _where_and_when(observation: Resource) -> dict[str, Any]:
    # Built only for results that may name a variant: most of a record is blood counts.
    return {"observation": local_reference(observation), "when": observation_time(observation)}


def genomic_readings(
    observations: list[Resource] | tuple[Resource, ...], knowledge: Knowledge
) -> tuple[list[VariantFinding], list[UnattributedChange]]:
    """Every finding in the patient's results, and every variant named without its gene, newest first."""
    readings = [r for obs in observations for r in read_observation(obs, knowledge)]
    readings.sort(key=lambda r: r.when or "", reverse=True)
    findings = [r for r in readings if isinstance(r, VariantFinding)]
    unattributed = [r for r in readings if isinstance(r, UnattributedChange)]
    return findings, [u for u in unattributed if not _named_elsewhere(u, findings)]


def _named_elsewhere(change: UnattributedChange, findings: list[VariantFinding]) -> bool:
    """Another result names this change with one of its candidate genes: the gene is known after all."""
    return any(
        f.detected and f.gene in change.candidates and f.protein == change.protein
        and (change.protein or f.exon == change.exon)
        for f in findings
    )


def genomic_findings(observations: list[Resource] | tuple[Resource, ...], knowledge: Knowledge) -> list[VariantFinding]:
    """Every finding in the patient's results, newest first."""
    return genomic_readings(observations, knowledge)[0]


def detected_variants(findings: tuple[VariantFinding, ...]) -> list[VariantFinding]:
    """Variants found, the newest report of each; a report that gives the change's exon wins over a newer one that
    does not ("KIT exon 18 p.Ala829Pro", then "KIT p.Ala829Pro"): a change's exon is the same in every report, and
    the card then cites the report that says it."""
    newest: dict[tuple[str, str | None, int | None], VariantFinding] = {}
    for finding in findings:
        if finding.detected:
            kept = newest.setdefault(finding.key, finding)
            if kept.exon is None and finding.exon is not None:
                newest[finding.key] = finding
    return list(newest.values())


def later_negative(variant: VariantFinding, findings: tuple[VariantFinding, ...]) -> VariantFinding | None:
    """A result newer than `variant` that reports that same variant absent."""
    for finding in findings:
        if not finding.detected and finding.key == variant.key and (finding.when or "") > (variant.when or ""):
            return finding
    return None


def classed_not_actionable(finding: VariantFinding, index: VariantIndex) -> bool:
    """The laboratory classed the variant as of uncertain or no clinical significance, and the mutation table does
    not name the change (only a gene's or an exon's row would read it): not read as a resistance mutation. A change
    the table names (T315I) keeps the table's reading whatever the classification says."""
    if finding.lab_significance is None:
        return False
    meaning = index.meaning(finding.gene, finding.protein, finding.exon)
    return meaning is None or meaning.protein is None


def actionable_variants(findings: tuple[VariantFinding, ...], index: VariantIndex) -> list[VariantFinding]:
    """`detected_variants` less those the laboratory classed as not actionable (`classed_not_actionable`)."""
    return [f for f in detected_variants(findings) if not classed_not_actionable(f, index)]
