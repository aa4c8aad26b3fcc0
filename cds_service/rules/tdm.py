"""Therapeutic drug monitoring without an inducer: when the latest imatinib level, read through the population PK
model, gives an individual steady-state trough below the target, say what the level means, the model's proposal
and its trough, every candidate, and the response beside the exposure (issue 13).

The level is fitted (MAP) against the dose history, so a sample drawn hours after a dose is not mistaken for a
trough; without an administration time it is taken as a trough and the card says so. A latest level the model
cannot fit (no draw time, a bound such as "<50", a value no assay reports, a result that is not a number in a unit
convertible to ng/mL, a patient outside the model's inputs) is never passed over in silence when it matters: an
info card says what was found and why there is no model-based dose. Nor is a level the fit cannot explain (more than
a factor 2 from the fitted curve, or a trough below the target that the fit, leaning on the prior, puts at or above
it), or one above the watch level: a card says the level as measured, and no dose is written from the model.
"""

from datetime import timedelta

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.facts.response import ResponseAssessment, assess_response
from cds_service.facts.therapy import therapy_history
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import TroughTarget
from cds_service.pk.estimate import ModelRequest
from cds_service.protocol.cards import Action, Card, Suggestion
from cds_service.rules.common import (
    card_source,
    evidence_lines,
    fit_summary,
    footer,
    override,
    section,
    several_imatinib_orders,
)
from cds_service.rules.levels import Standing, assess_level, standing
from cds_service.rules.orders import dose_update
from cds_service.rules.pk_dosing import (
    ModelDosing,
    NoModel,
    candidates_lines,
    model_dosing,
    proposal_increase,
    regimen_text,
    regimen_use,
)

TOPIC = "imatinib-tdm"
CONSULTED = ("activeMedications", "medicationStatements", "conditions", "labResults", "vitalSigns",
             "medicationAdministrations")


def _imatinib_in_play(facts: PatientFacts) -> tuple[MedicationUse | None, MedicationUse | None]:
    """(the imatinib draft under decision, the imatinib the patient takes): either may be missing."""
    draft = next((m for m in facts.medications if "imatinib" in m.ingredients and m.origin == "draft"
                  and m.under_decision), None)
    taken = next((m for m in facts.medications if "imatinib" in m.ingredients and m.origin in ("order", "statement")),
                 None)
    return draft, taken


def _inducer_involved(facts: PatientFacts, knowledge: Knowledge) -> bool:
    return any(m.systemic and m.ingredients & knowledge.inducers.keys() and "imatinib" not in m.ingredients
               for m in facts.medications)


def response_lines(facts: PatientFacts, knowledge: Knowledge, *, brief: bool = False,
                   ) -> tuple[str | None, ResponseAssessment | None]:
    """The latest BCR-ABL1 IS result and its ELN 2020 milestone status (CML only); with a failure, what it calls
    for instead of only a higher dose (`brief`: without the source's own words, which the evidence page has)."""
    diagnosis = facts.indication()
    if diagnosis is None or diagnosis.id != "cml":
        return None, None
    therapy = therapy_history(facts.medications, facts.history,
                              knowledge.class_members.get("second-generation-tki", frozenset()))
    response = assess_response(facts.bcr_abl1_results, therapy.imatinib_start, knowledge)
    text = f"**Response**: {response.describe()}"
    if response.category == "failure":
        failure = knowledge.response.failure
        text += (" A failure milestone: ELN 2020 calls for changing the TKI (and testing for BCR-ABL1 kinase-domain "
                 "mutations) rather than only raising the dose" + (
                     f" (status {failure.status})." if brief else
                     f". {failure.text} ({knowledge.cite(failure.sources)}; status {failure.status})"))
    elif response.category in ("optimal", "warning"):
        text += " With this response the model's proposal stands."
    return text, response


