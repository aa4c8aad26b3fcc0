"""Pieces every card shares: where it comes from, how its evidence is cited, which data it could not check."""

from collections.abc import Iterable
from functools import lru_cache

from cds_service.facts import PatientFacts
from cds_service.facts.genomics import VariantFinding
from cds_service.facts.medications import MedicationUse
from cds_service.gather.prefetch import PREFETCH_BY_KEY
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import Strategy
from cds_service.protocol.cards import Coding, OverrideReason, Source, escape_markdown

SERVICE_LABEL = "Imatinib CDS"
TOPIC_SYSTEM = "urn:imatinib-cds:card-topic"
OVERRIDE_SYSTEM = "urn:imatinib-cds:override-reason"
MAX_SUMMARY = 139
# How each evidence level of a combination strategy reads on a card.
EVIDENCE_LEVELS = {
    "published-trial": "registered trial, results published",
    "registered-trial": "registered trial",
    "review-only": "the review's claim only; no registered trial known",
}


@lru_cache(maxsize=256)  # one per knowledge base and card topic, built once (Source is frozen)
def card_source(knowledge: Knowledge, topic_code: str, topic_display: str) -> Source:
    return Source(
        label=f"{SERVICE_LABEL} (knowledge base {knowledge.version})",
        topic=Coding(system=TOPIC_SYSTEM, code=topic_code, display=topic_display),
    )


@lru_cache(maxsize=256)  # a fixed list per card kind, built once (OverrideReason is frozen)
def override(code: str, display: str) -> OverrideReason:
    return OverrideReason(code=code, system=OVERRIDE_SYSTEM, display=display)


def each_once(uses: Iterable[MedicationUse]) -> list[MedicationUse]:
    """Each use once, in the order given: an order of two interacting ingredients (lopinavir with ritonavir) is one
    order, so one line and one suggestion, however many of its ingredients a card is about."""
    return list({id(use): use for use in uses}.values())


def imatinib_drafts(facts: PatientFacts) -> list[MedicationUse]:
    """The imatinib orders being decided in this call."""
    return [m for m in facts.medications if "imatinib" in m.ingredients and m.origin == "draft" and m.under_decision]


def several_imatinib_orders(facts: PatientFacts, knowledge: Knowledge) -> str | None:
    """Why no dose is written when more than one imatinib order is being decided at once, or None.

    Each card used to raise its own draft: two 400 mg orders with rifampin came back as two +50 % updates, 1200
    mg/day if both were accepted. Whether two orders are one regimen (a twice-daily dose written as two) or a
    duplicate is the prescriber's to say, so no card changes either dose.
    """
    drafts = imatinib_drafts(facts)
    if len(drafts) < 2:
        return None
    doses = [draft.dose(knowledge).dose for draft in drafts]
    if all(dose is not None for dose in doses):
        daily = [dose.daily_mg for dose in doses if dose is not None]
        amounts = f" ({' and '.join(f'{mg:g} mg/day' for mg in daily)}: {sum(daily):g} mg/day if all are taken)"
    else:
        amounts = " (not every dose can be read)"
    return (f"{len(drafts)} imatinib orders are being written together{amounts}: check whether they are one "
            "regimen (a twice-daily dose written as two orders) or a duplicate, and keep one order")


def fit_summary(text: str) -> str:
    return text if len(text) <= MAX_SUMMARY else text[: MAX_SUMMARY - 1].rstrip() + "…"


def section(heading: str, *blocks: str) -> str:
    """A bold heading as its own paragraph, then its blocks, each a paragraph or a list.

    CDS clients render `detail` as CommonMark, where a single newline is a space: without the blank lines the
    heading runs into its first sentence (the CDS Hooks sandbox showed the genomic cards as one paragraph).
    """
    return "\n\n".join((heading, *blocks))


def evidence_pointer() -> str:
    """Where a brief card's evidence is: every source, its status and what it says are on the topic's page, which
    the card links (its detail stays short enough to read at the order; a pharmacist follows the link)."""
    return "_Every source and its status: the evidence link._"


def evidence_lines(knowledge: Knowledge, cited: dict[str, str]) -> str:
    """A markdown list of sources: `cited` maps a source id to what it supports."""
    lines = []
    for source_id, supports in cited.items():
        source = knowledge.sources[source_id]
        lines.append(f"- {supports}: {source.citation} (status {source.status})")
    return "\n".join(lines)


