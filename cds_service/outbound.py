"""Which URLs the service may call: allow-listed servers only, over http(s), never a cloud-metadata address.

A caller names `fhirServer` (and a JWT names its `jku`); fetching whatever a request names would let any caller
point a service that sits inside a hospital network at internal hosts, and the metadata endpoints of cloud hosts
hand out credentials. Every outbound URL is checked here before anything is sent to it.
"""

import ipaddress
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx
import orjson

# Link-local (AWS, Azure, GCP, OpenStack, Oracle metadata at 169.254.169.254; ECS task metadata at 169.254.170.2),
# AWS's IPv6 metadata address and Alibaba Cloud's metadata address.
METADATA_NETWORKS = tuple(
    ipaddress.ip_network(net)
    for net in ("169.254.0.0/16", "fe80::/10", "fd00:ec2::254/128", "100.100.100.200/32")
)
METADATA_HOSTS = frozenset({
    "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _host(parts: SplitResult) -> str:
    return (parts.hostname or "").rstrip(".").lower()


def _as_ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a host literal names, including the legacy forms resolvers accept ("2852039166", "0xa9.254.1")."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(c in "0123456789abcdefx." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def metadata_refusal(url: str) -> str | None:
    """Why `url` must never be called whatever the configuration (a reason safe to log), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return "the URL is malformed"
    if parts.scheme not in DEFAULT_PORTS:
        return "only http(s) URLs are called"
    if parts.username is not None or parts.password is not None:
        return "URLs with credentials in them are not called"
    host = _host(parts)
    if not host:
        return "the URL has no host"
    if host in METADATA_HOSTS:
        return "cloud-metadata hosts are never called"
    address = _as_ip(host)
    if address is not None:
        mapped = getattr(address, "ipv4_mapped", None) or address
        if any(mapped in net for net in METADATA_NETWORKS if net.version == mapped.version):
            return "link-local and cloud-metadata addresses are never called"
    return None


def _origin(parts: SplitResult) -> tuple[str, str, int]:
    return parts.scheme, _host(parts), parts.port or DEFAULT_PORTS.get(parts.scheme, 0)


def _climbs(path: str) -> bool:
    """Whether a path has a "." or ".." segment (also percent-encoded): HTTP clients and servers resolve them, so
    "/fhir/../admin" is called as "/admin" although it starts with "/fhir/". Real FHIR URLs have none."""
    return any(unquote(segment) in (".", "..") for segment in path.split("/"))


def under_prefix(url: str, prefix: str) -> bool:
    """Same scheme, host and port, and the path at or below the prefix's path (segment-wise, not as a string)."""
    try:
        have, want = urlsplit(url), urlsplit(prefix)
        if _origin(have) != _origin(want) or _climbs(have.path):
            return False
    except ValueError:
        return False
    base = want.path.rstrip("/")
    return have.path == base or have.path.startswith(base + "/") or not base


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    """URL prefixes the service may call (`*`: any http(s) URL, for development); metadata addresses never."""

    allowlist: tuple[str, ...] = ()
    setting: str = "CDS_FHIR_SERVER_ALLOWLIST"

    @classmethod
    def of(cls, prefixes: Iterable[str], setting: str = "CDS_FHIR_SERVER_ALLOWLIST") -> "OutboundPolicy":
        return cls(tuple(p.strip() for p in prefixes if p.strip()), setting)

    def refusal(self, url: str) -> str | None:
        """Why `url` may not be called (safe to log and to return to the caller), or None when it may."""
        if reason := metadata_refusal(url):
            return reason
        if "*" in self.allowlist or any(under_prefix(url, prefix) for prefix in self.allowlist):
            return None
        return f"the server is not on the allow-list ({self.setting})"


class ResponseTooLarge(Exception):
    """An answer longer than the caller's limit; reading stopped there."""


async def get_capped(
    http: httpx.AsyncClient, url: str, *, headers: dict[str, str], max_bytes: int, timeout: float | None = None
) -> tuple[int, bytes]:
    """GET `url`: the status, and for a 200 the body, read only up to `max_bytes` so no answer can exhaust memory."""
    async with http.stream(
        "GET", url, headers=headers, timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT
    ) as response:
        if response.status_code != 200:
            return response.status_code, b""
        body = await collect_capped(response.aiter_bytes(), response.headers.get("content-length"), max_bytes)
    if body is None:
        raise ResponseTooLarge(f"the answer is larger than the {max_bytes}-byte limit")
    return 200, body


class FetchFailed(Exception):
    """A GET that gave no JSON to read; the message names the source and why, without the URL (it may carry ids)."""


async def get_json(
    http: httpx.AsyncClient, url: str, *, headers: dict[str, str], max_bytes: int, source: str,
    timeout: float | None = None, parse: Callable[[bytes], Any] = orjson.loads,
) -> Any:
    """`get_capped`, then JSON (`parse`, which sees the bytes too): every way that fails becomes one `FetchFailed`
    sentence about `source` ("the FHIR server", "the issuer's key set URL")."""
    try:
        status, body = await get_capped(http, url, headers=headers, max_bytes=max_bytes, timeout=timeout)
    except ResponseTooLarge:
        raise FetchFailed(f"{source}'s answer is larger than the {max_bytes}-byte limit") from None
    except httpx.TimeoutException:
        raise FetchFailed(f"{source} timed out") from None
    except httpx.HTTPError as exc:
        raise FetchFailed(f"{source} could not be reached ({type(exc).__name__})") from None
    if status != 200:
        raise FetchFailed(f"{source} answered HTTP {status}")
    try:
        return parse(body)
    except orjson.JSONDecodeError:
        raise FetchFailed(f"{source}'s answer is not JSON") from None


async def collect_capped(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes | None:
    """A body read to its end, or None as soon as it (or its declared length) passes `limit`: never more in memory.

    Shared by incoming requests and outgoing answers."""
    if declared_length and declared_length.isdigit() and int(declared_length) > limit:
        return None
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
