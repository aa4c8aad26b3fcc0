"""Issuers' public keys: inline key sets as configured, fetched ones cached with an expiry.

A fetched set is kept for `ttl` seconds. A `kid` not in the cached set triggers one early refetch (the issuer may
have rotated its keys), at most once per `refetch_interval`, so a flood of made-up kids cannot make the service
hammer the issuer. When a refetch fails, the last good set is used and the failure logged.

A key-set URL that hangs must not stack up waits: there is at most one fetch per URL at a time, and every caller
that needs it waits for that same fetch; a fetch that failed is remembered for `failure_ttl` seconds (callers are
refused at once meanwhile); and no call waits longer than `timeout` in all, however late it joined.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from cds_service.auth.issuers import TrustedIssuer, key_set_url_refusal
from cds_service.outbound import FetchFailed, get_json

log = logging.getLogger("cds_service.auth")

SigningKey = ECKey | RSAKey
MAX_KEY_SET_BYTES = 256_000
FAILURE_TTL_SECONDS = 10.0  # a failed fetch is not retried sooner: a hanging issuer costs one timeout per 10 s


class KeySetUnavailable(Exception):
    """The issuer's key set could not be had; the message is safe to log and to return."""


def signing_keys(jwks: object) -> dict[str, SigningKey]:
    """The public EC and RSA signature keys of a JWK Set by kid; anything else (oct, private parts) is left out."""
    keys: dict[str, SigningKey] = {}
    items = jwks.get("keys") if isinstance(jwks, dict) else None
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict) or item.get("kty") not in ("EC", "RSA") or item.get("use", "sig") != "sig":
            continue
        kid = item.get("kid")
        public = {k: v for k, v in item.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        try:
            key = KeySet.import_key_set({"keys": [public]}).keys[0]
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(kid, str) and kid and isinstance(key, ECKey | RSAKey):
            keys.setdefault(kid, key)
    return keys


@dataclass(slots=True)
class _Cached:
    keys: dict[str, SigningKey]
    fetched_at: float


class KeySets:
    def __init__(
        self,
        http: httpx.AsyncClient | None,
        *,
        timeout: float = 2.0,
        ttl: float = 3600.0,
        refetch_interval: float = 60.0,
        failure_ttl: float = FAILURE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._http = http
        self._timeout = timeout
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._failure_ttl = failure_ttl
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._in_flight: dict[str, asyncio.Task[dict[str, SigningKey]]] = {}
        self._failures: dict[str, tuple[float, str]] = {}  # url -> (when, why) of its last failed fetch
        self._inline: dict[str, dict[str, SigningKey]] = {}

    async def key(self, issuer: TrustedIssuer, kid: str, jku: str | None) -> SigningKey | None:
        """The issuer's key named `kid`: from its inline set, else from `jku` (already allow-listed) or `jwks_url`."""
        if issuer.jwks is not None:
            if issuer.iss not in self._inline:
                self._inline[issuer.iss] = signing_keys(issuer.jwks)
            return self._inline[issuer.iss].get(kid)
        url = jku or issuer.jwks_url
        assert url is not None  # a TrustedIssuer has jwks or jwks_url
        cached = self._cache.get(url)
        age = self._clock() - cached.fetched_at if cached else None
        if cached is None or age is None or age > self._ttl or (kid not in cached.keys
                                                                 and age > self._refetch_interval):
            cached = await self._refresh(url, cached)
        return cached.keys.get(kid)

    async def _refresh(self, url: str, stale: _Cached | None) -> _Cached:
        """The set fetched anew, by this call or by the one already fetching it; the stale set if that fails."""
        try:
            fresh = _Cached(await self._shared_fetch(url), self._clock())
        except KeySetUnavailable as exc:
            if stale is None:
                raise
            log.warning("key set refetch failed; using the last good one", extra={"reason": str(exc)})
            stale.fetched_at = self._clock()  # try again only after another interval
            return stale
        cached = self._cache.get(url)
        if cached is None or cached.fetched_at < fresh.fetched_at:
            self._cache[url] = fresh
        return fresh

    async def _shared_fetch(self, url: str) -> dict[str, SigningKey]:
        failed = self._failures.get(url)
        if failed is not None and self._clock() - failed[0] < self._failure_ttl:
            raise KeySetUnavailable(f"{failed[1]} (not retried for {self._failure_ttl:g} s)")
        task = self._in_flight.get(url)
        if task is None:
            task = self._in_flight[url] = asyncio.ensure_future(self._fetch_bounded(url))
            task.add_done_callback(lambda done: self._settled(url, done))
        try:  # shielded: a caller that gives up does not cancel the fetch the others are waiting for
            return await asyncio.wait_for(asyncio.shield(task), self._timeout)
        except TimeoutError:
            raise KeySetUnavailable(self._too_slow()) from None

    def _too_slow(self) -> str:
        return f"the issuer's key set URL did not answer within {self._timeout:g} s"

    def _settled(self, url: str, task: "asyncio.Task[dict[str, SigningKey]]") -> None:
        if self._in_flight.get(url) is task:
            del self._in_flight[url]
        error = None if task.cancelled() else task.exception()  # retrieved here, so never "never retrieved"
        if task.cancelled() or error is not None:
            reason = str(error) if isinstance(error, KeySetUnavailable) else "the key set fetch failed"
            self._failures[url] = (self._clock(), reason)
        else:
            self._failures.pop(url, None)

    async def _fetch_bounded(self, url: str) -> dict[str, SigningKey]:
        """httpx's timeout bounds each read, not a whole answer dripped slowly: bound the whole fetch too."""
        try:
            return await asyncio.wait_for(self._fetch(url), self._timeout)
        except TimeoutError:
            raise KeySetUnavailable(self._too_slow()) from None

    async def _fetch(self, url: str) -> dict[str, SigningKey]:
        if reason := key_set_url_refusal(url):
            raise KeySetUnavailable(f"the key set URL is refused: {reason}")
        if self._http is None:
            raise KeySetUnavailable("no HTTP client to fetch the key set with")
        try:
            document = await get_json(
                self._http, url, headers={"Accept": "application/json"}, max_bytes=MAX_KEY_SET_BYTES,
                source="the issuer's key set URL", timeout=self._timeout,
            )
        except FetchFailed as exc:
            raise KeySetUnavailable(str(exc)) from None
        keys = signing_keys(document)
        if not keys:
            raise KeySetUnavailable("the issuer's key set holds no usable signature key")
        log.info("key set fetched", extra={"count": len(keys)})
        return keys
