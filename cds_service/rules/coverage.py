"""Never a silent all-clear: when data the checks need could not be had, one card says what was not checked.

A CDS client shows an empty answer as "No recommendations. All clear!", and a prescriber reads that as safety. So
when the order being written is one the rules are about (imatinib, or a medicine that meets it), and part of the
record they read is missing, the answer says so in a card, with what the gap could hide and what to do by hand.
Cards that fire name their own gaps ("Not checked: ..."); this card lists only the gaps no other card names.
"""

from dataclasses import dataclass

from cds_service.facts import PatientFacts
from cds_service.gather.prefetch import PREFETCH_BY_KEY
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Card, escape_markdown
from cds_service.rules.common import card_source, fit_summary, footer, not_checked_prefix


@dataclass(frozen=True, slots=True)
class DataNeed:
    """A part of the record an order being written is checked against, and what its absence could hide."""

    key: str
    hides: str


# Imatinib being ordered is checked against everything else the patient takes and the variant results.
_IMATINIB_NEEDS = (
    DataNeed("activeMedications", "a CYP3A4 inducer or inhibitor, or another tyrosine-kinase inhibitor, already "
                                  "ordered"),
    DataNeed("medicationStatements", "a medicine taken without an order here, such as St John's wort"),
    DataNeed("genomicVariants", "a resistance variant such as BCR-ABL1 T315I or PDGFRA D842V"),
    DataNeed("labResults", "a resistance variant reported as text, or an imatinib level"),
)
# Any other medicine the rules know is checked against imatinib the patient may already take.
_PARTNER_NEEDS = (
    DataNeed("activeMedications", "an active imatinib order"),
    DataNeed("medicationStatements", "imatinib recorded as taken"),
)
_TKI_NEEDS = (
    DataNeed("genomicVariants", "a BCR-ABL1 variant this tyrosine-kinase inhibitor should avoid"),
    DataNeed("labResults", "a BCR-ABL1 variant reported as text"),
)
_PD1_NEEDS = (DataNeed("conditions", "inflammatory bowel disease"),)


def _needs(facts: PatientFacts, knowledge: Knowledge) -> dict[str, list[str]]:
    """What the orders being written need, by prefetch key, with what each gap could hide."""
    needs: dict[str, list[str]] = {}
    pd1 = knowledge.combinations.classes.get("pd-1-inhibitor")
    for order in facts.draft_orders:
        if not order.under_decision or not order.ingredients:
            continue
        found: list[DataNeed] = []
        if "imatinib" in order.ingredients:
            found += _IMATINIB_NEEDS
        else:
            found += _PARTNER_NEEDS
            if any(knowledge.ingredients[i].role == "tki" for i in order.ingredients):
                found += _TKI_NEEDS
            if pd1 is not None and order.ingredients & frozenset(pd1.members):
                found += _PD1_NEEDS
        for need in found:
            hides = needs.setdefault(need.key, [])
            if need.hides not in hides:
                hides.append(need.hides)
    return needs


# A card about one of these alone says what it is about in its summary.
_ONE_GAP_SUMMARY = {
    "an imatinib level dated after today": "Imatinib level dated after today: not used; check its date with the "
                                           "laboratory",
    "an imatinib level under a code it does not know": "Imatinib level under a code the service does not read: not "
                                                       "used; check it by hand",
}
MAX_UNCODED_NAMED = 3  # the latest few; more would bury the card's point


def coverage_card(facts: PatientFacts, knowledge: Knowledge, cards: list[Card]) -> Card | None:
    """One info card naming the data the orders being written needed and could not have, or None."""
    needs = _needs(facts, knowledge)
    named = " ".join(card.detail or "" for card in cards)
    gaps = [
        (key, reason, hides)
        for key, hides in needs.items()
        if (reason := facts.unavailable.get(key)) is not None and not_checked_prefix(key) not in named
    ]
    unresolved = sorted(ref for ref in facts.unresolved_medications if ref not in named)
    misdated = facts.levels_dated_later if needs else ()
    uncoded = facts.levels_uncoded[:MAX_UNCODED_NAMED] if needs else ()
    if not gaps and not (unresolved and needs) and not misdated and not uncoded:
        return None
    labels = [PREFETCH_BY_KEY[key].label for key, _, _ in gaps]
    if unresolved:
        labels.append("some medicines on the record")
    if misdated:
        labels.append("an imatinib level dated after today")
    if uncoded:
        labels.append("an imatinib level under a code it does not know")
    drugs = "imatinib" if any("imatinib" in d.ingredients for d in facts.draft_orders if d.under_decision) else (
        ", ".join(sorted({d.display for d in facts.draft_orders if d.under_decision and d.ingredients})) or "imatinib"
    )
    lines = [
        f"The checks for {escape_markdown(drugs)} could not see all of the patient's record, so finding nothing "
        "here does not mean there is nothing to find.",
        "",
        "**Not checked**",
        "",
    ]
    for key, reason, hides in gaps:
        lines.append(f"- {PREFETCH_BY_KEY[key].label} ({escape_markdown(reason)}): it could hide "
                     f"{' or '.join(hides)}.")
    for ref in unresolved:
        lines.append(f"- the medicine named by {escape_markdown(ref)} could not be identified "
                     f"({escape_markdown(facts.unresolved_medications[ref])}).")
    for level in misdated:
        where = f" ({escape_markdown(level.reference)})" if level.reference else ""
        dated = level.drawn.shown() if level.drawn else ""
        lines.append(f"- the imatinib level {level.shown}{where} is dated {dated}, after today: a date error in the "
                     "record, so it was not used (not as the latest level, not against the trough target, not in "
                     "the model). Check its date with the laboratory.")
    for found in uncoded:
        level = found.level
        where = f", {escape_markdown(level.reference)}" if level.reference else ""
        dated = f" on {level.drawn.shown()}" if level.drawn else ""
        codes = f" (code {escape_markdown(found.codes)})" if found.codes else " (no code)"
        lines.append(f"- “{escape_markdown(found.name)}”{codes}{where}: {escape_markdown(level.shown)}{dated}, named "
                     "as imatinib but not under a LOINC code the service reads as an imatinib level "
                     f"({', '.join(sorted(c for _, c in knowledge.level_codes))}), so it was not used (not against "
                     "the trough target, not in the model). Check it by hand, or ask the laboratory to send it "
                     "with its LOINC code.")
    lines += [
        "",
        "**What to do**",
        "",
        "- Check what is listed above by hand before signing: the patient's current medicines (orders, and medicines "
        "taken without an order here, St John's wort included) for CYP3A4 inducers and inhibitors and other "
        "tyrosine-kinase inhibitors, and the molecular results for resistance variants.",
        "- If the EHR can send this data, the service will check it on the next order.",
        "",
        footer(knowledge, facts, []),
    ]
    return Card(
        summary=fit_summary(
            _ONE_GAP_SUMMARY[labels[0]] if len(labels) == 1 and labels[0] in _ONE_GAP_SUMMARY else
            f"Imatinib interaction check incomplete: {_joined(labels)} could not be read"),
        detail="\n".join(lines),
        indicator="info",
        source=card_source(knowledge, "imatinib-check-incomplete", "Imatinib check incomplete: data not available"),
    )


def _joined(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
