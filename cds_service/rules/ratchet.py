"""No second +50 % for the same inducer: a dose already raised while the inducer ran is not raised again.

A patient on a lifelong inducer (an antiepileptic) whose imatinib was raised for it comes back for renewals; each
renewal is a new draft, and without the history every one of them would be offered +50 % again (600, then 800).
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.facts.timeline import Instant, written_on
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import escape_markdown
from cds_service.rules.common import origin_phrase

if TYPE_CHECKING:
    from cds_service.rules.de_induction import DoseEvent


@dataclass(frozen=True, slots=True)
class AlreadyRaised:
    raised: "DoseEvent"  # the first dose above the baseline while the inducer ran
    baseline_mg: float
    baseline_from: str  # "before carbamazepine started on 2024-03-01" or "the standard dose for CML"
    inducer_name: str
    inducer_since: Instant

    def text(self) -> str:
        since = self.raised.on.shown() if self.raised.on else "an undated order"
        return (
            f"imatinib was already raised while {self.inducer_name} ran: {self.raised.daily_mg:g} mg/day since "
            f"{since} ({escape_markdown(self.raised.use.display)}, {origin_phrase(self.raised.use)}), up from "
            f"{self.baseline_mg:g} "
            f"mg/day ({self.baseline_from}); {self.inducer_name} since {self.inducer_since.shown()}"
        )


def standard_daily_mg(facts: PatientFacts, knowledge: Knowledge) -> tuple[float, str]:
    """The indication's standard daily dose, and its name; the lowest standard dose when the indication is unknown."""
    dosing = {d.indication: d for d in knowledge.imatinib.dosing.indications}
    diagnosis = facts.indication()
    if diagnosis is not None:
        key: Literal["cml-chronic", "cml-advanced", "gist"] = "gist" if diagnosis.id == "gist" else (
            "cml-advanced" if diagnosis.group.phase in ("accelerated", "blast") else "cml-chronic")
        return float(dosing[key].standard_daily_mg), f"the standard dose for {diagnosis.group.label}"
    lowest = min(d.standard_daily_mg for d in dosing.values())
    return float(lowest), "the lowest standard dose; the indication is not in the record"


def already_raised(
    inducers: list[tuple[MedicationUse, str]], facts: PatientFacts, knowledge: Knowledge
) -> AlreadyRaised | None:
    """The first imatinib dose on record above the dose before the inducer started (or, with no dose before it,
    above the indication's standard dose), given while an inducer already on record ran."""
    # The dose timeline the de-induction rule reads (imported here: that module imports the inducer rule).
    from cds_service.rules.de_induction import _dose_events

    events = [e for e in _dose_events(facts, knowledge) if e.on is not None]
    found: list[AlreadyRaised] = []
    for use, ingredient in inducers:
        if use.origin == "draft":
            continue  # being ordered now: nothing can have been raised for it yet
        own_start = written_on(use)
        if own_start is None:
            continue
        since, names = _induction_from(own_start, knowledge.ingredients[ingredient].name, facts, knowledge)
        before = [e for e in events if e.on and e.on.at < since.at]
        if before:
            baseline, where = before[-1].daily_mg, f"before {names[0]} started"
        else:
            baseline, where = standard_daily_mg(facts, knowledge)
        raised = next((e for e in events if e.on and e.on.at >= since.at and e.daily_mg > baseline), None)
        if raised is not None:
            found.append(AlreadyRaised(raised, baseline, where, " then ".join(dict.fromkeys(names)), since))
    return min(found, key=lambda f: f.inducer_since.at) if found else None


def _induction_from(
    start: Instant, name: str, facts: PatientFacts, knowledge: Knowledge
) -> tuple[Instant, list[str]]:
    """When the induction an inducer started on `start` belongs to began, and the inducers in it, first first: a
    strong inducer that ran until at least `start` (carbamazepine, then phenytoin started before it stopped) kept
    the patient induced, so a dose raised for the first one is already raised for the next."""
    from cds_service.rules.de_induction import stopped_strong_inducers  # it imports the inducer rule (and this)

    spans = [(i.span.start, i.span.end, knowledge.ingredients[i.ingredient].name)
             for i in stopped_strong_inducers(facts, knowledge)
             if i.span.start is not None and i.span.end is not None and not i.end_unknown]
    names = [name]
    changed = True
    while changed:
        changed = False
        for begun, ended, other in spans:
            if begun is not None and ended is not None and begun.at < start.at <= ended.at:
                start, changed = begun, True
                names.insert(0, other)
    return start, names


def running_strong_inducers(facts: PatientFacts, knowledge: Knowledge) -> list[tuple[MedicationUse, str]]:
    """The strong inducers the patient already takes (active orders, statements): a dose raised for any of them
    is not raised again for another one being ordered now."""
    return [
        (use, ingredient)
        for use in facts.medications
        if use.systemic and use.origin != "draft" and "imatinib" not in use.ingredients
        for ingredient in sorted(use.ingredients)
        if ingredient in knowledge.inducers and knowledge.inducers[ingredient].management == "dose-increase"
    ]


def maybe_raised(
    inducers: list[tuple[MedicationUse, str]], daily_mg: float, facts: PatientFacts, knowledge: Knowledge
) -> str | None:
    """Why a dose above the standard one is not raised when an inducer on record has no start date: the record
    cannot say whether it was raised for that inducer already, so a second +50 % is not offered."""
    undated = [ingredient for use, ingredient in inducers if use.origin != "draft" and written_on(use) is None]
    if not undated:
        return None
    standard, which = standard_daily_mg(facts, knowledge)
    if daily_mg <= standard:
        return None
    name = knowledge.ingredients[undated[0]].name
    return (f"{name} has no start date on record and the dose is already above {which} ({standard:g} mg/day), so "
            f"it may have been raised for {name} already")
