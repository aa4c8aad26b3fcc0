"""Reads from the caller's FHIR server with the bearer token the caller lent for this request.

The token only ever goes to the server the caller named: a pagination link that points elsewhere is not followed.
"""

from typing import Any

import httpx
import orjson

from cds_service.fhir import Resource, bundle_resources, next_link, with_uri_systems
from cds_service.outbound import FetchFailed, get_json, under_prefix

FHIR_JSON = "application/fhir+json, application/json;q=0.9"


class FhirFetchError(Exception):
    """A fetch that failed; the message is safe to log and to return (no token, no URL with patient ids)."""


class FhirClient:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token: str | None,
        max_pages: int = 10,
        max_bytes: int = 5_000_000,
    ):
        self._http = http
        self._max_bytes = max_bytes
        self._base = base_url.rstrip("/") + "/"
        self._headers = {"Accept": FHIR_JSON}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._max_pages = max_pages

    def url_for(self, query: str) -> str:
        return self._base + query.lstrip("/")

    def on_this_server(self, url: str) -> bool:
        return under_prefix(url, self._base)

    async def get_json(self, url: str) -> dict[str, Any]:
        if not self.on_this_server(url):
            raise FhirFetchError("refused to follow a link to another server")
        try:
            data = await get_json(self._http, url, headers=self._headers, max_bytes=self._max_bytes,
                                  source="the FHIR server", parse=_parsed_with_uri_systems)
        except FetchFailed as exc:
            raise FhirFetchError(str(exc)) from None
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FhirFetchError("the FHIR server's answer is not a FHIR resource")
        if data["resourceType"] == "OperationOutcome":
            raise FhirFetchError("the FHIR server answered with an OperationOutcome")
        return data

    async def read(self, query: str) -> Resource:
        return await self.get_json(self.url_for(query))

    async def search(self, query: str | None = None, *, continue_from: str | None = None,
                     already: list[Resource] | None = None) -> list[Resource]:
        """Every page of a search (at most `max_pages`), or the remaining pages after a prefetched first one."""
        resources = list(already or ())
        url = continue_from if continue_from is not None else self.url_for(query or "")
        for _ in range(self._max_pages):
            page = await self.get_json(url)
            resources.extend(bundle_resources(page))
            following = next_link(page)
            if following is None:
                return resources
            url = following
        raise FhirFetchError(f"the search has more than {self._max_pages} pages")


def _parsed_with_uri_systems(body: bytes) -> Any:
    """A page as JSON, its codings' OID systems read as URIs (walked only when the bytes hold such an OID)."""
    return with_uri_systems(orjson.loads(body), body)
