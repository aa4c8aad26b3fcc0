"""The imatinib dose being ordered, checked on its own: against the range any source gives, the label's range, and a
child's dose by body-surface area.

Only the inducer card read the draft's dose, so without an inducer an order of 4000 mg/day, 800 mg/day for a
10-year-old of 1.06 m² or "1 tablet" of no known strength answered `{"cards": []}`, which a client shows as all
clear. With a strong inducer the inducer card says all of this in its dose line, so this card stays away.
"""

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Card, Indicator
from cds_service.rules.common import (
    card_source,
    evidence_lines,
    fit_summary,
    footer,
    imatinib_drafts,
    override,
    section,
    several_imatinib_orders,
)
from cds_service.rules.inducers import daily_dose, find_interactions
from cds_service.rules.paediatric import paediatric_limit, per_m2_in_mg

TOPIC = "imatinib-dose-check"
CONSULTED = ("patient", "vitalSigns")


def dose_check_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    # The inducer card reads the dose itself, except for a child whose dose it cannot compute (no usable weight
    # and height): it then stops before the dose, saying why ("No dose suggestion: ..."), so the check here speaks
    # only for a dose above the 600 mg/day no child's dose exceeds.
    no_bsa = isinstance(paediatric_limit(facts, knowledge), str)
    by_inducer_card = {id(i.imatinib) for i in find_interactions(facts, knowledge)
                       if i.management == "dose-increase"}
    if no_bsa:
        max_mg = knowledge.imatinib.paediatric.max_daily_mg
        by_inducer_card = {ident for ident in by_inducer_card
                           if not any(id(use) == ident and _above(use, max_mg, facts, knowledge)
                                      for use in imatinib_drafts(facts))}
    drafts = [use for use in imatinib_drafts(facts) if not facts.plan.removal_of(use.reference)]
    if len(drafts) > 1:
        # Each may be a dose on its own; together they may not be. The inducer card, when there is one, says so.
        covered = any(id(use) in by_inducer_card for use in drafts)
        several = several_imatinib_orders(facts, knowledge)
        return [] if covered or several is None else [_several_card(drafts, several, facts, knowledge)]
    return [card for use in drafts if id(use) not in by_inducer_card
            and (card := _dose_card(use, facts, knowledge)) is not None]


def _above(use: MedicationUse, max_mg: int, facts: PatientFacts, knowledge: Knowledge) -> bool:
    dose = daily_dose(use, facts, knowledge)[0]
    return dose is not None and dose.daily_mg > max_mg


def _several_card(drafts: list[MedicationUse], several: str, facts: PatientFacts, knowledge: Knowledge) -> Card:
    dosing = knowledge.imatinib.dosing
    doses = [daily_dose(use, facts, knowledge)[0] for use in drafts]
    total = sum(dose.daily_mg for dose in doses if dose is not None)
    unread = any(dose is None for dose in doses)
    over = total > dosing.labelled_daily_mg.max_mg
    cited = {s: "the labelled and plausible daily doses" for s in (*dosing.labelled_daily_mg.sources,
                                                                    *dosing.plausible_daily_mg.sources)}
    summary = (f"{len(drafts)} imatinib orders written together: {total:g} mg/day if all are taken"
               + (", above the labelled maximum" if over else ""))
    return _card(summary, "warning" if over or unread else "info",
                 [f"{several[0].upper()}{several[1:]}.", "**What to do**: keep one order with the whole daily dose."],
                 cited, drafts[0], facts, knowledge)


