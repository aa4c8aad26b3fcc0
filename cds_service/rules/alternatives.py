"""The alternatives to an inducer that a source names (interactions.toml [alternatives]), each with its source and
status, and what the sources leave to the prescriber. An inducer no source gives an alternative for says so: the
service never names an alternative of its own.
"""

from dataclasses import dataclass
from functools import lru_cache

from cds_service.knowledge import Knowledge


@dataclass(frozen=True, slots=True)
class AlternativeText:
    """Nested list items for the card's "prefer an alternative" step, and the sources they cite."""

    items: tuple[str, ...]
    cited: tuple[tuple[str, str], ...]
    any_named: bool


def _inducing(knowledge: Knowledge, agent: str | None) -> str:
    inducer = knowledge.inducers.get(agent) if agent else None
    return f", itself a {inducer.strength} CYP3A inducer" if inducer else ""


@lru_cache(maxsize=256)  # knowledge-only text, the same for every call with these inducers
def alternatives_for(inducers: tuple[str, ...], knowledge: Knowledge, brief: bool = False) -> AlternativeText:
    """One item per alternatives set that covers any of `inducers`, then one for the inducers none covers.

    `brief`: each alternative by name and status only (and whether it induces CYP3A itself), for a card that keeps
    its detail short; what each source says of it is on the card's evidence page."""
    items: list[str] = []
    cited: dict[str, str] = {}
    sets = list(dict.fromkeys(s for i in inducers for s in knowledge.alternatives_for.get(i, ())))
    any_named = False
    for set_id in sets:
        alternatives = knowledge.interactions.alternatives[set_id]
        covered = ", ".join(knowledge.ingredients[i].name for i in inducers if i in alternatives.for_)
        if brief and len({o.status for o in alternatives.options}) == 1 and not any(
                _inducing(knowledge, o.agent) for o in alternatives.options):
            # One status for all: "**a** or **b** (status V2)".
            options = " or ".join(f"**{o.name}**" for o in alternatives.options) + (
                f" (status {alternatives.options[0].status})")
        elif brief:
            options = "; ".join(f"**{o.name}**{_inducing(knowledge, o.agent)} (status {o.status})"
                                for o in alternatives.options)
        else:
            options = "; ".join(f"**{o.name}**: {o.text} ({knowledge.cite_short(o.sources)}, status {o.status})"
                                for o in alternatives.options)
        any_named = any_named or bool(alternatives.options)
        line = f"For {covered} ({alternatives.indication}): "
        line += f"{options}. " if options else ""
        # A brief card states each option's status; the set's own status is on the evidence page.
        line += alternatives.to_decide if brief else f"{alternatives.to_decide} (status {alternatives.status})"
        items.append(line)
        for option in alternatives.options:
            for source in option.sources:
                cited.setdefault(source, f"{option.name} as an alternative")
        for source in alternatives.sources:
            cited.setdefault(source, f"alternatives for {alternatives.indication}")
    uncovered = [knowledge.ingredients[i].name for i in inducers if not knowledge.alternatives_for.get(i)]
    if uncovered:
        items.append(
            f"For {', '.join(uncovered)}: no source in the knowledge base names an alternative; choose with the "
            "prescriber and pharmacy."
        )
    return AlternativeText(tuple(items), tuple(cited.items()), any_named)


def nested(items: tuple[str, ...]) -> str:
    """Items as a list nested under a numbered step (three spaces: CommonMark's indent for "1. ")."""
    return "\n".join(f"   - {item}" for item in items)
