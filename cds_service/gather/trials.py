"""Live search of ClinicalTrials.gov (API v2) for recruiting trials: off unless `CDS_TRIALS_LIVE_SEARCH` is set.

Only the registry's own host is called, without credentials and without following redirects. A hard time budget
bounds the wait, answers are kept in memory for `CDS_TRIALS_CACHE_SECONDS`, and after a failure the registry is left
alone for a minute, so a slow or broken registry costs one call at most one budget. Whatever happens, the caller
gets something to put on a card: trials, or why there are none.
"""

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson

from cds_service.outbound import ResponseTooLarge, get_capped

log = logging.getLogger("cds_service.trials")

REGISTRY_URL = "https://clinicaltrials.gov/api/v2/studies"
SEARCH_PAGE_URL = "https://clinicaltrials.gov/search"
STUDY_URL = "https://clinicaltrials.gov/study/{nct}"
RECRUITING = "RECRUITING,NOT_YET_RECRUITING"
FIELDS = "NCTId,BriefTitle,OverallStatus,Phase,Condition,InterventionName"
PAGE_SIZE = 5
RETRY_AFTER_SECONDS = 60.0
MAX_CACHED = 256
# A page of 10 studies with the few fields asked for is a few kB; anything near this is not an answer to read.
MAX_ANSWER_BYTES = 2_000_000
# Less time than this left in the call's budget is not worth a round trip.
MIN_BUDGET_SECONDS = 0.05
_NCT = re.compile(r"^NCT\d{8}$")


def study_url(nct: str) -> str:
    return STUDY_URL.format(nct=nct)


@dataclass(frozen=True, slots=True)
class TrialQuery:
    """What to look for: a condition, imatinib with the strategy's agents, and mutation terms."""

    condition: str
    interventions: tuple[str, ...]  # imatinib AND (any of these)
    terms: tuple[str, ...] = ()  # any of these (e.g. T315I)

    @property
    def intervention_expression(self) -> str:
        if not self.interventions:
            return "imatinib"
        return f"imatinib AND ({' OR '.join(self.interventions)})"

    @property
    def term_expression(self) -> str | None:
        return " OR ".join(self.terms) or None

    def api_params(self) -> dict[str, str]:
        params = {
            "query.cond": self.condition,
            "query.intr": self.intervention_expression,
            "filter.overallStatus": RECRUITING,
            "fields": FIELDS,
            "pageSize": str(PAGE_SIZE),
        }
        if self.term_expression:
            params["query.term"] = self.term_expression
        return params

    def search_page(self) -> str:
        """The same search on the registry's web site, for the clinician to open."""
        params = {"cond": self.condition, "intr": self.intervention_expression}
        if self.term_expression:
            params["term"] = self.term_expression
        return f"{SEARCH_PAGE_URL}?{urlencode(params)}"


@dataclass(frozen=True, slots=True)
class RegistryTrial:
    nct: str
    title: str
    status: str | None
    phases: tuple[str, ...]

    @property
    def url(self) -> str:
        return study_url(self.nct)


@dataclass(frozen=True, slots=True)
class LiveTrials:
    query: TrialQuery
    trials: tuple[RegistryTrial, ...] = ()
    problem: str | None = None  # why the search is unavailable

    @property
    def available(self) -> bool:
        return self.problem is None


def _module(study: Any, name: str) -> dict[str, Any]:
    protocol = study.get("protocolSection") if isinstance(study, dict) else None
    module = protocol.get(name) if isinstance(protocol, dict) else None
    return module if isinstance(module, dict) else {}


def parse_studies(data: Any) -> tuple[RegistryTrial, ...] | None:
    """The studies of an API v2 answer; None if the answer is not shaped like one. Odd entries are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("studies"), list):
        return None
    trials = []
    for study in data["studies"]:
        ident = _module(study, "identificationModule")
        nct, title = ident.get("nctId"), ident.get("briefTitle")
        if not isinstance(nct, str) or not _NCT.match(nct) or not isinstance(title, str):
            continue
        status = _module(study, "statusModule").get("overallStatus")
        phases = _module(study, "designModule").get("phases")
        trials.append(RegistryTrial(
            nct=nct,
            title=title,
            status=status if isinstance(status, str) else None,
            phases=tuple(p for p in phases if isinstance(p, str)) if isinstance(phases, list) else (),
        ))
    return tuple(trials)


class TrialRegistry:
    """The registry client with its cache. One per process; safe to share between concurrent calls."""

    def __init__(
        self, timeout_seconds: float, cache_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._timeout = timeout_seconds
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._cache: dict[TrialQuery, tuple[float, LiveTrials]] = {}
        self._quiet_until = 0.0

    async def search(self, query: TrialQuery, http: httpx.AsyncClient | None, budget_seconds: float) -> LiveTrials:
        now = self._clock()
        cached = self._cache.get(query)
        if cached is not None and cached[0] > now:
            return cached[1]
        if http is None:
            return LiveTrials(query, problem="no HTTP client is available")
        if now < self._quiet_until:
            return LiveTrials(query, problem="the registry failed less than a minute ago and is not asked again yet")
        budget = min(budget_seconds, self._timeout)
        if budget < MIN_BUDGET_SECONDS:
            return LiveTrials(query, problem="no time was left within the service's time budget")
        problem = None
        try:
            async with asyncio.timeout(budget):
                status, body = await get_capped(
                    http, str(httpx.URL(REGISTRY_URL, params=query.api_params())),
                    headers={"Accept": "application/json"}, max_bytes=MAX_ANSWER_BYTES, timeout=budget,
                )
        except (TimeoutError, httpx.TimeoutException):
            problem = f"the registry did not answer within {budget:.1f} s"
        except httpx.HTTPError as exc:
            problem = f"the registry could not be reached ({type(exc).__name__})"
        except ResponseTooLarge as exc:
            problem = f"the registry's answer was too large ({exc})"
        else:
            problem, trials = _read(status, body)
        if problem is not None:
            self._quiet_until = self._clock() + RETRY_AFTER_SECONDS
            log.warning("live trial search unavailable", extra={"reason": problem})
            return LiveTrials(query, problem=problem)
        result = LiveTrials(query, trials)
        self._remember(query, result)
        return result

    def _remember(self, query: TrialQuery, result: LiveTrials) -> None:
        self._cache.pop(query, None)
        if len(self._cache) >= MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[query] = (self._clock() + self._cache_seconds, result)


def _read(status: int, body: bytes) -> tuple[str | None, tuple[RegistryTrial, ...]]:
    if status != 200:
        return f"the registry answered HTTP {status}", ()
    try:
        trials = parse_studies(orjson.loads(body))
    except orjson.JSONDecodeError:
        trials = None
    if trials is None:
        return "the registry's answer could not be read", ()
    return None, trials
