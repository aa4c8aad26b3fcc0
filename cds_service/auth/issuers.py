"""The CDS clients (EHRs) this service trusts, read from the JSON file named by `CDS_TRUSTED_ISSUERS_FILE`.

Each entry names an `iss` and where its public keys are: a `jwks_url` fetched over https, or a `jwks` key set
given inline. `jku` lists the key-set URLs a token of that issuer may name in its header; a `jku` not listed is
refused, so a token cannot bring its own keys. `builtin:NAME` selects a preset shipped in `presets/`.
"""

from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from cds_service.outbound import metadata_refusal

BUILTIN_PREFIX = "builtin:"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class TrustedIssuersError(ValueError):
    """The trusted-issuers file is missing or malformed; start-up stops with this message."""


class TrustedIssuer(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    iss: str = Field(min_length=1)
    jwks_url: str | None = None
    jwks: dict[str, Any] | None = None
    jku: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_key_source(self) -> "TrustedIssuer":
        if (self.jwks_url is None) == (self.jwks is None):
            raise ValueError("give exactly one of jwks_url or jwks")
        if self.jwks is not None and not isinstance(self.jwks.get("keys"), list):
            raise ValueError("jwks must be a JWK Set: an object with a 'keys' list")
        for url in (self.jwks_url, *self.jku):
            if url is not None and (reason := key_set_url_refusal(url)):
                raise ValueError(f"{url}: {reason}")
        return self

    @property
    def allowed_jku(self) -> frozenset[str]:
        return frozenset((*self.jku, *((self.jwks_url,) if self.jwks_url else ())))


def key_set_url_refusal(url: str) -> str | None:
    """Key sets decide whom the service trusts: https only (plain http only on this machine, for tests)."""
    if reason := metadata_refusal(url):
        return reason
    if urlsplit(url).scheme == "http" and urlsplit(url).hostname not in LOOPBACK_HOSTS:
        return "key sets are fetched over https only"
    return None


_ISSUER_LIST = TypeAdapter(list[TrustedIssuer])


def _read(source: str) -> bytes:
    if source.startswith(BUILTIN_PREFIX):
        name = source.removeprefix(BUILTIN_PREFIX)
        preset = resources.files("cds_service.auth") / "presets" / f"{name}.json"
        if not name.isidentifier() or not preset.is_file():
            raise TrustedIssuersError(f"no built-in trusted-issuers preset '{name}' (there is: sandbox)")
        return preset.read_bytes()
    try:
        return Path(source).read_bytes()
    except OSError as exc:
        raise TrustedIssuersError(f"cannot read the trusted-issuers file {source}: {exc.strerror}") from None


def trusted_issuers_for(source: str | None) -> dict[str, TrustedIssuer]:
    """The issuers CDS_TRUSTED_ISSUERS_FILE names; required once client authentication is on."""
    if not source:
        raise TrustedIssuersError(
            "CDS_AUTH_REQUIRED is on but CDS_TRUSTED_ISSUERS_FILE is not set: name a JSON file of trusted issuers "
            "(or builtin:sandbox for the public CDS Hooks sandbox)"
        )
    return load_trusted_issuers(source)


def load_trusted_issuers(source: str) -> dict[str, TrustedIssuer]:
    """Trusted issuers by `iss`, from a file path or `builtin:NAME`; a broken file is an error naming the problem."""
    try:
        entries = _ISSUER_LIST.validate_python(orjson.loads(_read(source)))
    except orjson.JSONDecodeError as exc:
        raise TrustedIssuersError(f"{source} is not valid JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"entry {'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False)
        )
        raise TrustedIssuersError(f"{source}: {problems}") from None
    issuers: dict[str, TrustedIssuer] = {}
    for entry in entries:
        if entry.iss in issuers:
            raise TrustedIssuersError(f"{source}: issuer {entry.iss} is listed twice")
        issuers[entry.iss] = entry
    if not issuers:
        raise TrustedIssuersError(f"{source} lists no issuer, so no client could ever be authenticated")
    return issuers
