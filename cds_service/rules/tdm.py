"""Therapeutic drug monitoring without an inducer: when the latest imatinib level, read through the population PK
model, gives an individual steady-state trough below the target, say what the level means, the model's proposal
and its trough, every candidate, and the response beside the exposure (issue 13).

The level is fitted (MAP) against the dose history, so a sample drawn hours after a dose is not mistaken for a
trough; without an administration time it is taken as a trough and the card says so.
"""

from cds_service.facts import PatientFacts
from cds_service.facts.medications import MedicationUse
from cds_service.facts.response import ResponseAssessment, assess_response
from cds_service.facts.therapy import therapy_history
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import TroughTarget
from cds_service.pk.estimate import ModelRequest
from cds_service.protocol.cards import Action, Card, Suggestion
from cds_service.rules.common import card_source, evidence_lines, fit_summary, footer, override, section
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
            f"Latest level **{model.level.ng_ml:g} ng/mL** on {model.level.drawn.shown()}, {model.level_reading}. "
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
    use = regimen_use(facts, imatinib)
    model = model_dosing(facts, knowledge, use)
    if isinstance(model, NoModel):
        low = facts.imatinib_levels[0].ng_ml < _target(facts, knowledge).min_ng_ml
        return [_no_model_card(model, facts, knowledge, imatinib)] if model.outside_domain and low else []
    if model.level is None or model.answer.a_posteriori is None:
        return []
    if model.trough >= model.answer.target_ng_per_ml:
        return []
    return [_tdm_card(model, facts, knowledge, draft, use)]


def _tdm_card(model: ModelDosing, facts: PatientFacts, knowledge: Knowledge, draft: MedicationUse | None,
              use: MedicationUse) -> Card:
    answer = model.answer
    proposal = answer.proposal
    suggestions: list[Suggestion] = []
    increase = proposal_increase(model, knowledge)
    update_note = ""
    if draft is not None and increase is not None and draft.reference:
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


def _no_model_card(model: NoModel, facts: PatientFacts, knowledge: Knowledge, use: MedicationUse) -> Card:
    level = facts.imatinib_levels[0]
    return Card(
        summary=fit_summary("Imatinib level on record: no model-based dose outside the model's age range (20-88)"),
        detail="\n\n".join([
            f"Latest imatinib level: {level.ng_ml:g} ng/mL"
            + (f" on {level.drawn.shown()}." if level.drawn else "."),
            model.reason,
            footer(knowledge, facts, [use], CONSULTED),
        ]),
        indicator="info",
        source=card_source(knowledge, TOPIC, "Imatinib level below target (population PK)"),
    )


def tdm_page_request(facts: PatientFacts, knowledge: Knowledge) -> ModelRequest | None:
    """The model request behind the TDM card (the same, remembered, fit): what its page link draws."""
    draft, taken = _imatinib_in_play(facts)
    imatinib = draft or taken
    if imatinib is None:
        return None
    model = model_dosing(facts, knowledge, regimen_use(facts, imatinib))
    return model.request if isinstance(model, ModelDosing) else None
