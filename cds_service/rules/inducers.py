"""Imatinib with CYP3A4 inducers, in both directions: imatinib ordered for a patient on an inducer, or an
inducer ordered for a patient on imatinib.

Strong inducers get a warning with an exact dose increase (when imatinib is the draft) and a trough level;
St John's wort gets "stop it"; moderate inducers get an info card suggesting a trough level.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from cds_service.facts import PatientFacts
from cds_service.facts.dose import Dose
from cds_service.facts.medications import MedicationUse
from cds_service.facts.patient import body_surface_area
from cds_service.facts.timeline import written_on
from cds_service.knowledge import Knowledge
from cds_service.knowledge.models import TroughTarget
from cds_service.pk.estimate import ModelRequest
from cds_service.pk.model import population_model
from cds_service.pk.simulate import steady_state_trough
from cds_service.protocol.cards import Action, Card, Indicator, Suggestion, escape_markdown
from cds_service.rules.alternatives import alternatives_for, nested
from cds_service.rules.common import (
    card_source,
    each_once,
    evidence_pointer,
    fit_summary,
    footer,
    origin_phrase,
    override,
    section,
    several_imatinib_orders,
)
from cds_service.rules.dosing import DoseIncrease, plan_dose_increase
from cds_service.rules.levels import LevelAssessment, inducer_start, latest_level, trough_date, under_induction
from cds_service.rules.orders import dose_update, trough_order
from cds_service.rules.paediatric import paediatric_limit
from cds_service.rules.pk_dosing import ModelDosing, NoModel, model_dosing, proposal_increase, regimen_text, regimen_use
from cds_service.rules.ratchet import already_raised, maybe_raised, running_strong_inducers
from cds_service.rules.tdm import response_lines

Management = Literal["dose-increase", "monitor", "stop"]
# The optional prefetch keys these cards rely on: a card names the ones that could not be had.
CONSULTED = ("activeMedications", "medicationStatements", "conditions", "labResults", "patient", "vitalSigns",
             "medicationAdministrations")


@dataclass(frozen=True, slots=True)
class InducerInteraction:
    """One imatinib use and the inducers (of one management kind) that meet it, one side being ordered now."""

    imatinib: MedicationUse
    inducers: tuple[tuple[MedicationUse, str], ...]  # (the use, the inducing ingredient)
    management: Management
    inducer_names: tuple[str, ...] = field(init=False)  # the inducing ingredients, sorted, each once

    def __post_init__(self) -> None:
        object.__setattr__(self, "inducer_names", tuple(sorted({ingredient for _, ingredient in self.inducers})))

    @property
    def imatinib_is_draft(self) -> bool:
        return self.imatinib.origin == "draft" and self.imatinib.under_decision


def find_interactions(facts: PatientFacts, knowledge: Knowledge) -> tuple[InducerInteraction, ...]:
    """The interactions in the call's medications, found once per call: the inducer rule, the inhibitor rule and
    the strong card's page link (web/links.py) ask for them."""
    return facts.once(("inducer interactions", id(knowledge)),
                      lambda: tuple(_find_interactions(facts, knowledge)))


def _find_interactions(facts: PatientFacts, knowledge: Knowledge) -> list[InducerInteraction]:
    imatinib_uses = [m for m in facts.medications if "imatinib" in m.ingredients]
    inducer_uses = [
        (use, ingredient)
        for use in facts.medications
        if use.systemic
        for ingredient in sorted(use.ingredients)
        if ingredient in knowledge.inducers and "imatinib" not in use.ingredients
    ]
    if not imatinib_uses or not inducer_uses:
        return []
    drafts = [m for m in imatinib_uses if m.origin == "draft" and m.under_decision]
    if drafts:
        # One card for the imatinib being ordered: with several drafts, the first (its dose line names the others).
        pairs = [(drafts[0], inducer_uses)]
    else:
        # Imatinib is already taken: advise on the inducers being ordered now, against the current imatinib.
        ordered_now = [(u, i) for u, i in inducer_uses if u.origin == "draft" and u.under_decision]
        current = sorted(imatinib_uses, key=lambda m: {"draft": 0, "order": 1, "statement": 2}.get(m.origin, 3))
        pairs = [(current[0], ordered_now)] if ordered_now else []
    interactions = []
    for imatinib, partners in pairs:
        grouped: dict[Management, list[tuple[MedicationUse, str]]] = defaultdict(list)
        for use, ingredient in partners:
            grouped[knowledge.inducers[ingredient].management].append((use, ingredient))
        for management in ("dose-increase", "stop", "monitor"):
            if grouped.get(management):
                interactions.append(InducerInteraction(imatinib, tuple(grouped[management]), management))
    return interactions