def _target(facts: PatientFacts, knowledge: Knowledge) -> TroughTarget:
    diagnosis = facts.indication()
    return knowledge.trough_targets["gist" if diagnosis is not None and diagnosis.id == "gist" else "cml"]


def model_evidence(knowledge: Knowledge, cited: dict[str, str]) -> dict[str, str]:
    pk = knowledge.pk
    for source in pk.sources:
        cited.setdefault(source, "the population PK model and the MAP fit")
    for source in pk.proposal.sources:
        cited.setdefault(source, "the candidate regimens")
    return cited


def exposure_text(model: ModelDosing, knowledge: Knowledge) -> str:
    """What the level means and what the model proposes, in numbers."""
    answer, dose = model.answer, model.dose
    current = regimen_text(dose.per_administration_mg, model.request.regimen.interval_hours)
    proposal = answer.proposal
    lines = []
    if model.level is not None and model.level.drawn is not None and answer.a_posteriori is not None:
        lines.append(
            f"Latest level **{model.level.shown}** on {model.level.drawn.shown()}, {model.level_reading}. "
            f"Fitted with the population model (MAP), the patient's steady-state trough on {current} is "
            f"**{answer.a_posteriori.trough_ng_per_ml:.0f} ng/mL** (clearance "
            f"{answer.a_posteriori.clearance_l_per_h:.1f}"
            f" L/h, volume {answer.a_posteriori.volume_l:.0f} L; a priori for a patient like this "
            f"{answer.a_priori.trough_ng_per_ml:.0f} ng/mL); target at least {answer.target_ng_per_ml:g} ng/mL.")
    else:
        lines.append(f"Predicted steady-state trough on {current} (population model, a priori): "
                     f"**{answer.a_priori.trough_ng_per_ml:.0f} ng/mL**; target at least "
                     f"{answer.target_ng_per_ml:g} ng/mL.")
    window = "within the target window" if proposal.in_target_window else "still outside the target window"
    lines.append(f"Model's proposal: **{regimen_text(proposal.dose_mg, proposal.interval_hours)}**, predicted trough "
                 f"{proposal.trough_ng_per_ml:.0f} ng/mL ({window}).")
    return "\n\n".join(lines)


def tdm_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    draft, taken = _imatinib_in_play(facts)
    if draft is not None and facts.plan.removal_of(draft.reference):
        draft = None  # one plan: another card removes the draft, so no dose is written into it (nor a card for it)
    imatinib = draft or taken
    if imatinib is None or not facts.imatinib_levels or _inducer_involved(facts, knowledge):
        return []
    if (under := _drawn_under_inducer(facts, knowledge)) is not None:
        from cds_service.rules.de_induction import find_de_induction  # it imports the inducer rule, which imports this

        if find_de_induction(facts, knowledge) is not None:
            return []  # the step-back card speaks for the dose, and orders the trough after it
        stands = _standing(facts, knowledge)
        if stands:
            return [_unfitted_card(NoModel(under), under, stands, facts, knowledge, imatinib)]
        assessed = assess_level(facts.imatinib_levels[0], _target(facts, knowledge), knowledge)
        return [_level_card(None, facts, knowledge, imatinib, under)] if assessed and assessed.above_watch else []
    use = regimen_use(facts, imatinib)
    model = model_dosing(facts, knowledge, use)
    assessed = assess_level(facts.imatinib_levels[0], _target(facts, knowledge), knowledge)
    above_watch = assessed is not None and assessed.above_watch
    if isinstance(model, NoModel) or model.level is None:
        # The level on record was not read through the model: say why when it matters (never a silent all-clear).
        why = model.reason if isinstance(model, NoModel) else model.unfitted
        stands = _standing(facts, knowledge) if why else None
        if stands:
            return [_unfitted_card(model, why, stands, facts, knowledge, imatinib)]
        return [_level_card(None, facts, knowledge, imatinib, why)] if why and above_watch else []
    if model.answer.a_posteriori is None:
        return []
    measured_below = assessed is not None and assessed.comparable and assessed.below_target
    if model.answer.unexplained_level or (measured_below and model.trough >= model.answer.target_ng_per_ml):
        # The fit leans on the prior (a proportional error caps how far one level pulls it), so it may put a
        # trough of 150 ng/mL at 1000: the measurement is said as found and no dose is written from the model.
        return [_level_card(model, facts, knowledge, imatinib)]
    if model.trough >= model.answer.target_ng_per_ml:
        return [_level_card(model, facts, knowledge, imatinib)] if above_watch else []
    return [_tdm_card(model, facts, knowledge, draft, use)]


