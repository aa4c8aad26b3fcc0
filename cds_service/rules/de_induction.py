"""A strong inducer stopped while imatinib was raised for it: exposure rises as induction wears off.

Fires when an inducer's order or statement ended within the knowledge base's look-back, no inducer is taken now,
and the imatinib dose being ordered (or the active one) is above the dose before the inducer. The card names the
dose before the inducer (from the history), the day to step back to it, and a trough order; once that day has passed
and imatinib is being ordered, it offers the step back itself.

An inducer that stopped while imatinib was never raised gets no card: the unchanged dose returns to the exposure it
gave before the inducer, which is what the sources' step back aims at.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.facts.timeline import Instant, Span, span_of, written_on
from cds_service.knowledge import Knowledge
from cds_service.protocol.cards import Action, Card, Suggestion, escape_markdown
from cds_service.rules.common import (
    brand_ingredients,
    card_source,
    evidence_lines,
    fit_summary,
    footer,
    origin_phrase,
    override,
    several_imatinib_orders,
)
from cds_service.rules.dosing import DoseIncrease, tablets_for
from cds_service.rules.inducers import trough_target
from cds_service.rules.orders import dose_update, trough_order

TOPIC = "imatinib-inducer-stopped"
CONSULTED = ("medicationHistory", "stoppedMedicationStatements", "medicationStatements")
# Orders that were taken (or are): a cancelled or draft order in the history never was.
TAKEN_STATUSES = frozenset({"active", "on-hold", "completed", "stopped", "expired"})
# The ingredient whose de-induction was measured (Inui 2013); for the others it is quoted as measured after it.
MEASURED_AFTER = "rifampin"
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class DoseEvent:
    """An imatinib daily dose, from the day its order was written or its statement began."""

    on: Instant | None
    daily_mg: float
    use: MedicationUse


@dataclass(frozen=True, slots=True)
class EndedInducer:
    use: MedicationUse
    ingredient: str
    span: Span
    # Recorded as stopped or completed with no stop date: `span.end` is today, the latest it can have stopped.
    end_unknown: bool = False


@dataclass(frozen=True, slots=True)
class DeInduction:
    inducer: EndedInducer
    current: DoseEvent  # the dose being ordered now, or the active one
    before: DoseEvent  # the dose before the inducer (or the first one during it, when none is recorded before)
    before_is_pre_inducer: bool
    raised: DoseEvent | None  # the first higher dose during the inducer, when the history has one
    step_back_on: date
    days_since_end: int


def _still_induced(facts: PatientFacts, knowledge: Knowledge) -> bool:
    return any(
        use.systemic and knowledge.inducers[i].strength == "strong"
        for use in facts.medications
        for i in use.ingredients
        if i in knowledge.inducers
    )


def stopped_strong_inducers(facts: PatientFacts, knowledge: Knowledge) -> list[EndedInducer]:
    """Every strong inducer the record shows as taken and since ended, with its span: an end date, or, recorded as
    stopped or completed with none, today (the latest it can have stopped; only for a start within the look-back).
    The step-back card reads those ended within the look-back; the TDM card, whether a level was drawn under one;
    the ratchet, whether an inducer took over from one. Worked out once per call (`PatientFacts.once`)."""
    return facts.once(("stopped strong inducers", id(knowledge)), lambda: _stopped_strong_inducers(facts, knowledge))


def _stopped_strong_inducers(facts: PatientFacts, knowledge: Knowledge) -> list[EndedInducer]:
    lookback = knowledge.interactions.de_induction.lookback_days
    found = []
    for use in (*facts.history, *facts.past_statements):
        if not use.systemic or (use.resource.get("resourceType") != "MedicationStatement"
                                and use.status not in TAKEN_STATUSES):
            continue
        strong = sorted(i for i in use.ingredients if i in knowledge.inducers and knowledge.inducers[i].strength
                        == "strong")
        if not strong:
            continue
        span = span_of(use)
        if span.start is None:
            continue
        if span.end is None:
            # Stopped, with no stop date: it stopped between its start and today. Only a start within the
            # look-back says the stop was recent enough to matter.
            if use.status not in ("stopped", "completed") or (facts.today - span.start.day).days > lookback:
                continue
            today = Instant(datetime.combine(facts.today, time(), UTC), "day", facts.today.isoformat())
            found.append(EndedInducer(use, strong[0], Span(span.start, today, None), end_unknown=True))
        else:
            found.append(EndedInducer(use, strong[0], span))
    return found


def _ended_inducers(facts: PatientFacts, knowledge: Knowledge) -> list[EndedInducer]:
    """Those ended by today, the latest first."""
    found = [e for e in stopped_strong_inducers(facts, knowledge)
             if e.span.end is not None and (facts.today - e.span.end.day).days >= 0]
    return sorted(found, key=lambda e: e.span.end.at if e.span.end else _NEVER, reverse=True)


def _within_lookback(inducer: EndedInducer, facts: PatientFacts, knowledge: Knowledge) -> bool:
    assert inducer.span.end is not None
    return (facts.today - inducer.span.end.day).days <= knowledge.interactions.de_induction.lookback_days


def _dose_events(facts: PatientFacts, knowledge: Knowledge) -> list[DoseEvent]:
    """Every imatinib dose the record dates, once per order (the history repeats the active orders)."""
    events: dict[str, DoseEvent] = {}
    seen_unreferenced: list[DoseEvent] = []
    for use in (*facts.medications, *facts.history, *facts.past_statements):
        if "imatinib" not in use.ingredients or use.origin == "draft":
            continue
        if use.resource.get("resourceType") != "MedicationStatement" and use.status not in TAKEN_STATUSES:
            continue
        reading = use.dose(knowledge)
        on = written_on(use)
        if reading.dose is None or on is None:
            continue
        event = DoseEvent(on, reading.dose.daily_mg, use)
        if use.reference:
            events.setdefault(use.reference, event)
        else:
            seen_unreferenced.append(event)
    return sorted([*events.values(), *seen_unreferenced], key=lambda e: e.on.at if e.on else _NEVER)


def _current(facts: PatientFacts, knowledge: Knowledge) -> DoseEvent | None:
    """The imatinib dose being ordered now, else the active order's or statement's."""
    uses = sorted(
        (m for m in facts.medications if "imatinib" in m.ingredients),
        key=lambda m: (not m.under_decision, {"draft": 0, "order": 1, "statement": 2}.get(m.origin, 3)),
    )
    for use in uses:
        reading = use.dose(knowledge)
        if reading.dose is not None:
            return DoseEvent(None, reading.dose.daily_mg, use)
    return None


def find_de_induction(facts: PatientFacts, knowledge: Knowledge) -> DeInduction | None:
    if _still_induced(facts, knowledge):
        return None
    ended = _ended_inducers(facts, knowledge)
    current = _current(facts, knowledge)
    if not ended or current is None:
        return None
    inducer = ended[0]
    start, end = inducer.span.start, inducer.span.end
    assert start is not None and end is not None
    events = _dose_events(facts, knowledge)
    if not _within_lookback(inducer, facts, knowledge) and not _raise_unchanged_since(inducer, current, events):
        return None
    before_start = [e for e in events if e.on and e.on.at < start.at]
    during = [e for e in events if e.on and start.at <= e.on.at <= end.at]
    before_is_pre = bool(before_start)
    before = before_start[-1] if before_start else (during[0] if during else None)
    if before is None or current.daily_mg <= before.daily_mg:
        return None
    raised = next((e for e in during if e.daily_mg > before.daily_mg), None)
    if not before_is_pre and raised is None:
        return None  # no dose before the inducer and no rise during it: nothing says imatinib was raised for it
    keep = knowledge.interactions.de_induction.keep_adjusted_days
    return DeInduction(
        inducer=inducer,
        current=current,
        before=before,
        before_is_pre_inducer=before_is_pre,
        raised=raised,
        step_back_on=end.day + timedelta(days=keep),
        days_since_end=(facts.today - end.day).days,
    )


def _raise_unchanged_since(inducer: EndedInducer, current: DoseEvent, events: list[DoseEvent]) -> bool:
    """Past the look-back, the record still says the dose is the one raised for the inducer only when imatinib was
    raised while it ran and no other imatinib dose has been recorded since it ended (renewals at the raised dose
    are no change): a dose changed after it (stepped back, or raised again for the response) was someone's later
    decision, and the card would second-guess it."""
    start, end = inducer.span.start, inducer.span.end
    assert start is not None and end is not None
    during = [e for e in events if e.on and start.at <= e.on.at <= end.at]
    since = [e for e in events if e.on and e.on.at > end.at and e.daily_mg != current.daily_mg]  # a renewal is none
    return (not since and bool(during) and not inducer.end_unknown
            and any(e.daily_mg == current.daily_mg for e in during))


def _step_back_suggestion(finding: DeInduction, facts: PatientFacts,
                          knowledge: Knowledge) -> tuple[Suggestion | None, str]:
    """The imatinib draft with the dose before the inducer, or why it cannot be written."""
    use = finding.current.use
    if not (use.origin == "draft" and use.under_decision and use.reference):
        return None, ""
    if (several := several_imatinib_orders(facts, knowledge)) is not None:
        return None, f" (The order is not updated: {several}.)"
    reading = use.dose(knowledge)
    if reading.dose is None:
        return None, f" (The order cannot be updated: {reading.problem}.)"
    dosing = knowledge.imatinib.dosing
    target = finding.before.daily_mg
    administrations = 2 if target >= dosing.twice_daily_from_mg else 1
    per = target / administrations
    try:
        if per != int(per):
            raise ValueError
        tablets = tablets_for(int(per), dosing.tablet_strengths_mg)
    except ValueError:
        return None, f" ({target:g} mg/day is not a whole number of tablets, so the order is not updated.)"
    step = DoseIncrease(
        current_daily_mg=finding.current.daily_mg,
        new_daily_mg=int(target),
        per_administration_mg=int(per),
        administrations_per_day=administrations,
        capped=False,
        tablets=tablets,
    )
    written = dose_update(use, reading.dose, step, reason="stepped back after the CYP3A4 inducer was stopped")
    if isinstance(written, str):
        return None, f" (The order cannot be updated: {written}.)"
    return Suggestion(
        label=f"Step imatinib back to {target:g} mg/day",
        actions=[Action(type="update", description=f"Change the imatinib dose to {written.description}",
                        resource=written.resource)],
    ), ""


def _history_line(finding: DeInduction) -> str:
    def shown(event: DoseEvent) -> str:
        when = f" from {event.on.shown()}" if event.on else ""
        return f"{event.daily_mg:g} mg/day{when} ({escape_markdown(event.use.display)}, {origin_phrase(event.use)})"

    parts = [f"before it: {shown(finding.before)}" if finding.before_is_pre_inducer
             else f"first dose recorded during it: {shown(finding.before)}"]
    if finding.raised is not None:
        parts.append(f"raised during it: {shown(finding.raised)}")
    parts.append(f"now: {finding.current.daily_mg:g} mg/day ({escape_markdown(finding.current.use.display)}, "
                 f"{origin_phrase(finding.current.use)})")
    return "Imatinib " + "; ".join(parts) + "."


def de_induction_card(finding: DeInduction, facts: PatientFacts, knowledge: Knowledge) -> Card:
    facts_de = knowledge.interactions.de_induction
    tdm = knowledge.imatinib.tdm
    inducer = finding.inducer
    name = knowledge.ingredients[inducer.ingredient].name
    end = inducer.span.end
    assert end is not None
    before_mg, current_mg = finding.before.daily_mg, finding.current.daily_mg
    remaining = (finding.step_back_on - facts.today).days
    measured = knowledge.ingredients[MEASURED_AFTER].name
    after = "" if inducer.ingredient == MEASURED_AFTER else f" (measured after {measured})"
    target, target_text = trough_target(facts, knowledge)

    suggestion, problem = (None, "")
    if remaining <= 0:
        suggestion, problem = _step_back_suggestion(finding, facts, knowledge)
        step = (
            f"1. Step imatinib back to **{before_mg:g} mg/day** now: the {facts_de.keep_adjusted_days} days after "
            f"stopping {name} ended on {finding.step_back_on.isoformat()}, and {current_mg:g} mg/day without the "
            f"inducer may over-expose the patient.{problem}"
        )
        draw_on = facts.today + timedelta(days=facts_de.trough_after_dose_change_days)
        draw_why = f"at least {facts_de.trough_after_dose_change_days} days after the step back (ARUP)"
    elif inducer.end_unknown:
        step = (
            f"1. Ask when {name} was stopped: the record gives no stop date. Keep {current_mg:g} mg/day until "
            f"{facts_de.keep_adjusted_days} days after the stop, then step back to **{before_mg:g} mg/day**: by "
            f"**{finding.step_back_on.isoformat()}** at the latest, or now if it stopped more than "
            f"{facts_de.keep_adjusted_days} days ago."
        )
    else:
        step = (
            f"1. Keep {current_mg:g} mg/day until **{finding.step_back_on.isoformat()}** (in {remaining} days, "
            f"{facts_de.keep_adjusted_days} days after {name} stopped), then step back to **{before_mg:g} mg/day**."
        )
    if remaining > 0:
        # The level is for the dose stepped back to: drawn once that dose has run as long as ARUP asks.
        draw_on = finding.step_back_on + timedelta(days=facts_de.trough_after_dose_change_days)
        draw_why = (f"at least {facts_de.trough_after_dose_change_days} days after the step back on "
                    f"{finding.step_back_on.isoformat()} (ARUP), when {name}'s induction is gone")
    # One plan across the cards: an imatinib draft another card removes gets no step back and no trough here, and a
    # trough another card orders is not ordered twice.
    current_use = finding.current.use
    removal = facts.plan.removal_of(current_use.reference if current_use.origin == "draft" else None)
    trough_elsewhere = facts.plan.trough_elsewhere(TOPIC)
    if removal:
        suggestion, step = None, f"1. {removal} For reference,"
    trough_step = (
        f"2. {trough_elsewhere}" if trough_elsewhere and not removal else "" if removal else
        f"2. Check a trough level on or after {draw_on.isoformat()} ({draw_why}). {facts_de.trough_note} "
        f"{target_text} {tdm.sampling}"
    )
    basis = (f"the dose before {name}" if finding.before_is_pre_inducer
             else f"the first dose recorded during {name}; no dose before it is in the history")
    ended_where = inducer.span.end_from or "its end date"
    start = inducer.span.start
    ended = (f"with no stop date: it stopped between {start.shown()}, when it was written, and today"
             if inducer.end_unknown and start is not None else
             f"ended {end.shown()} ({ended_where}), {finding.days_since_end} days ago")
    brand = brand_ingredients(inducer.use, (inducer.ingredient,), knowledge)
    brand_part = f"{brand}; " if brand else ""
    detail = "\n\n".join([
        f"Found: {escape_markdown(inducer.use.display)} ({brand_part}{origin_phrase(inducer.use)}, status "
        f"{inducer.use.status or 'not given'}), {ended}. {_history_line(finding)}",
        "**What happens**\n\n"
        f"Imatinib exposure rises as {name}'s induction wears off. CYP3A activity is back to baseline about "
        f"{facts_de.baseline_after_days} days after {measured} is stopped{after} (status {facts_de.baseline_status}); "
        f"a PBPK study found induction gone after about {facts_de.keep_adjusted_days} days and advises keeping the "
        f"adjusted dose about {facts_de.keep_adjusted_days} days after stopping an inducer, then stepping back "
        f"(status {facts_de.keep_adjusted_status}).",
        "**What to do**\n\n"
        f"{step} {before_mg:g} mg/day is {basis}.\n{trough_step}",
        "**Evidence**\n\n" + evidence_lines(knowledge, {
            **dict.fromkeys(facts_de.baseline_sources, f"CYP3A back to baseline after {measured}"),
            **dict.fromkeys(facts_de.keep_adjusted_sources, "keeping the adjusted dose about 2 weeks, then stepping "
                                                              "back"),
            **dict.fromkeys(facts_de.trough_note_sources, "the trough level"),
            **dict.fromkeys(facts_de.trough_after_dose_change_sources, "the trough's timing after a dose change"),
            **dict.fromkeys(target.sources if target else [], "the trough target"),
        }),
        footer(knowledge, facts, [inducer.use, finding.current.use], CONSULTED),
    ])
    reason = f"Imatinib after stopping CYP3A4 inducer ({name})"
    version = finding.current.use.fhir_version
    trough = trough_order(facts.patient_id, version, facts.today, knowledge, reason, target_text,
                          draw_on=(draw_on, draw_why))
    suggestions = [s for s in (suggestion,) if s] + ([] if removal or trough_elsewhere else [Suggestion(
        label="Order an imatinib trough level",
        actions=[Action(type="create", description="Order an imatinib trough level", resource=trough)],
    )])
    summary = (
        f"{name.capitalize()} recorded as stopped, no stop date: imatinib still {current_mg:g} mg/day; step back to "
        f"{before_mg:g} mg/day {facts_de.keep_adjusted_days} days after the stop"
        if inducer.end_unknown else
        f"{name.capitalize()} stopped {finding.days_since_end} days ago: imatinib still {current_mg:g} mg/day; "
        f"step back to {before_mg:g} mg/day"
        if remaining <= 0
        else f"{name.capitalize()} stopped {finding.days_since_end} days ago: step imatinib back to {before_mg:g} "
        f"mg/day on {finding.step_back_on.isoformat()}"
    )
    if removal:
        summary = (f"{name.capitalize()} stopped {finding.days_since_end} days ago; another card suggests removing the "
                   "imatinib order")
    return Card(
        summary=fit_summary(summary),
        detail=detail,
        indicator="warning",
        source=card_source(knowledge, TOPIC, "Imatinib after a CYP3A4 inducer was stopped"),
        suggestions=suggestions,
        selectionBehavior="any" if suggestions else None,
        overrideReasons=[
            override("inducer-restarting", "The inducer will be restarted"),
            override("dose-already-planned", "The step back is already planned"),
            override("level-already-planned", "Imatinib trough level already planned"),
        ],
    )


def de_induction_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    finding = find_de_induction(facts, knowledge)
    return [de_induction_card(finding, facts, knowledge)] if finding else []