def trough_target(facts: PatientFacts, knowledge: Knowledge) -> tuple[TroughTarget | None, str]:
    """The target for the patient's indication, and a sentence saying which it is and why."""
    diagnosis = facts.indication()
    targets = knowledge.trough_targets
    if diagnosis is not None and diagnosis.id in ("cml", "gist"):
        target = targets["gist" if diagnosis.id == "gist" else "cml"]
        return target, f"Target trough for {diagnosis.group.label}: at least {target.min_ng_ml:g} ng/mL."
    return None, (
        f"The indication is not in the record: target trough at least {targets['cml'].min_ng_ml:g} ng/mL for CML, "
        f"{targets['gist'].min_ng_ml:g} ng/mL for GIST."
    )


@dataclass(frozen=True, slots=True)
class DoseAdvice:
    """What the card says about the imatinib dose, and the update of the draft when imatinib is being ordered."""

    text: str
    suggestion: Suggestion | None = None
    changes_dose: bool = False  # a dose change is suggested today (a trough waits 8 days after it)
    plan: DoseIncrease | None = None  # the dose suggested, written or not


def _level_found(level: LevelAssessment) -> str:
    """The latest level in a few words, for a sentence that says what was found."""
    value = f"{level.level.shown} on {level.drawn_on}"
    if not level.comparable:
        return f"The latest level ({value}) {level.not_compared}."
    verdict = "below" if level.below_target else "at or above"
    return f"The latest trough ({value}) is {verdict} the target."


def _no_increase_for_level(level: LevelAssessment | None) -> str | None:
    """Why the latest level rules out a dose increase, or None: a trough above the watch level, or at target."""
    if level is None or not level.comparable:
        return None
    value = f"{level.level.shown} on {level.drawn_on}"
    if level.above_watch:
        return f"the latest trough ({value}) is above the watch level, so the dose is not raised"
    if level.at_or_above_target:
        return f"the latest trough ({value}) is already at or above the target, so the dose is not raised"
    return None


def daily_dose(use: MedicationUse, facts: PatientFacts, knowledge: Knowledge) -> tuple[Dose | None, str, str]:
    """The dose of an imatinib use (a per-m² dose converted with the BSA), why none could be read, and a note on
    it (a dose outside the labelled range)."""
    reading = use.dose(knowledge)
    if reading.dose is None and reading.per_m2_mg is not None and reading.per_m2_administrations:
        bsa = body_surface_area(facts.profile, facts.today, knowledge.imatinib.paediatric)
        if isinstance(bsa, str):
            return None, f"the dose is written per m² of body-surface area and the BSA cannot be computed: {bsa}", ""
        per = reading.per_m2_mg * bsa.m2
        dose = Dose(per, reading.per_m2_administrations, "mg")
        return dose, "", (f" (Written as {reading.per_m2_mg:g} mg/m² per dose; with a BSA of {bsa.m2:.2f} m² that is "
                          f"{per:.0f} mg.)")
    if reading.dose is None:
        return None, reading.problem or "the dose could not be read", ""
    return reading.dose, "", f" ({reading.note}.)" if reading.note else ""