def _drawn_under_inducer(facts: PatientFacts, knowledge: Knowledge) -> str | None:
    """Why the latest level does not show the exposure without an inducer: it was drawn while a strong inducer that
    has since stopped ran, or in the weeks its induction takes to wear off. Fitted, it reads the induced clearance
    as the patient's own and proposes a higher dose just as the exposure rises again."""
    level = facts.imatinib_levels[0]
    if level.drawn is None:
        return None
    from cds_service.rules.de_induction import stopped_strong_inducers  # it imports the inducer rule (and this)

    wearing_off = timedelta(days=knowledge.interactions.de_induction.keep_adjusted_days)
    drawn = level.drawn.at
    for inducer in stopped_strong_inducers(facts, knowledge):
        start, end = inducer.span.start, inducer.span.end
        # A difference of datetimes: no overflow at any date (an end of 9999-12-31 plus 14 days would).
        if start is None or end is None or drawn < start.at or drawn - end.at > wearing_off:
            continue
        name = knowledge.ingredients[inducer.ingredient].name
        ended = (f"{name} is recorded as stopped, with no stop date" if inducer.end_unknown
                 else f"{name} stopped {end.shown()}")
        return (f"the latest level ({level.shown}, drawn {level.drawn.shown()}) was drawn while {name} ran or its "
                f"induction wore off ({ended}): it does not show the exposure without it, so the model does not "
                "fit it; a new trough will")
    return None


def _level_card(model: ModelDosing | None, facts: PatientFacts, knowledge: Knowledge, use: MedicationUse,
                why: str = "") -> Card:
    """A level the model gives no dose from, said as found: above the watch level, or one the fit cannot explain
    (more than a factor 2 from its fitted curve, or a trough below the target that the fit puts at or above it)."""
    level = facts.imatinib_levels[0]
    tdm = knowledge.imatinib.tdm
    target = _target(facts, knowledge)
    assessed = assess_level(level, target, knowledge)
    watch = tdm.watch_above_ng_ml
    found = assessed.text if assessed is not None else f"Latest imatinib level: **{level.shown}**."
    above = assessed is not None and assessed.above_watch
    below = assessed is not None and assessed.comparable and assessed.below_target
    parts = [found]
    if model is not None:
        fitted = (f"Fitted with the population model (MAP), it gives a steady-state trough of **{model.trough:.0f} "
                  f"ng/mL** on {regimen_text(model.dose.per_administration_mg, model.request.regimen.interval_hours)}")
        if model.answer.unexplained_level:
            parts.append(f"{fitted}, but the level is more than a factor 2 from the fitted curve: the model cannot "
                         "explain it, and gives no dose from it.")
        elif below:
            parts.append(f"{fitted}, at or above the target, while the level measured is below it: the model and "
                         "the measurement disagree, so the model gives no dose from it.")
        else:
            parts.append(f"{fitted}.")
    elif why:
        parts.append(why if why.startswith("No model-based dose") else f"No model-based dose: {why}")
    if above:
        parts.append(f"No toxic level is defined: above {watch:g} ng/mL, exposure is to be watched closely for "
                     "adverse effects (Evidence below).")
    todo = ("**What to do**: check the value and its unit with the laboratory, the sample's timing against the last "
            "dose, adherence and any interacting medicine; repeat the level before a dose decision. " + tdm.sampling)
    if above and not (model is not None and model.answer.unexplained_level):
        todo = (f"**What to do**: watch closely for imatinib's adverse effects; check the sample was a trough and "
                f"repeat it if in doubt. {tdm.sampling}")
    if above:
        summary = f"Imatinib level {level.shown}, above the {watch:g} ng/mL watch level: watch closely"
    elif below:
        summary = (f"Imatinib level {level.shown}, below the {target.min_ng_ml:g} ng/mL target: the model cannot "
                   "explain it, no model-based dose")
    else:
        summary = f"Imatinib level {level.shown}: the model cannot explain it, no model-based dose"
    cited = {source: "the trough target" for source in target.sources}
    for source in tdm.watch_above_sources if above else ():
        cited.setdefault(source, "the watch level")
    for source in tdm.sampling_sources:
        cited.setdefault(source, "sampling")
    if model is not None:
        cited = model_evidence(knowledge, cited)
    return Card(
        summary=fit_summary(summary),
        detail="\n\n".join([
            " ".join(parts),
            todo,
            section("**Evidence**", evidence_lines(knowledge, cited)),
            footer(knowledge, facts, [use], CONSULTED),
        ]),
        indicator="warning" if above or below else "info",
        source=card_source(knowledge, TOPIC, "Imatinib level against the trough target (population PK)"),
    )


