"""Assemble the patient's record for one hook call from prefetch, topped up from the FHIR server in parallel."""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass, field

import httpx

from cds_service.errors import RequiredDataUnavailable
from cds_service.fhir import Resource, local_reference
from cds_service.gather.fhir_client import FhirClient, FhirFetchError
from cds_service.gather.prefetch import PREFETCH_QUERIES, PrefetchQuery, read_prefetch, render_template
from cds_service.hook_context import HookContext
from cds_service.outbound import OutboundPolicy
from cds_service.protocol.request import HookRequest

log = logging.getLogger("cds_service.gather")


@dataclass(slots=True)
class PatientRecord:
    """Resources by prefetch key, plus what could not be had (optional data only: required data raises 412)."""

    by_key: dict[str, list[Resource]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    # Medication resources by reference ("Medication/x"), for orders that name their drug by reference.
    medication_resources: dict[str, Resource] = field(default_factory=dict)

    def get(self, key: str) -> list[Resource]:
        return self.by_key.get(key, [])


def _query_for(query: PrefetchQuery, context: HookContext, request: HookRequest) -> str:
    dstu2 = any(order.get("resourceType") == "MedicationOrder" for order in context.draft_orders)
    template = query.dstu2_template if dstu2 and query.dstu2_template else query.template
    return render_template(template, {**request.context, "patientId": context.patient_id})


def _medication_references(record: PatientRecord, drafts: tuple[Resource, ...]) -> set[str]:
    """`Medication/x` references that nothing at hand resolves (contained ones resolve locally)."""
    wanted: set[str] = set()
    for resource in (*drafts, *(r for rs in record.by_key.values() for r in rs)):
        ref = (resource.get("medicationReference") or {}).get("reference")
        if isinstance(ref, str) and ref.startswith("Medication/") and ref not in record.medication_resources:
            wanted.add(ref)
    return wanted


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
    client = None
    no_client = "no fhirServer was given"
    if request.fhirServer and http is not None:
        refusal = (outbound or OutboundPolicy()).refusal(request.fhirServer)
        if refusal is None:
            client = FhirClient(http, request.fhirServer, request.bearer_token, max_pages, max_response_bytes)
        else:
            no_client = f"fhirServer is not called: {refusal}"
            log.warning("fhirServer refused", extra={"reason": refusal})
    pending: dict[str, Awaitable[list[Resource]]] = {}
    problems: dict[str, str] = {}

    for query in PREFETCH_QUERIES:
        answer = read_prefetch(request.prefetch, query.key)
        if answer.satisfied and answer.next_url is None:
            record.by_key[query.key] = answer.resources or []
        elif client is not None and answer.satisfied:
            pending[query.key] = client.search(continue_from=answer.next_url, already=answer.resources)
        elif client is not None:
            pending[query.key] = client.search(_query_for(query, context, request))
        elif answer.satisfied:
            record.by_key[query.key] = answer.resources or []
            problems[query.key] = f"only the first page was prefetched and {no_client}"
        else:
            problems[query.key] = f"{answer.problem} and {no_client}"

    loop = asyncio.get_running_loop()
    deadline = loop.time() + budget_seconds
    if pending:
        problems.update(await _run_all(pending, record.by_key, deadline - loop.time()))

    for resource in (r for rs in record.by_key.values() for r in rs):
        if resource.get("resourceType") == "Medication" and (ref := local_reference(resource)):
            record.medication_resources[ref] = resource
    if client is not None:
        wanted = _medication_references(record, context.draft_orders)
        reads = {ref: _read_one(client, ref) for ref in sorted(wanted)}
        fetched: dict[str, list[Resource]] = {}
        unresolved = await _run_all(reads, fetched, deadline - loop.time())
        if unresolved:
            log.warning("medication references could not be resolved", extra={"count": len(unresolved)})
        for ref, found in fetched.items():
            record.medication_resources[ref] = found[0]

    missing_required = [q for q in PREFETCH_QUERIES if q.required and q.key in problems]
    if missing_required:
        what = "; ".join(f"{q.key} ({q.template}): {problems[q.key]}" for q in missing_required)
        raise RequiredDataUnavailable(f"Required FHIR data could not be obtained: {what}.")
    for key, reason in problems.items():
        log.info("optional FHIR data unavailable", extra={"prefetch_key": key, "reason": reason})
        record.unavailable[key] = reason
    return record


async def _read_one(client: FhirClient, ref: str) -> list[Resource]:
    return [await client.read(ref)]


async def _run_all(
    jobs: dict[str, Awaitable[list[Resource]]], into: dict[str, list[Resource]], timeout: float
) -> dict[str, str]:
    """Run fetches in parallel within `timeout`; store results in `into`, return failures by key."""
    if not jobs:
        return {}
    tasks = {asyncio.ensure_future(job): key for key, job in jobs.items()}
    done, not_done = await asyncio.wait(tasks, timeout=max(timeout, 0.0))
    failures: dict[str, str] = {}
    for task in not_done:
        task.cancel()
        failures[tasks[task]] = "the FHIR server did not answer within the time budget"
    for task in done:
        key = tasks[task]
        try:
            into[key] = task.result()
        except FhirFetchError as exc:
            failures[key] = str(exc)
            log.warning("FHIR fetch failed", extra={"prefetch_key": key, "reason": str(exc)})
        except Exception as exc:  # a bug or an exotic transport error must not turn into a 500
            failures[key] = "the FHIR data could not be read"
            log.exception("unexpected FHIR fetch error", extra={"prefetch_key": key, "error": type(exc).__name__})
    if not_done:
        await asyncio.gather(*not_done, return_exceptions=True)
    return failures