def dose_advice(
    interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge, level: LevelAssessment | None = None,
    model: ModelDosing | None = None,
) -> DoseAdvice:
    """The one dose line of the card: a child's BSA limit; why the dose is not read; why it is not raised (already
    raised for this inducer, a trough at target or above the watch level); then, by precedence, the PK model's
    proposal from a level measured during the co-therapy (adults 20-88 only), else the label's increase in whole
    tablets within the child's limit."""
    dosing = knowledge.imatinib.dosing
    child = paediatric_limit(facts, knowledge)
    if isinstance(child, str):
        return DoseAdvice(f"No dose suggestion: {child}.")
    prefix = f"{child.text} " if child else ""
    dose, problem, note = daily_dose(interaction.imatinib, facts, knowledge)
    if dose is None:
        return DoseAdvice(f"{prefix}No dose suggestion: {problem}.")
    if interaction.imatinib_is_draft and (several := several_imatinib_orders(facts, knowledge)) is not None:
        return DoseAdvice(f"{prefix}No dose suggestion: {several}.{note}")
    current = f"{prefix}Current imatinib dose {dose.daily_mg:.4g} mg/day."
    # The holds come before any source of an increase, the PK model's included: a dose already raised for this
    # inducer, or a trough at target or above the watch level, is not raised again.
    on_record = [*interaction.inducers, *(found for found in running_strong_inducers(facts, knowledge)
                                          if found not in interaction.inducers)]
    raised = already_raised(on_record, facts, knowledge)
    trough = f" {_level_found(level)}" if level is not None else " No trough level is on record: check one."
    if raised is None and (maybe := maybe_raised(on_record, dose.daily_mg, facts, knowledge)) is not None:
        return DoseAdvice(f"{current} No further increase: {maybe}; rely on the trough level.{trough}{note}")
    if raised is not None:
        lower = (f" The dose being ordered ({dose.daily_mg:.4g} mg/day) is below the raised dose: check it is "
                 "intended." if dose.daily_mg < raised.raised.daily_mg else "")
        return DoseAdvice(f"{current} No further increase: {raised.text()}.{lower}{trough}{note}")
    held = _no_increase_for_level(level)
    if held is not None:
        return DoseAdvice(f"{current} No dose increase: {held}; keep checking troughs while the inducer "
                          f"continues.{note}")
    if model is not None and not child:
        return _model_dose_advice(interaction, knowledge, dose, model, note)
    if child and dose.daily_mg > child.by_bsa_mg:
        paediatric = knowledge.imatinib.paediatric
        limit = (f"paediatric maximum of {paediatric.max_daily_mg} mg/day" if dose.daily_mg > paediatric.max_daily_mg
                 else f"dose by body-surface area ({child.by_bsa_mg} mg/day)")
        return DoseAdvice(f"{current} No dose increase: it is above this child's {limit}: check the dose.{note}")
    if child and dose.daily_mg > child.max_daily_mg:  # within 340 mg/m² x BSA, above its whole tablets
        return DoseAdvice(f"{current} No dose increase: {dose.daily_mg:.4g} mg/day is within "
                          f"{knowledge.imatinib.paediatric.dose_mg_per_m2:g} mg/m²/day for this BSA "
                          f"({child.by_bsa_mg} mg/day) and no whole-tablet increase fits under it; rely on the trough "
                          f"level.{note}")
    child_note = f" {knowledge.imatinib.paediatric.inducer_note}" if child else ""
    plan = plan_dose_increase(
        dose, dosing, ceiling=child.max_daily_mg if child else None,
        ceiling_name="paediatric maximum for this child" if child else "maximum",
    )
    if isinstance(plan, str):
        return DoseAdvice(f"{current} No dose increase: {plan}; rely on the trough level.{note}{child_note}")
    description, suggestion, not_written = _written_update(interaction, dose, plan)
    if child:  # the adult +50 % only inside the child's limit, and the card says why
        capped = " (capped at this child's maximum)" if plan.capped else ""
        text = (f"{current} If the inducer cannot be avoided, increase it within that limit: **{description}**"
                f"{capped}.{not_written}{note}{child_note}")
    else:
        text = (f"{current} If the inducer cannot be avoided, increase it by at least "
                f"{dosing.inducer_increase_fraction:.0%}: **{description}**.{not_written}{note}")
        if facts.profile.youngest_age is None and "patient" not in facts.unavailable:
            # An adult's dose, said to be one: nothing on record says this is no child (an unread Patient is
            # named among the data not checked instead).
            paediatric = knowledge.imatinib.paediatric
            text += (f" No birth date on record: an adult's dose (a child's is {paediatric.dose_mg_per_m2:g} "
                     f"mg/m²/day, at most {paediatric.max_daily_mg} mg/day).")
    if plan.capped and not child:
        unconfirmed = dosing.unconfirmed_max_daily_mg_with_inducer
        text += (f" Capped at {dosing.max_daily_mg_with_inducer} mg/day, the highest dose this service suggests "
                 f"({unconfirmed.text}: not confirmed, status {unconfirmed.status}); the trough level matters all "
                 "the more.")
    return DoseAdvice(text, suggestion, changes_dose=suggestion is not None, plan=plan)