def _tdm_card(model: ModelDosing, facts: PatientFacts, knowledge: Knowledge, draft: MedicationUse | None,
              use: MedicationUse) -> Card:
    answer = model.answer
    proposal = answer.proposal
    suggestions: list[Suggestion] = []
    increase = proposal_increase(model, knowledge)
    update_note = ""
    several = several_imatinib_orders(facts, knowledge) if draft is not None else None
    if several is not None and increase is not None:
        update_note = f" The proposal is not written into an order: {several}."
    elif draft is not None and increase is not None and draft.reference:
        draft_dose = draft.dose(knowledge).dose
        written = dose_update(draft, draft_dose, increase, reason="the PK model's proposal for a trough below target") \
            if draft_dose is not None else "the draft's dose cannot be read"
        if isinstance(written, str):
            update_note = f" (The draft cannot be updated: {written}.)"
        else:
            suggestions.append(Suggestion(
                label=f"Change imatinib to {regimen_text(proposal.dose_mg, proposal.interval_hours)}"[:120],
                actions=[Action(type="update", description=f"Change the imatinib dose to {written.description}",
                                resource=written.resource)],
            ))
    elif increase is None:
        update_note = " No higher regimen is proposed."
    response_text, _ = response_lines(facts, knowledge)
    cited = model_evidence(knowledge, {})
    target = _target(facts, knowledge)
    for source in target.sources:
        cited.setdefault(source, "the trough target")
    detail = "\n\n".join(filter(None, [
        exposure_text(model, knowledge) + update_note,
        section("**Candidates** (steady-state troughs; daily doses at least the current one)",
                candidates_lines(model)),
        response_text,
        section("**Assumptions**", "\n".join(f"- {note}" for note in (*model.notes, *answer.assumptions))),
        section("**Evidence**", evidence_lines(knowledge, cited)),
        footer(knowledge, facts, [use], CONSULTED),
    ]))
    return Card(
        summary=fit_summary(
            f"Imatinib trough predicted {model.trough:.0f} ng/mL, below the {answer.target_ng_per_ml:g} target: "
            f"model proposes {regimen_text(proposal.dose_mg, proposal.interval_hours)} "
            f"(~{proposal.trough_ng_per_ml:.0f})"),
        detail=detail,
        indicator="warning",
        source=card_source(knowledge, TOPIC, "Imatinib level below target (population PK)"),
        suggestions=suggestions or None,
        selectionBehavior="at-most-one" if suggestions else None,
        overrideReasons=[
            override("adherence-first", "Adherence or sampling to be checked first"),
            override("level-repeat-planned", "Level to be repeated before a change"),
            override("response-adequate", "Response adequate; exposure accepted"),
        ],
    )


