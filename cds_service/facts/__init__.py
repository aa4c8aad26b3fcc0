"""Facts extracted from the hook context and the patient's record: what the rules reason over.

Extraction happens once per request; rules are pure functions of `PatientFacts` and the knowledge base.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar, cast

from cds_service.facts.conditions import Diagnosis, diagnoses
from cds_service.facts.genomics import UnattributedChange, VariantFinding, genomic_readings
from cds_service.facts.labs import (
    GivenDose,
    ImatinibLevel,
    UncodedLevel,
    given_at,
    imatinib_levels,
    timed_by_doses,
    trough_before_untimed,
    uncoded_levels,
)
from cds_service.facts.medications import (
    INACTIVE_ORDER_STATUSES,
    Identities,
    MedicationUse,
    Origin,
    medication_concept,
    medication_use,
    recorded_status,
)
from cds_service.facts.observations import sort_results
from cds_service.facts.patient import NO_PROFILE, PatientProfile, patient_profile
from cds_service.facts.response import IsResult, is_results
from cds_service.facts.timeline import ended_before
from cds_service.fhir import MEDICATION_ORDER_TYPES, Resource, belongs_to, local_reference
from cds_service.gather.record import PatientRecord
from cds_service.gather.trials import LiveTrials
from cds_service.hook_context import HookContext
from cds_service.knowledge.loader import Knowledge
from cds_service.plan import NO_PLAN, CallPlan

ACTIVE_ORDER_STATUSES = frozenset({"active", "on-hold"})
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PatientFacts:
    patient_id: str
    hook: str
    # Drafts being ordered now, then active orders and statements: everything the patient takes or will take.
    medications: tuple[MedicationUse, ...]
    history: tuple[MedicationUse, ...]
    diagnoses: tuple[Diagnosis, ...]
    imatinib_levels: tuple[ImatinibLevel, ...]
    # Levels dated more than a day after today (a date error: a time zone explains a day, not more), kept out of
    # `imatinib_levels` so that none is the "latest", fitted or held against the target; the coverage card names them.
    levels_dated_later: tuple[ImatinibLevel, ...] = ()
    # Results named as imatinib levels under a code the knowledge base does not know: named, never used.
    levels_uncoded: tuple[UncodedLevel, ...] = ()
    unavailable: dict[str, str] = field(default_factory=dict)
    # `Medication/x` references (on the record or the drafts) that could not be read, with the reason.
    unresolved_medications: dict[str, str] = field(default_factory=dict)
    today: date = field(default_factory=lambda: datetime.now(UTC).date())
    # Variant results (found and reported absent) and BCR-ABL1 IS results, newest first.
    genomic_findings: tuple[VariantFinding, ...] = ()
    # Variants a result names without saying whose (a multi-gene panel's title, or no gene at all), newest first.
    unattributed_variants: tuple[UnattributedChange, ...] = ()
    bcr_abl1_results: tuple[IsResult, ...] = ()
    # The live registry search the engine ran for this call, if it ran one.
    live_trials: LiveTrials | None = None
    # Statements of medicines the patient no longer takes (completed or stopped): when an inducer ended.
    past_statements: tuple[MedicationUse, ...] = ()
    # Age, weight and height: what a child's dose is computed from.
    profile: PatientProfile = NO_PROFILE
    # Imatinib doses recorded as given (MedicationAdministration), to the minute.
    imatinib_given: tuple[GivenDose, ...] = ()
    # What the cards of this answer settled between them (set by the engine on its second pass).
    plan: CallPlan = NO_PLAN
    # What the rules work out once per call and share (the interactions, the model's answers): see `once`.
    worked_out: dict[tuple[object, ...], object] = field(default_factory=dict, init=False, compare=False,
                                                         repr=False)

    def once(self, key: tuple[object, ...], work: Callable[[], T]) -> T:
        """`work()` done once for these facts: the card, another rule and the card's page link (web/links.py) ask
        for the same model fit. `key` names the work and its arguments (objects of this call by identity). Held by
        the facts, so dropped with the call and never shared between calls; `replace` starts afresh."""
        if key not in self.worked_out:
            self.worked_out[key] = work()
        return cast(T, self.worked_out[key])

    def under(self, plan: CallPlan) -> "PatientFacts":
        """These facts under `plan` (the rules' second pass), sharing what was worked out: none of it reads the
        plan."""
        planned = replace(self, plan=plan)
        object.__setattr__(planned, "worked_out", self.worked_out)
        return planned

    @property
    def draft_orders(self) -> tuple[MedicationUse, ...]:
        return tuple(m for m in self.medications if m.origin == "draft")

    def with_ingredient(self, ingredient: str) -> list[MedicationUse]:
        return [m for m in self.medications if ingredient in m.ingredients]

    def indication(self) -> Diagnosis | None:
        """GIST or CML (CML's most advanced phase wins), whichever the record shows; None if neither."""
        rank = {None: 0, "chronic": 1, "accelerated": 2, "blast": 3}
        candidates = [d for d in self.diagnoses if d.id in ("cml", "gist")]
        if not candidates:
            return None
        return max(candidates, key=lambda d: (d.id == "cml", rank[d.group.phase]))


def _uses(
    resources: list[Resource] | tuple[Resource, ...],
    origin: Origin,
    context: HookContext,
    record: PatientRecord,
    identities: Identities,
    types: frozenset[str],
    keep_status: frozenset[str] | None = None,
    drop_status: frozenset[str] = INACTIVE_ORDER_STATUSES,
) -> list[MedicationUse]:
    uses = []
    patient_id, medications = context.patient_id, record.medication_resources
    for resource in resources:
        if resource.get("resourceType") not in types or not belongs_to(resource, patient_id):
            continue
        status = recorded_status(resource)
        if status in drop_status or (keep_status is not None and status not in keep_status):
            continue
        under_decision = origin == "draft" and context.is_under_decision(resource)
        use = medication_use(resource, origin, identities, medications, under_decision=under_decision)
        if use is not None:
            uses.append(use)
    return uses


def _imatinib_given(record: PatientRecord, context: HookContext, identities: Identities) -> list[GivenDose]:
    """Imatinib doses recorded as given to this patient, to the minute: what a level's timing is read against."""
    given = []
    for resource in record.get("medicationAdministrations"):
        if resource.get("resourceType") != "MedicationAdministration" or not belongs_to(resource, context.patient_id):
            continue
        concept = medication_concept(resource, record.medication_resources)
        if concept is None or "imatinib" not in identities.of(concept).ingredients:
            continue
        if (at := given_at(resource)) is not None:
            given.append(GivenDose(at, local_reference(resource)))
    return given


def _dosing_interval_hours(medications: tuple[MedicationUse, ...], knowledge: Knowledge) -> float:
    """Hours between imatinib doses as the patient takes it (the active order first, then the draft): 24 once daily,
    12 twice daily; once daily, the usual schedule, when no dose can be read."""
    uses = sorted((m for m in medications if "imatinib" in m.ingredients), key=lambda m: m.origin == "draft")
    for use in uses:
        reading = use.dose(knowledge)
        if reading.dose is not None and reading.dose.administrations_per_day > 0:
            return 24 / reading.dose.administrations_per_day
    return 24.0


def extract_facts(
    context: HookContext,
    record: PatientRecord,
    knowledge: Knowledge,
    hook: str,
    today: date | None = None,
    identities: Identities | None = None,
) -> PatientFacts:
    """The call's facts; `identities` is the call's memo of medication identities when the engine already made one."""
    if identities is None:
        identities = Identities(knowledge)
    day = today or datetime.now(UTC).date()
    drafts = _uses(context.draft_orders, "draft", context, record, identities, MEDICATION_ORDER_TYPES)
    draft_refs = {d.reference for d in drafts if d.reference}
    # Without the active list, the history's active orders stand in for it: an imatinib or inducer order the
    # record does show must not be missed because another search failed.
    active_source = "activeMedications" if "activeMedications" in record.by_key else "medicationHistory"
    orders = [
        use
        for use in _uses(record.get(active_source), "order", context, record, identities,
                         MEDICATION_ORDER_TYPES, keep_status=ACTIVE_ORDER_STATUSES)
        if use.reference not in draft_refs
    ]
    statements = _uses(record.get("medicationStatements"), "statement", context, record, identities,
                       frozenset({"MedicationStatement"}), keep_status=frozenset({"active"}))
    # An active order or statement whose own end date has passed is no longer taken: it joins the history.
    order_ended = [ended_before(u, day) for u in orders]
    statement_ended = [ended_before(u, day) for u in statements]
    ended_orders = [replace(u, origin="history") for u, ended in zip(orders, order_ended, strict=True) if ended]
    ended_statements = [replace(u, origin="history")
                        for u, ended in zip(statements, statement_ended, strict=True) if ended]
    orders = [u for u, ended in zip(orders, order_ended, strict=True) if not ended]
    statements = [u for u, ended in zip(statements, statement_ended, strict=True) if not ended]
    past_statements = _uses(record.get("stoppedMedicationStatements"), "history", context, record, identities,
                            frozenset({"MedicationStatement"}), keep_status=frozenset({"completed", "stopped"}),
                            drop_status=frozenset())
    history = _uses(record.get("medicationHistory"), "history", context, record, identities,
                    MEDICATION_ORDER_TYPES, drop_status=frozenset({"entered-in-error"}))
    in_history = {u.reference for u in history if u.reference}
    history += [u for u in ended_orders if u.reference not in in_history]
    past_statements += ended_statements
    results = sort_results([*record.get("labResults"), *record.get("genomicVariants")], context.patient_id, knowledge)
    medications = (*drafts, *orders, *statements)
    given = _imatinib_given(record, context, identities)
    interval = _dosing_interval_hours(medications, knowledge)
    window = knowledge.imatinib.tdm.trough_window_hours
    levels = [timed_by_doses(level, given, interval, window)
              for level in imatinib_levels(results.levels, knowledge.level_codes)]
    latest_plausible = day + timedelta(days=1)
    dated_later = tuple(level for level in levels if level.drawn is not None and level.drawn.day > latest_plausible)
    levels = trough_before_untimed([level for level in levels if level not in dated_later], interval, window)
    conditions = [
        r for r in record.get("conditions")
        if r.get("resourceType") == "Condition" and belongs_to(r, context.patient_id)
    ]
    findings, unattributed = genomic_readings(results.variant_candidates, knowledge)
    return PatientFacts(
        patient_id=context.patient_id,
        hook=hook,
        medications=medications,
        history=tuple(history),
        diagnoses=tuple(diagnoses(conditions, knowledge)),
        imatinib_levels=tuple(levels),
        levels_dated_later=dated_later,
        levels_uncoded=tuple(uncoded_levels(results.named_levels)),
        unavailable=dict(record.unavailable),
        unresolved_medications=dict(record.unresolved_medications),
        today=day,
        genomic_findings=tuple(findings),
        unattributed_variants=tuple(unattributed),
        bcr_abl1_results=tuple(is_results(results.bcr_abl1, knowledge)),
        past_statements=tuple(past_statements),
        profile=patient_profile(record.get("patient"), [*record.get("vitalSigns"), *results.body_measures],
                                context.patient_id, day, knowledge.imatinib.paediatric),
        imatinib_given=tuple(given),
    )