def _written_update(interaction: InducerInteraction, dose: Dose, plan: DoseIncrease,
                    reason: str = "increased because of a CYP3A4 inducer") -> tuple[str, Suggestion | None, str]:
    """(the new dose described, the update of the draft when imatinib is being ordered, why it cannot be written)."""
    description, suggestion, problem = plan.describe(), None, ""
    if not interaction.imatinib_is_draft:  # only a draft can be updated from the card
        problem = (" The imatinib order is not the one being written: change its dose there."
                   if interaction.imatinib.origin in ("order", "draft")
                   else " Imatinib is not being ordered here: change its dose with its prescriber.")
    else:
        written = dose_update(interaction.imatinib, dose, plan, reason)
        if isinstance(written, str):
            problem = f" (The order itself cannot be updated: {written}.)"
        elif interaction.imatinib.reference:
            description = written.description
            suggestion = Suggestion(
                label=f"Increase imatinib to {plan.new_daily_mg} mg/day",
                actions=[Action(type="update", description=f"Change the imatinib dose to {description}",
                                resource=written.resource)],
            )
    return description, suggestion, problem


def _model_dose_advice(interaction: InducerInteraction, knowledge: Knowledge, dose: Dose, model: ModelDosing,
                       note: str) -> DoseAdvice:
    """The PK model's proposal from the level measured during the co-therapy (the fit takes the inducer's prior)."""
    proposal = model.answer.proposal
    plan = proposal_increase(model, knowledge)
    fitted = (f"The level measured during the co-therapy, fitted with the population model, gives a steady-state "
              f"trough of {model.trough:.0f} ng/mL on the current {dose.daily_mg:g} mg/day")
    if plan is None:
        return DoseAdvice(f"{fitted}. The model proposes no higher regimen ("
                          f"{regimen_text(proposal.dose_mg, proposal.interval_hours)}, predicted trough "
                          f"{proposal.trough_ng_per_ml:.0f} ng/mL); keep checking troughs while the inducer "
                          f"continues.{note}")
    description, suggestion, problem = _written_update(
        interaction, dose, plan, "the PK model's proposal from a level during the inducer")
    window = "within the target window" if proposal.in_target_window else (
        "still below the target window: the target cannot be reached within 800 mg/day")
    return DoseAdvice(
        f"{fitted}. The model's proposal: **{description}**, predicted trough {proposal.trough_ng_per_ml:.0f} ng/mL "
        f"({window}).{problem}{note}",
        suggestion, changes_dose=suggestion is not None, plan=plan)


@dataclass(frozen=True, slots=True)
class InducerModel:
    """The PK model for this interaction: fitted to a level measured during the co-therapy when there is one, else
    a priori with the inducer's clearance factor (or why there is no model)."""

    inducer: str  # the inducer whose clearance factor the model takes (the strongest)
    model: ModelDosing | NoModel

    @property
    def fitted(self) -> ModelDosing | None:
        return self.model if isinstance(self.model, ModelDosing) and self.model.level is not None else None


def inducer_model(interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge) -> InducerModel:
    """The model for the interaction, worked out once per call: the card and its page link share it."""
    return facts.once(("inducer model", id(interaction), id(knowledge)),
                      lambda: _inducer_model(interaction, facts, knowledge))


def _inducer_model(interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge) -> InducerModel:
    inducer = max(interaction.inducer_names,
                  key=lambda i: (knowledge.pk_inducer_factor(i)[0].clearance_factor, i))
    use = regimen_use(facts, interaction.imatinib)
    started = [written_on(u) for u, _ in interaction.inducers if u.origin != "draft"]
    since = min((s for s in started if s is not None), key=lambda s: s.at, default=None)
    latest = facts.imatinib_levels[0].drawn if facts.imatinib_levels else None
    # A level from before the induction is established (about two weeks) would be fitted as if fully induced: the
    # fit is skipped, and the card names the level as not showing the exposure under the inducer (`under_induction`).
    settled = timedelta(days=knowledge.imatinib.tdm.days_until_trough)
    if since is not None and latest is not None and latest.at - since.at >= settled:
        found = model_dosing(facts, knowledge, use, inducer=inducer, level_from=since)
        if isinstance(found, ModelDosing) and found.level is not None:
            return InducerModel(inducer, found)
    return InducerModel(inducer, model_dosing(facts, knowledge, use, inducer=inducer, with_level=False))