def _standing(facts: PatientFacts, knowledge: Knowledge) -> Standing | None:
    """How an unmodelled latest level stands against the target when that needs a card (unreadable, not a measured
    value, below the target, a bound that does not say); None when it is at or above the target."""
    stands = standing(facts.imatinib_levels[0], _target(facts, knowledge).min_ng_ml)
    return None if stands == "at or above" else stands


def _unfitted_card(model: "ModelDosing | NoModel", why: str, stands: Standing, facts: PatientFacts,
                   knowledge: Knowledge, use: MedicationUse) -> Card:
    """The latest level said as found, what it means against the target, why the model gives no dose from it, and
    what would let it (or what to check)."""
    level = facts.imatinib_levels[0]
    floor = _target(facts, knowledge).min_ng_ml
    tdm = knowledge.imatinib.tdm
    found = f"Latest imatinib level: **{level.shown}**" + (f" on {level.drawn.shown()}." if level.drawn else
                                                           " (no draw time recorded).")
    if stands == "unreadable":
        summary = "Imatinib level on record cannot be read as a concentration: check the result"
        meaning = (f"It cannot be read as a concentration: {level.unread}. It is not compared with the target, and "
                   "the service cannot say whether the level is below it.")
        todo = ("**What to do**: ask the laboratory for the value in ng/mL before any dose decision; "
                f"if a new level is needed: {tdm.sampling}")
    elif stands == "not measured":
        summary = f"Imatinib level of {level.shown} on record is not a measured value: check the result"
        meaning = ("No assay reports this as a concentration: it is likely an entry or unit error, or a result "
                   "below the assay's limit entered as a number. It is not compared with the target.")
        todo = ("**What to do**: check the result (value and unit) with the laboratory before any dose decision; "
                f"if a new level is needed: {tdm.sampling}")
    elif stands == "unsettled":
        summary = f"Imatinib level reported as {level.shown}: a bound that does not say whether the target is met"
        meaning = f"A bound cannot be compared with the trough target of at least {floor:g} ng/mL."
        todo = f"**What to do**: ask the laboratory for the measured value, or repeat the level. {tdm.sampling}"
    else:
        outside_domain = isinstance(model, NoModel) and model.outside_domain
        summary = ("Imatinib level on record: no model-based dose outside the model's age range (20-88)"
                   if outside_domain else
                   f"Imatinib level {level.shown}, below the {floor:g} ng/mL target: no model-based dose")
        meaning = f"It is below the trough target of at least {floor:g} ng/mL (Evidence below)."
        todo = (f"**What to do**: decide the dose without the model. {tdm.sampling}"
                + (" Recording the draw time lets the model fit the level." if level.drawn is None else ""))
    cited = {source: "the trough target" for source in _target(facts, knowledge).sources}
    for source in tdm.sampling_sources:
        cited.setdefault(source, "sampling")
    return Card(
        summary=fit_summary(summary),
        detail="\n\n".join([
            f"{found} {meaning}",
            why if why.startswith("No model-based dose") else f"No model-based dose: {why}",
            todo,
            section("**Evidence**", evidence_lines(knowledge, cited)),
            footer(knowledge, facts, [use], CONSULTED),
        ]),
        indicator="info",
        source=card_source(knowledge, TOPIC, "Imatinib level against the trough target (population PK)"),
    )


def tdm_page_request(facts: PatientFacts, knowledge: Knowledge) -> ModelRequest | None:
    """The model request behind the TDM card (the same, remembered, fit): what its page link draws."""
    draft, taken = _imatinib_in_play(facts)
    imatinib = draft or taken
    if imatinib is None:
        return None
    model = model_dosing(facts, knowledge, regimen_use(facts, imatinib))
    return model.request if isinstance(model, ModelDosing) else None