def _dose_card(use: MedicationUse, facts: PatientFacts, knowledge: Knowledge) -> Card | None:
    dosing, paediatric = knowledge.imatinib.dosing, knowledge.imatinib.paediatric
    dose, problem, note = daily_dose(use, facts, knowledge)
    child = paediatric_limit(facts, knowledge)
    cited: dict[str, str] = {}
    indicator: Indicator = "info"
    if dose is None:
        summary = "Imatinib order: the dose cannot be checked as written"
        found = f"The imatinib dose being ordered cannot be read: {problem}."
        todo = ("**What to do**: write the dose in mg (or in tablets of a named strength) with its frequency, so "
                "that it can be checked.")
        if "check the order" in problem:  # outside any dose a source gives, or per kg: a typing error, likely
            summary, indicator = "Imatinib order: the dose as written is not an imatinib dose; check the order", \
                "warning"
            found = f"The imatinib dose being ordered is not one to act on: {problem}."
            todo = "**What to do**: check the dose, its unit and its frequency before signing."
        cited.update({s: "the labelled and plausible daily doses" for s in (*dosing.labelled_daily_mg.sources,
                                                                             *dosing.plausible_daily_mg.sources)})
    elif isinstance(child, str) and dose.daily_mg <= paediatric.max_daily_mg:
        # Never a silent all clear: a 600 mg/day order for a 3-year-old with no weight on record answered no card.
        summary = (f"Imatinib {dose.daily_mg:g} mg/day for a child: not checked against "
                   f"{paediatric.dose_mg_per_m2:g} mg/m²/day, no usable weight and height")
        found = (f"{child}. The order is **{dose.daily_mg:g} mg/day**; without a BSA it cannot be checked against "
                 f"{paediatric.dose_mg_per_m2:g} mg/m²/day, only against the {paediatric.max_daily_mg} mg/day that "
                 f"no child's dose exceeds.{note and ' ' + note.strip()}")
        todo = ("**What to do**: record a current weight and height (or correct the one on record), so that the dose "
                f"can be checked by body-surface area ({paediatric.dose_mg_per_m2:g} mg/m² x BSA, at most "
                f"{paediatric.max_daily_mg} mg/day); until then, check the dose against the child's size.")
        cited.update({s: "the dose in children" for s in (*paediatric.sources, *paediatric.bsa_sources)})
    elif isinstance(child, str):
        summary = (f"Imatinib {dose.daily_mg:g} mg/day for a child: above the {paediatric.max_daily_mg} mg/day "
                   "paediatric maximum")
        found = f"{child}. The order is {dose.daily_mg:g} mg/day, above {paediatric.max_daily_mg} mg/day at any BSA."
        todo = "**What to do**: check the dose; record a current weight and height to dose by BSA."
        indicator = "warning"
        cited.update({s: "the dose in children" for s in paediatric.sources})
    elif child is not None:
        # Too high only above 340 mg/m² x BSA: 250 mg/day for 0.80 m² (272 mg/day) is within it.
        if dose.daily_mg <= child.by_bsa_mg:
            return _labelled_card(use, facts, knowledge, dose.daily_mg)
        over = dose.daily_mg > paediatric.max_daily_mg
        summary = (f"Imatinib {dose.daily_mg:g} mg/day for a child of {child.bsa.m2:.2f} m²: above "
                   f"{'the 600 mg/day paediatric maximum' if over else 'the dose by body-surface area'}")
        rule = f"{paediatric.dose_mg_per_m2:g} mg/m²/day"
        above = (f"above the {paediatric.max_daily_mg} mg/day paediatric maximum" if over
                 else f"above the {child.by_bsa_mg} mg/day of {rule}")
        found = f"{child.text} The order is **{dose.daily_mg:g} mg/day**, {above}.{note and ' ' + note.strip()}"
        step = min(knowledge.imatinib.dosing.tablet_strengths_mg)
        most = (f"the most within it in half tablets (the {step} mg tablet is scored) is {child.half_tablets_mg} "
                "mg/day" if child.half_tablets_mg else f"that is less than half a {step} mg tablet")
        todo = (f"**What to do**: check the dose: {rule} is {child.by_bsa_mg} mg/day for this BSA; {most}."
                if not over else
                f"**What to do**: check the dose: a child's dose is never above {paediatric.max_daily_mg} mg/day "
                f"({rule} x {child.bsa.m2:.2f} m² is "
                f"{per_m2_in_mg(paediatric.dose_mg_per_m2, child.bsa):.0f} mg/day).")
        indicator = "warning"
        cited.update({s: "the dose in children" for s in (*paediatric.sources, *paediatric.bsa_sources)})
    else:
        return _labelled_card(use, facts, knowledge, dose.daily_mg)
    return _card(summary, indicator, [found, todo], cited, use, facts, knowledge)


def _labelled_card(use: MedicationUse, facts: PatientFacts, knowledge: Knowledge, daily_mg: float) -> Card | None:
    """A dose that was read but lies outside the label's daily doses (e.g. 1000 mg/day): flagged, not refused."""
    labelled = knowledge.imatinib.dosing.labelled_daily_mg
    if labelled.contains(daily_mg):
        return None
    found = (f"The imatinib dose being ordered is **{daily_mg:g} mg/day**, outside the labelled daily doses, "
             f"{labelled.text}.")
    cited = {s: "the labelled daily doses" for s in labelled.sources}
    return _card(f"Imatinib {daily_mg:g} mg/day: outside the labelled {labelled.text}", "info",
                 [found, "**What to do**: check the dose is intended."], cited, use, facts, knowledge)


def _card(summary: str, indicator: Indicator, blocks: list[str], cited: dict[str, str], use: MedicationUse,
          facts: PatientFacts, knowledge: Knowledge) -> Card:
    return Card(
        summary=fit_summary(summary),
        detail="\n\n".join([*blocks, section("**Evidence**", evidence_lines(knowledge, cited)),
                            footer(knowledge, facts, [use], CONSULTED)]),
        indicator=indicator,
        source=card_source(knowledge, TOPIC, "The imatinib dose being ordered"),
        overrideReasons=[override("dose-intended", "The dose is intended")],
    )
