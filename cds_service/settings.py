"""Settings, all read from `CDS_*` environment variables so a container needs no config file.

Every value is checked when it is read: a number that cannot work (a port of 0, a negative timeout, no workers,
an infinite budget), an unknown log level or a database the service cannot use is refused by name, and the
commands turn that into one line and exit status 2 (`setting_problems`).
"""

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

ENV_PREFIX = "CDS_"
LOG_LEVELS = ("debug", "info", "warning", "error")
DATABASE_FORMS = "sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST/DATABASE"
SUPPORTED_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite", "postgresql+psycopg"})


def _driver(database_url: str) -> str | None:
    """The `dialect+driver` of a database URL, read without importing SQLAlchemy (every command checks it)."""
    scheme, separator, _rest = database_url.partition("://")
    if not separator or not scheme or not all(c.isalnum() or c in "+_" for c in scheme):
        return None
    return scheme.lower()


def _sqlite_path(database_url: str) -> str | None:
    """The file a SQLite URL names (`sqlite:///relative.db`, `sqlite:////absolute.db`), None for anything else."""
    driver = _driver(database_url)
    if driver is None or not driver.startswith("sqlite"):
        return None
    path = database_url.partition("://")[2].removeprefix("/").split("?", 1)[0]
    return path or None


APP_DIR_NAME = "imatinib-cds"


def default_database_file() -> Path:
    """Where feedback is kept unless CDS_DATABASE_URL says otherwise: the user's data directory (XDG), so every
    command finds the same file whatever directory it is run from."""
    data_home = os.environ.get("XDG_DATA_HOME") or ""
    base = Path(data_home) if Path(data_home).is_absolute() else Path.home() / ".local" / "share"
    return base / APP_DIR_NAME / "cds-feedback.db"


def default_database_url() -> str:
    return f"sqlite:///{default_database_file()}"


def prepare_default_database(database_url: str) -> None:
    """Create the data directory of the default database (and only of the default: a path someone chose that does
    not exist is a mistake to report, not to paper over)."""
    if database_url == default_database_url():
        default_database_file().parent.mkdir(parents=True, exist_ok=True)


def _url_list(value: Any) -> Any:
    """A JSON list, or URLs separated by commas or spaces (`*` alone is easier to type than `["*"]`)."""
    if isinstance(value, str):
        text = value.strip()
        return json.loads(text) if text.startswith("[") else text.replace(",", " ").split()
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", allow_inf_nan=False)

    database_url: str = Field(
        default_factory=default_database_url,
        description="Where feedback is stored: a SQLite file in the user's data directory by default "
        "($XDG_DATA_HOME/imatinib-cds/cds-feedback.db, else ~/.local/share/...), postgresql+psycopg://... for "
        "replicas.",
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
    port: int = Field(default=8000, ge=1, le=65535, description="Port `cds-service serve` listens on.")
    workers: int = Field(default=1, ge=1, le=256, description="uvicorn worker processes for `cds-service serve`.")
    log_level: str = Field(default="info", description="debug, info, warning or error.")

    fhir_timeout_seconds: float = Field(
        default=2.0, gt=0, le=600, description="Total time budget for all FHIR server calls of one hook request."
    )
    fhir_max_pages: int = Field(default=10, ge=1, description="Most pages followed for one paginated search.")
    max_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest request body accepted (413 above).")
    max_header_bytes: int = Field(
        default=32_768, ge=1024, le=1_048_576,
        description="Longest request line, and largest header block, a request may have (414 / 431 above).",
    )
    max_headers: int = Field(default=100, ge=10, le=10_000, description="Most header fields in a request (431).")
    request_timeout_seconds: float = Field(
        default=15.0, gt=0, le=3600,
        description="Time a client has, from opening the connection or starting a request, to send all of it; "
        "then 408 and the connection is closed.",
    )
    max_connections: int = Field(
        default=1000, ge=1, description="Connections (and requests in progress) one worker takes at once; 503 above."
    )
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
        default=5_000_000, ge=1024,
        description="Largest answer read from the FHIR server per request (the fetch fails above).",
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
        gt=0,
        description="Longest wait for the registry; never past CDS_FHIR_TIMEOUT_SECONDS from the start of the call.",
    )
    trials_cache_seconds: float = Field(default=3600.0, ge=0, description="How long registry answers are reused.")
    strict_fhir: bool = Field(
        default=False,
        description="Validate every FHIR resource the service emits with fhir.resources (slower; for testing).",
    )

    _split_allowlist = field_validator("fhir_server_allowlist", mode="before")(_url_list)

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: Any) -> Any:
        level = value.strip().lower() if isinstance(value, str) else value
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: str) -> str:
        """Only the databases the store is built and tested for; the URL is never echoed (it holds a password)."""
        driver = _driver(value)
        if driver is None:
            raise ValueError(f"is not a database URL; give {DATABASE_FORMS}")
        if driver.startswith("postgres") and driver not in SUPPORTED_DRIVERS:
            raise ValueError("names PostgreSQL without the psycopg driver the service installs: use postgresql+psycopg://")
        if driver not in SUPPORTED_DRIVERS:
            raise ValueError(f"names a {driver.split('+')[0]} database, which is not supported; give {DATABASE_FORMS}")
        return value


@lru_cache
def get_settings() -> Settings:
    return Settings()


def setting_problems(exc: ValidationError | SettingsError) -> str:
    """What is wrong with the environment, each variable named as it is set (`CDS_PORT must be ...`), in one line."""
    if isinstance(exc, SettingsError):  # a list setting that is not JSON: pydantic-settings names only the field
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "a setting"
        return f"{ENV_PREFIX}{field.upper()} could not be read (a JSON list is expected)"
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        name = ENV_PREFIX + str(error["loc"][0]).upper() if error["loc"] else "a setting"
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{name} {message[0].lower()}{message[1:]}" if message.startswith(("must", "is", "names"))
                        else f"{name}: {message}")
    return "; ".join(problems)


def sqlite_file_problem(database_url: str) -> str | None:
    """Why the SQLite file the URL names could not be created or written, if it could not (None for PostgreSQL).

    Checked before start-up, so a wrong path is a line naming it rather than "unable to open database file"."""
    database = _sqlite_path(database_url)
    if database is None or database == ":memory:":
        return None
    path = Path(database).absolute()
    if path.is_dir():
        return f"{path} is a directory, not a SQLite file"
    directory = path.parent
    if not directory.exists():
        blocker = next((p for p in directory.parents if p.exists() and not p.is_dir()), None)
        return f"{blocker} is not a directory" if blocker else f"the directory {directory} does not exist"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    # SQLite writes its journal and WAL files beside the database, so the directory must be writable too.
    if not os.access(directory, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.R_OK | os.W_OK)):
        return f"{path} cannot be written by this user"
    return None