def footer(
    knowledge: Knowledge, facts: PatientFacts, uses: list[MedicationUse], consulted: tuple[str, ...] = (),
    *, legend: bool = True,
) -> str:
    """How drugs were recognised (a brand of several ingredients: what it contains, and the label that says so),
    which of the data the card `consulted` could not be had, and the KB version."""
    notes = []
    for use in each_once(uses):
        if use.identity.recognised_by == "name":
            notes.append(
                f"'{escape_markdown(use.display)}' was recognised by its name, not by a code the knowledge base knows."
                + "".join(f" {brand_contents(knowledge, b)}" for b in use.identity.brands)
            )
    for key, reason in sorted(facts.unavailable.items()):
        if key in consulted:
            notes.append(not_checked_line(key, reason))
    # A brief card leaves the legend of the statuses to its evidence page (`evidence_pointer` says so).
    notes.append(f"Knowledge base {knowledge.version} ({knowledge.manifest.released})." + (
        " Status: V = seen in the source, V2 = seen in a secondary source, U = not confirmed, derived = computed "
        "from sourced values." if legend else ""
    ))
    return "\n\n".join(f"_{note}_" if not note.startswith("_") else note for note in notes)


def not_checked_line(key: str, reason: str) -> str:
    """How a card names data it could not have: in words a clinician reads, never the prefetch key."""
    return f"{not_checked_prefix(key)} ({reason})."


def not_checked_prefix(key: str) -> str:
    query = PREFETCH_BY_KEY.get(key)
    return f"Not checked: {query.label if query else key}"


def in_words(names: list[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def brand_ingredients(use: MedicationUse, about: Iterable[str], knowledge: Knowledge) -> str | None:
    """Which of a brand's ingredients a card is about ("lopinavir and ritonavir"), when the order names only a
    brand of several (Kaletra): the brand's name alone does not say. None for any other order."""
    names = [knowledge.ingredients[i].name for i in sorted(about)]
    return in_words(names) if use.identity.brands and names else None


def as_found(use: MedicationUse, about: Iterable[str], knowledge: Knowledge) -> str:
    """A use as "Found:" lists it: its own name and where it is in the record, with the ingredients `about` which
    the card is when that name is a brand of several ("Kaletra 200 mg/50 mg tablet (lopinavir and ritonavir;
    being ordered now)")."""
    parts = [brand_ingredients(use, about, knowledge), origin_phrase(use)]
    return f"{escape_markdown(use.display)} ({'; '.join(p for p in parts if p)})"


def brand_contents(knowledge: Knowledge, brand_id: str) -> str:
    """What a brand of several ingredients contains, and the label that says so."""
    brand = knowledge.brands[brand_id]
    others = f", with {in_words(brand.others)}" if brand.others else ""
    labels = "; ".join(f"{knowledge.sources[s].short}, status {knowledge.sources[s].status}" for s in brand.sources)
    return (f"{brand.name} contains {in_words([knowledge.ingredients[i].name for i in brand.ingredients])}{others} "
            f"({labels}).")


def origin_phrase(use: MedicationUse) -> str:
    return {
        "draft": "being ordered now",
        "order": "an active order",
        "statement": "recorded as taken",
        "history": "an earlier order",
    }[use.origin]


def claim_line(knowledge: Knowledge, strategy: Strategy) -> str | None:
    """What the review claims for a strategy, with the status of the source that claims it."""
    if not strategy.claim:
        return None
    statuses = ", ".join(dict.fromkeys(knowledge.sources[s].status for s in strategy.claim_sources))
    return f"{strategy.claim} (status {statuses})"


def agent_names(knowledge: Knowledge, ingredient_ids: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    return ", ".join(knowledge.ingredients[i].name for i in ingredient_ids)


def finding_source(finding: VariantFinding) -> str:
    """Which result a variant was read from, its date, and how: cards must say whether it came from text."""
    where = finding.observation or "an Observation without id"
    evidence = escape_markdown(finding.evidence if len(finding.evidence) <= 200 else finding.evidence[:199] + "…")
    how = {
        "components": f"its structured variant components ({evidence})",
        "coded value": f"its coded HGVS value ({evidence})",
        "text": f"its text, “{evidence}”",
    }[finding.read_from]
    note = " The result gives no Present/Absent value; read as found." if finding.assessment_missing else ""
    if finding.unclear_value is not None:
        note = (f" Its value, “{escape_markdown(finding.unclear_value[:120])}”, says neither Present nor Absent; read "
                "as found, as the safer reading: confirm the result with the laboratory.")
    return f"{where}, reported {finding.date}, read from {how}.{note}"
