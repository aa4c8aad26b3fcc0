"""Settings, all read from `CDS_*` environment variables so a container needs no config file."""

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _url_list(value: Any) -> Any:
    """A JSON list, or URLs separated by commas or spaces (`*` alone is easier to type than `["*"]`)."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./cds-feedback.db",
        description="Where feedback is stored: a SQLite file by default, postgresql+psycopg://... for replicas.",
    )
    database_migrate: bool = Field(
        default=True,
        description="Run pending schema migrations at start-up; false: refuse to start until `cds-service db upgrade`.",
    )
    feedback_comment_days: int = Field(
        default=90, ge=0,
        description="Days a feedback entry's free-text comment (overrideReason.userComment) is kept; then cleared.",
    )
    host: str = Field(default="127.0.0.1", description="Address `cds-service serve` binds to.")
    port: int = Field(default=8000, description="Port `cds-service serve` listens on.")
    workers: int = Field(default=1, description="uvicorn worker processes for `cds-service serve`.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")

    fhir_timeout_seconds: float = Field(
        default=2.0, description="Total time budget for all FHIR server calls of one hook request."
    )
    fhir_max_pages: int = Field(default=10, description="Most pages followed for one paginated search.")
    max_body_bytes: int = Field(default=5_000_000, description="Largest request body accepted (413 above).")
    max_json_depth: int = Field(default=64, ge=8, description="Deepest JSON nesting accepted in a request (400).")
    max_bundle_entries: int = Field(
        default=10_000, ge=1, description="Most Bundle entries, all Bundles of a request together (413 above)."
    )
    fhir_server_allowlist: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="fhirServer base URLs (prefixes) the service may fetch from with the caller's token; `*` for "
        "any (development). Empty: nothing is fetched and only prefetch is used.",
    )
    fhir_max_response_bytes: int = Field(
        default=5_000_000, description="Largest answer read from the FHIR server per request (the fetch fails above)."
    )

    cors_allow_origins: list[str] = Field(
        default=["*"], description='Origins allowed to call from a browser (JSON list, e.g. ["https://ehr"]).'
    )
    public_base_url: str | None = Field(
        default=None,
        description="The service's public URL when behind a proxy (used for JWT audience checks and the cards' "
        "links to the service's pages; without it, links use the URL the call came to).",
    )
    dashboard_password: SecretStr | None = Field(
        default=None,
        description="Password of the CDS committee's dashboard (/dashboard, HTTP Basic, user CDS_DASHBOARD_USER). "
        "Unset (the default): the dashboard is not served at all (404).",
    )
    dashboard_user: str = Field(default="committee", min_length=1, description="User name for the dashboard.")
    auth_required: bool = Field(
        default=False,
        description="Require a signed JWT from a trusted issuer (CDS Hooks client authentication) on every call.",
    )
    auth_anonymous_discovery: bool = Field(
        default=False, description="With auth_required, still answer discovery (GET /cds-services) without a JWT."
    )
    trusted_issuers_file: str | None = Field(
        default=None,
        description='JSON list of {"iss", "jwks_url" | "jwks", "jku"?}; `builtin:sandbox` for the public sandbox.',
    )
    jwt_leeway_seconds: int = Field(default=60, ge=0, le=300, description="Clock skew allowed on exp, nbf and iat.")
    jwt_max_age_seconds: int = Field(
        default=300, ge=1, description="Oldest `iat` accepted: client JWTs are made per call and short-lived."
    )
    jwks_cache_seconds: float = Field(default=3600.0, gt=0, description="How long a fetched key set is reused.")
    jwks_timeout_seconds: float = Field(default=2.0, gt=0, description="Time allowed to fetch an issuer's key set.")
    knowledge_dir: Path | None = Field(
        default=None, description="A directory of knowledge files to use instead of the bundled ones."
    )
    trials_live_search: bool = Field(
        default=False,
        description="Search ClinicalTrials.gov (API v2) for recruiting trials when the decision guide shows; off "
        "by default, so the service needs no network beyond the FHIR server.",
    )
    trials_timeout_seconds: float = Field(
        default=1.0,
        description="Longest wait for the registry; never past CDS_FHIR_TIMEOUT_SECONDS from the start of the call.",
    )
    trials_cache_seconds: float = Field(default=3600.0, description="How long registry answers are reused.")
    strict_fhir: bool = Field(
        default=False,
        description="Validate every FHIR resource the service emits with fhir.resources (slower; for testing).",
    )

    _split_allowlist = field_validator("fhir_server_allowlist", mode="before")(_url_list)


@lru_cache
def get_settings() -> Settings:
    return Settings()