def predicted_troughs(found: InducerModel, knowledge: Knowledge, plan: DoseIncrease | None) -> str:
    """One sentence of the a priori predicted troughs with the inducer's clearance factor, at the current and the
    suggested dose (the factor's derivation is on the evidence page), or why there are none."""
    prior = found.model
    if isinstance(prior, NoModel) and prior.outside_domain:
        domain = knowledge.pk.domain.age_years
        return (f"No predicted trough: the population PK model is validated for adults aged {domain.min:g} to "
                f"{domain.max:g} years.")
    if isinstance(prior, NoModel):
        return prior.reason
    answer = prior.answer
    factor, borrowed = knowledge.pk_inducer_factor(found.inducer)
    how = f"x{factor.clearance_factor:g} for {knowledge.ingredients[found.inducer].name}" + (
        ", rifampin's figure" if borrowed else "")
    text = (f"Predicted trough (population PK model, a priori, clearance {how}): "
            f"{answer.a_priori.trough_ng_per_ml:.0f} ng/mL on "
            f"{regimen_text(prior.dose.per_administration_mg, prior.request.regimen.interval_hours)}")
    trough = answer.a_priori.trough_ng_per_ml
    if plan is not None:
        model = population_model(knowledge.pk)
        trough = steady_state_trough(plan.per_administration_mg, 24 // plan.administrations_per_day,
                                     answer.a_priori.clearance_l_per_h, answer.a_priori.volume_l, model.ka,
                                     model.bioavailability)
        suggested = regimen_text(plan.per_administration_mg, 24 // plan.administrations_per_day)
        text += f", {trough:.0f} ng/mL on {suggested}"
    target = answer.target_ng_per_ml
    # Said in words, so that a suggested dose is never read as enough when the model says it is not.
    shortfall = (f": {'both' if plan is not None else 'it is'} below the target" if trough < target
                 else f", against at least {target:g} ng/mL")
    return text + shortfall + "."


def _names(interaction: InducerInteraction, knowledge: Knowledge) -> str:
    return " + ".join(knowledge.ingredients[name].name for name in interaction.inducer_names)


@lru_cache(maxsize=256)  # knowledge-only text, the same for every call with these inducers
def why_lines(names: tuple[str, ...], knowledge: Knowledge) -> tuple[str, ...]:
    """One line of why per inducer: its measured effect on imatinib, briefly (the full finding and the classifications
    are on the evidence page)."""
    lines = []
    for name in names:
        inducer = knowledge.inducers[name]
        line = f"- **{knowledge.ingredients[name].name}** ({inducer.strength} CYP3A inducer): "
        if inducer.effect:
            line += f"{inducer.effect.brief or inducer.effect.text} (status {inducer.effect.status})"
        else:
            line += "no imatinib-specific measurement; the class effect is expected."
        if inducer.conflict:
            line += " Sources differ on its class."
        lines.append(line)
    return tuple(lines)


def _sentence(text: str) -> str:
    """A finding as the start of a sentence, without its full stop (a status follows)."""
    return (text[:1].upper() + text[1:]).removesuffix(".")


def why_section(names: tuple[str, ...], knowledge: Knowledge) -> str:
    """"**Why**" and the inducer's line of why on one line; a list when there are several."""
    lines = why_lines(names, knowledge)
    effect = knowledge.inducers[names[0]].effect
    if len(names) == 1 and effect is not None:  # the summary names the inducer and its strength
        return f"**Why**: {_sentence(effect.brief or effect.text)} (status {effect.status})."
    return section("**Why**", "\n".join(lines))


def _where(interaction: InducerInteraction, knowledge: Knowledge) -> str:
    """What was found, by ingredient and where it is in the record (the products are in the orders themselves); an
    ingredient read from a brand of several names the order it is in ("rifampin (Rifater tablet, an active
    order)"), since the order does not name the ingredient."""
    def named(use: MedicationUse, ingredient: str) -> str:
        order = f"{escape_markdown(use.display)}, " if use.identity.brands else ""
        return f"{knowledge.ingredients[ingredient].name} ({order}{origin_phrase(use)})"

    return "Found: " + "; ".join(
        [named(interaction.imatinib, "imatinib"), *(named(u, i) for u, i in interaction.inducers)]) + "."


def _trough_day(interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge,
                changes_dose: bool) -> tuple[date, str]:
    return trough_date(
        facts, knowledge, dose_changed_today=changes_dose,
        induction_from=inducer_start([u for u, _ in interaction.inducers], facts.today),
    )


def _decisive(why: str) -> str:
    """The reason that sets the trough date; the others it is later than stay on the trough order's note."""
    return why.split(" (later than ", 1)[0]


def _trough_suggestion(
    interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge, label: str, target_text: str,
    draw_on: tuple[date, str],
) -> Suggestion:
    version = (
        interaction.imatinib.fhir_version
        if interaction.imatinib_is_draft
        else next((u.fhir_version for u, _ in interaction.inducers if u.origin == "draft"),
                  interaction.imatinib.fhir_version)
    )
    reason = f"Imatinib with CYP3A4 inducer ({_names(interaction, knowledge)})"
    order = trough_order(facts.patient_id, version, facts.today, knowledge, reason, target_text, draw_on=draw_on)
    return Suggestion(
        label=label,
        actions=[Action(type="create", description="Order an imatinib trough level", resource=order)],
    )


def _delete_suggestions(interaction: InducerInteraction) -> list[Suggestion]:
    suggestions = []
    for use in each_once(u for u, _ in interaction.inducers):
        if use.origin == "draft" and use.reference:
            suggestions.append(
                Suggestion(
                    label=f"Remove the {use.display} order"[:120],
                    actions=[Action(type="delete", description=f"Remove the {use.display} order",
                                    resourceId=use.reference)],
                )
            )
    return suggestions


STRONG_TOPIC = "imatinib-strong-cyp3a4-inducer"
MODERATE_TOPIC = "imatinib-moderate-cyp3a4-inducer"


def _unexplained(model: ModelDosing) -> str:
    level = model.level
    shown = f" ({level.shown})" if level is not None else ""
    return (f"The level measured during the co-therapy{shown} is more than a factor 2 from the curve the population "
            "model fits to it: the model cannot explain it, so no dose is taken from it (check the value, its unit "
            "and the sample's timing with the laboratory).")


def strong_summary(interaction: InducerInteraction, knowledge: Knowledge) -> str:
    return fit_summary(f"Imatinib + {_names(interaction, knowledge)}: strong CYP3A4 induction sharply lowers imatinib "
                       "exposure")


def strong_inducer_card(
    interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge, strong_card: str | None = None
) -> Card:
    target, target_text = trough_target(facts, knowledge)
    level = under_induction(latest_level(facts, target, knowledge), [u for u, _ in interaction.inducers], facts.today,
                            knowledge)
    draft_ref = interaction.imatinib.reference if interaction.imatinib_is_draft else None
    removal = facts.plan.removal_of(draft_ref)
    dose_elsewhere = facts.plan.dose_elsewhere(draft_ref, STRONG_TOPIC)
    trough_elsewhere = facts.plan.trough_elsewhere(STRONG_TOPIC)
    exposure: str | None = None
    if removal or dose_elsewhere:
        dose = DoseAdvice(removal or dose_elsewhere or "")
    else:
        found = inducer_model(interaction, facts, knowledge)
        fitted = found.fitted
        if fitted is not None and fitted.answer.unexplained_level:
            # A level the fit cannot explain (0.64 ng/mL: a unit slip?) gives no model-based dose: the label's.
            dose = dose_advice(interaction, facts, knowledge, level, None)
            dose = replace(dose, text=f"{_unexplained(fitted)} {dose.text}")
            exposure = predicted_troughs(found, knowledge, dose.plan)
        else:
            dose = dose_advice(interaction, facts, knowledge, level, fitted)
            exposure = None if fitted else predicted_troughs(found, knowledge, dose.plan)
            if isinstance(found.model, NoModel) and daily_dose(interaction.imatinib, facts, knowledge)[0] is None:
                exposure = None  # the dose line has said why the dose cannot be read: not twice
    draw_on = _trough_day(interaction, facts, knowledge, dose.changes_dose)

    orders_trough = not (removal or trough_elsewhere)
    suggestions: list[Suggestion] = []
    if interaction.imatinib_is_draft:
        if dose.suggestion is not None:
            suggestions.append(dose.suggestion)
        if orders_trough:
            suggestions.append(_trough_suggestion(interaction, facts, knowledge, "Order an imatinib trough level",
                                                  target_text, draw_on))
        suggestions.extend(_delete_suggestions(interaction))
    else:
        suggestions.extend(_delete_suggestions(interaction))
        if orders_trough:
            suggestions.append(_trough_suggestion(
                interaction, facts, knowledge,
                f"Keep {_names(interaction, knowledge)} and order an imatinib trough level", target_text, draw_on,
            ))
    if removal:
        trough_step = "3. No trough level is suggested for an imatinib order that is to be removed."
    elif trough_elsewhere:
        trough_step = f"3. {trough_elsewhere}"
    else:
        trough_step = (f"3. Check a trough level on or after {draw_on[0].isoformat()}: {_decisive(draw_on[1])}. "
                       f"{target_text}")

    names = _names(interaction, knowledge)
    alternatives = alternatives_for(interaction.inducer_names, knowledge, brief=True)  # sources: evidence page
    dose_step = f"2. {dose.text}" + (f" {exposure}" if exposure else "")
    detail = "\n\n".join(filter(None, [
        _where(interaction, knowledge),
        "**What to do**\n\n"
        f"1. Avoid the combination: prefer an alternative to {names}.\n"
        f"{nested(alternatives.items)}\n"
        f"{dose_step}\n"
        f"{trough_step}",
        level.text if level else None,
        response_lines(facts, knowledge, brief=True)[0],
        why_section(interaction.inducer_names, knowledge),
        evidence_pointer(),
        footer(knowledge, facts, [interaction.imatinib, *(u for u, _ in interaction.inducers)], CONSULTED,
               legend=False),
    ]))
    indicator: Indicator = "critical" if level and level.below_target else "warning"
    return Card(
        summary=strong_summary(interaction, knowledge),
        detail=detail,
        indicator=indicator,
        source=card_source(knowledge, STRONG_TOPIC, "Imatinib with a strong CYP3A4 inducer"),
        suggestions=suggestions,
        selectionBehavior="any",
        overrideReasons=[
            override("short-inducer-course", "Short inducer course; imatinib exposure will be watched"),
            override("dose-already-adjusted", "Imatinib dose already adjusted for the inducer"),
            override("level-already-planned", "Imatinib trough level already planned"),
            override("no-alternative", "No alternative to the inducer; benefit outweighs risk"),
        ],
    )


def st_johns_wort_card(
    interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge, strong_card: str | None = None
) -> Card:
    recorded = [u for u, _ in interaction.inducers if u.origin != "draft"]
    dose = (f"Do not raise the imatinib dose to compensate for it; the dose with the strong inducer is on the card "
            f"“{strong_card}”." if strong_card else "Do not raise the imatinib dose to compensate.")
    steps = ["1. Stop St John's wort: it is never necessary, and the imatinib product information names it among "
             f"the inducers to avoid. {dose}"]
    if recorded:
        steps.append("2. Ask the patient to stop it and record it as stopped.")
    detail = "\n\n".join(filter(None, [
        _where(interaction, knowledge),
        section("**What to do**", "\n".join(steps)),
        _alternatives_section(interaction, knowledge),
        why_section(interaction.inducer_names, knowledge),
        evidence_pointer(),
        footer(knowledge, facts, [interaction.imatinib, *(u for u, _ in interaction.inducers)], CONSULTED,
               legend=False),
    ]))
    return Card(
        summary=fit_summary("Stop St John's wort: it lowers imatinib exposure (AUC -30 to -32 %)"),
        detail=detail,
        indicator="warning",
        source=card_source(knowledge, "imatinib-st-johns-wort", "Imatinib with St John's wort"),
        suggestions=_delete_suggestions(interaction),
        selectionBehavior="at-most-one",
        overrideReasons=[
            override("patient-informed", "Patient informed and will stop it"),
            override("already-stopped", "Already stopped"),
        ],
    )


def moderate_inducer_card(
    interaction: InducerInteraction, facts: PatientFacts, knowledge: Knowledge, strong_card: str | None = None
) -> Card:
    """A trough level, and no dose change of its own: with a strong inducer too, the strong card has the dose and
    the trough order, and this card says so instead of "no dose change"."""
    target, target_text = trough_target(facts, knowledge)
    level = latest_level(facts, target, knowledge)
    below = bool(level and level.below_target)
    draw_on = _trough_day(interaction, facts, knowledge, False)
    names = _names(interaction, knowledge)
    draft_ref = interaction.imatinib.reference if interaction.imatinib_is_draft else None
    removal = facts.plan.removal_of(draft_ref)
    trough_elsewhere = (
        f"The imatinib trough level is ordered from the card “{strong_card}”." if strong_card
        else facts.plan.trough_elsewhere(MODERATE_TOPIC)
    )
    if removal:
        dose_line, trough_line = removal, ""
    elif strong_card:
        dose_line = f"The imatinib dose is decided on the card “{strong_card}”, for the strong inducer."
        trough_line = trough_elsewhere or ""
    else:
        dose_line = facts.plan.dose_elsewhere(draft_ref, MODERATE_TOPIC) or (
            "The moderate inducer itself calls for no dose change.")
        trough_line = trough_elsewhere or (
            f"Consider a trough level: {target_text} Draw it on or after {draw_on[0].isoformat()}: "
            f"{_decisive(draw_on[1])}.")
    orders_trough = not (removal or trough_elsewhere)
    detail = "\n\n".join(filter(None, [
        _where(interaction, knowledge),
        section("**What to do**", f"Imatinib exposure may fall. {dose_line} {trough_line}"),
        _alternatives_section(interaction, knowledge),
        level.text if level else None,
        why_section(interaction.inducer_names, knowledge),
        evidence_pointer(),
        footer(knowledge, facts, [interaction.imatinib, *(u for u, _ in interaction.inducers)], CONSULTED,
               legend=False),
    ]))
    return Card(
        summary=fit_summary(f"Imatinib + {names}: moderate CYP3A4 inducer may lower imatinib exposure"),
        detail=detail,
        indicator="warning" if below else "info",
        source=card_source(knowledge, MODERATE_TOPIC, "Imatinib with a moderate CYP3A4 inducer"),
        suggestions=[_trough_suggestion(interaction, facts, knowledge, "Order an imatinib trough level", target_text,
                                        draw_on)] if orders_trough else None,
        selectionBehavior="at-most-one" if orders_trough else None,
        overrideReasons=[
            override("level-already-planned", "Imatinib trough level already planned"),
            override("short-inducer-course", "Short inducer course"),
        ],
    )


def _alternatives_section(interaction: InducerInteraction, knowledge: Knowledge) -> str | None:
    """The alternatives a source names, for cards whose steps do not already name them; None when no source does.
    What each source says of them is on the topic's evidence page."""
    if not any(knowledge.alternatives_for.get(i) for i in interaction.inducer_names):
        return None
    alternatives = alternatives_for(interaction.inducer_names, knowledge, brief=True)
    return section("**Alternatives**", "\n".join(f"- {item}" for item in alternatives.items))


_CARD_FOR = {
    "dose-increase": strong_inducer_card,
    "stop": st_johns_wort_card,
    "monitor": moderate_inducer_card,
}


def inducer_interaction_cards(facts: PatientFacts, knowledge: Knowledge) -> list[Card]:
    """One card per kind of inducer; with a strong inducer, the other cards leave the dose and the trough to it."""
    interactions = find_interactions(facts, knowledge)
    strong = {id(i.imatinib): strong_summary(i, knowledge) for i in interactions if i.management == "dose-increase"}
    return [
        _CARD_FOR[i.management](i, facts, knowledge, None if i.management == "dose-increase"
                                else strong.get(id(i.imatinib)))
        for i in interactions
    ]


def inducer_page_request(facts: PatientFacts, knowledge: Knowledge) -> ModelRequest | None:
    """The model request behind the strong-inducer card's numbers (fitted to a level during the co-therapy when
    there is one, else a priori with the inducer's factor): what its page link draws."""
    for interaction in find_interactions(facts, knowledge):
        if interaction.management == "dose-increase":
            model = inducer_model(interaction, facts, knowledge).model
            return model.request if isinstance(model, ModelDosing) else None
    return None
