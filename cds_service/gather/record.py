"""Assemble the patient's record for one hook call from prefetch, topped up from the FHIR server in parallel."""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from cds_service import metrics
from cds_service.fhir import Resource, local_reference
from cds_service.gather.fhir_client import FhirClient, FhirFetchError
from cds_service.gather.prefetch import PREFETCH_QUERIES, read_prefetch, render_template
from cds_service.hook_context import HookContext
from cds_service.outbound import OutboundPolicy
from cds_service.protocol.request import HookRequest

log = logging.getLogger("cds_service.gather")


@dataclass(slots=True)
class PatientRecord:
    """Resources by prefetch key, plus what could not be had and why (so a card can say what was not checked)."""

    by_key: dict[str, list[Resource]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    # Medication resources by reference ("Medication/x"), for orders that name their drug by reference.
    medication_resources: dict[str, Resource] = field(default_factory=dict)
    # `Medication/x` references nothing could resolve, with the reason.
    unresolved_medications: dict[str, str] = field(default_factory=dict)

    def get(self, key: str) -> list[Resource]:
        return self.by_key.get(key, [])


def is_dstu2_call(context: HookContext) -> bool:
    """DSTU2 clients send `MedicationOrder` drafts; STU3 and R4 send `MedicationRequest`."""
    return any(order.get("resourceType") == "MedicationOrder" for order in context.draft_orders)


def _medication_reference(resource: Resource) -> str | None:
    reference = resource.get("medicationReference")
    ref = reference.get("reference") if isinstance(reference, dict) else None
    return ref if isinstance(ref, str) and ref.startswith("Medication/") else None


def _index_medications(record: PatientRecord, drafts: tuple[Resource, ...]) -> set[str]:
    """Fills `record.medication_resources`, in one pass over the record, and returns the `Medication/x` references
    (of the drafts and the record) that nothing at hand resolves (contained ones resolve locally)."""
    referenced = [ref for ref in map(_medication_reference, drafts) if ref]
    for resources in record.by_key.values():
        for resource in resources:
            if resource.get("resourceType") == "Medication" and (ref := local_reference(resource)):
                record.medication_resources[ref] = resource
            if "medicationReference" in resource and (ref := _medication_reference(resource)):
                referenced.append(ref)
    return {ref for ref in referenced if ref not in record.medication_resources}


class _LazyClient:
    """The FHIR client, made (and the allow-list consulted, and a refusal logged) only if something must be
    fetched: a call whose prefetch was complete never touches `fhirServer`."""

    def __init__(self, request: HookRequest, http: httpx.AsyncClient | None, outbound: OutboundPolicy | None,
                 max_pages: int, max_response_bytes: int):
        self._request, self._http, self._outbound = request, http, outbound or OutboundPolicy()
        self._limits = (max_pages, max_response_bytes)
        self._made = False
        self._client: FhirClient | None = None
        self.why_not = "no fhirServer was given"

    def get(self) -> FhirClient | None:
        if not self._made:
            self._made = True
            server = self._request.fhirServer
            if server and self._http is not None:
                refusal = self._outbound.refusal(server)
                if refusal is None:
                    self._client = FhirClient(self._http, server, self._request.bearer_token, *self._limits)
                else:
                    self.why_not = f"fhirServer is not called: {refusal}"
                    log.warning("fhirServer refused", extra={"reason": refusal})
        return self._client


async def gather_record(
    request: HookRequest,
    context: HookContext,
    http: httpx.AsyncClient | None,
    *,
    budget_seconds: float,
    max_pages: int,
    max_response_bytes: int = 5_000_000,
    outbound: OutboundPolicy | None = None,
) -> PatientRecord:
    record = PatientRecord()
    lazy = _LazyClient(request, http, outbound, max_pages, max_response_bytes)
    dstu2 = is_dstu2_call(context)
    pending: dict[str, Awaitable[list[Resource]]] = {}
    problems: dict[str, str] = {}

    prefetch = request.prefetch
    for query in PREFETCH_QUERIES:
        answers = [read_prefetch(prefetch, key) for key in query.keys]
        satisfied = [answer for answer in answers if answer.satisfied]
        if len(satisfied) == 1:  # the usual case: the one key this client's version fills
            resources, next_url = satisfied[0].resources or [], satisfied[0].next_url or None
        else:
            resources = [resource for answer in satisfied for resource in answer.resources or ()]
            next_url = next((answer.next_url for answer in satisfied if answer.next_url), None)
        if satisfied and next_url is None:
            record.by_key[query.key] = resources
        elif satisfied and (client := lazy.get()) is not None:
            # The first page stays if the rest cannot be had: what it holds still counts.
            record.by_key[query.key] = resources
            pending[query.key] = client.search(continue_from=next_url, already=resources)
        elif satisfied:
            record.by_key[query.key] = resources
            problems[query.key] = f"only the first page was prefetched and {lazy.why_not}"
        elif (client := lazy.get()) is not None:
            template = query.template_for(dstu2)
            pending[query.key] = client.search(render_template(template, {**request.context,
                                                                          "patientId": context.patient_id}))
        else:
            # The problem of the key this client's version would fill ("not prefetched", an OperationOutcome).
            answer = answers[-1] if dstu2 else answers[0]
            problems[query.key] = f"{answer.problem} and {lazy.why_not}"

    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_seconds
    if pending:
        problems.update(await _run_all(pending, record.by_key, deadline - loop.time()))

    wanted = _index_medications(record, context.draft_orders)
    if wanted and (client := lazy.get()) is not None:
        reads: dict[str, Awaitable[list[Resource]]] = {ref: _read_one(client, ref) for ref in sorted(wanted)}
        fetched: dict[str, list[Resource]] = {}
        record.unresolved_medications.update(await _run_all(reads, fetched, deadline - loop.time(), "Medication"))
        if record.unresolved_medications:
            log.warning("medication references could not be resolved",
                        extra={"count": len(record.unresolved_medications)})
        for ref, found in fetched.items():
            record.medication_resources[ref] = found[0]
    elif wanted:
        record.unresolved_medications.update(
            {ref: f"it is not in the prefetched data and {lazy.why_not}" for ref in wanted}
        )

    if problems:
        # One line a call, not one a key: the sandbox leaves three keys out of every call, and each line is a write.
        log.info("FHIR data unavailable", extra={"unavailable": dict(problems), "count": len(problems)})
        record.unavailable.update(problems)
    return record


async def _read_one(client: FhirClient, ref: str) -> list[Resource]:
    return [await client.read(ref)]


async def _run_all(
    jobs: dict[str, Awaitable[list[Resource]]], into: dict[str, list[Resource]], timeout: float,
    label: str | None = None,
) -> dict[str, str]:
    """Run fetches in parallel within `timeout`; store results in `into`, return failures by key. Each is counted
    for /metrics under its key, or under `label` when the keys are not bounded (Medication references)."""
    if not jobs:
        return {}
    tasks = {asyncio.ensure_future(job): key for key, job in jobs.items()}
    done, not_done = await asyncio.wait(tasks, timeout=max(timeout, 0.0))
    failures: dict[str, str] = {}
    for task in not_done:
        task.cancel()
        failures[tasks[task]] = reason = "the FHIR server did not answer within the time budget"
        metrics.fhir_fetch(label or tasks[task], "timeout")
        log.warning("FHIR fetch failed", extra={"prefetch_key": tasks[task], "reason": reason})
    for task in done:
        key = tasks[task]
        try:
            into[key] = task.result()
            metrics.fhir_fetch(label or key, "ok")
        except FhirFetchError as exc:
            failures[key] = str(exc)
            metrics.fhir_fetch(label or key, "failed")
            log.warning("FHIR fetch failed", extra={"prefetch_key": key, "reason": str(exc)})
        except Exception as exc:  # a bug or an exotic transport error must not turn into a 500
            failures[key] = "the FHIR data could not be read"
            metrics.fhir_fetch(label or key, "error")
            log.exception("unexpected FHIR fetch error", extra={"prefetch_key": key, "error": type(exc).__name__})
    if not_done:
        await asyncio.gather(*not_done, return_exceptions=True)
    return failures
