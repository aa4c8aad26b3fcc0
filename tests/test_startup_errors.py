"""A setting that cannot work stops the command at once: one line on stderr naming the variable and what is wrong,
exit status 2, no traceback. Run as a user would, `cds-service` in a subprocess."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDS_")}
    process = subprocess.Popen([sys.executable, "-m", "cds_service", *args], env={**clean, **env}, cwd=cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # a server that started, and any workers it forked
        process.communicate()
        pytest.fail(f"cds-service {' '.join(args)} with {env} was not refused: it was still running")
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def refused_in_one_line(result: subprocess.CompletedProcess, *expected: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cds-service: ")
    for text in expected:
        assert text in lines[0], lines[0]


# The ones the security review found, run as a subprocess exactly as a user would.
AS_REPORTED = {
    "port not a number": ({"CDS_PORT": "abc"}, ["CDS_PORT", "integer"]),
    "log level unknown": ({"CDS_LOG_LEVEL": "verbose"}, ["CDS_LOG_LEVEL", "debug", "info", "warning", "error"]),
    "database of another kind": ({"CDS_DATABASE_URL": "mysql://u:secret@db/cds"},
                                 ["CDS_DATABASE_URL", "mysql", "postgresql+psycopg"]),
    "negative FHIR timeout": ({"CDS_FHIR_TIMEOUT_SECONDS": "-5"}, ["CDS_FHIR_TIMEOUT_SECONDS", "greater than 0"]),
    "no workers": ({"CDS_WORKERS": "0"}, ["CDS_WORKERS", "greater than or equal to 1"]),
}
# The rest of the class, through the same entry point in this process (a subprocess each would take seconds).
MORE = {
    "port out of range": ({"CDS_PORT": "70000"}, ["CDS_PORT", "65535"]),
    "port zero": ({"CDS_PORT": "0"}, ["CDS_PORT"]),
    "database not a URL": ({"CDS_DATABASE_URL": "feedback.db"},
                           ["CDS_DATABASE_URL", "sqlite:///", "postgresql+psycopg"]),
    "postgresql without the psycopg driver": ({"CDS_DATABASE_URL": "postgresql://u:secret@db/cds"},
                                              ["CDS_DATABASE_URL", "postgresql+psycopg://"]),
    "infinite FHIR timeout": ({"CDS_FHIR_TIMEOUT_SECONDS": "inf"}, ["CDS_FHIR_TIMEOUT_SECONDS", "finite"]),
    "no pages": ({"CDS_FHIR_MAX_PAGES": "0"}, ["CDS_FHIR_MAX_PAGES"]),
    "no body at all": ({"CDS_MAX_BODY_BYTES": "-1"}, ["CDS_MAX_BODY_BYTES"]),
    "no FHIR answer at all": ({"CDS_FHIR_MAX_RESPONSE_BYTES": "0"}, ["CDS_FHIR_MAX_RESPONSE_BYTES"]),
    "negative registry timeout": ({"CDS_TRIALS_TIMEOUT_SECONDS": "-1"}, ["CDS_TRIALS_TIMEOUT_SECONDS"]),
    "negative registry cache": ({"CDS_TRIALS_CACHE_SECONDS": "-1"}, ["CDS_TRIALS_CACHE_SECONDS"]),
    "key-set timeout nan": ({"CDS_JWKS_TIMEOUT_SECONDS": "nan"}, ["CDS_JWKS_TIMEOUT_SECONDS"]),
    "origins not JSON": ({"CDS_CORS_ALLOW_ORIGINS": "[not json"}, ["CDS_CORS_ALLOW_ORIGINS"]),
    "flag not a boolean": ({"CDS_AUTH_REQUIRED": "perhaps"}, ["CDS_AUTH_REQUIRED", "boolean"]),
    "two at once": ({"CDS_PORT": "abc", "CDS_WORKERS": "0"}, ["CDS_PORT", "CDS_WORKERS"]),
}


@pytest.mark.parametrize("case", list(AS_REPORTED))
def test_a_bad_setting_stops_serve_in_one_line_naming_it(tmp_path, case):
    env, expected = AS_REPORTED[case]
    result = run(["serve"], {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}", **env}, tmp_path)
    refused_in_one_line(result, *expected)
    assert "secret" not in result.stderr  # a database password is never echoed


@pytest.mark.parametrize("case", list(MORE))
def test_every_nonsense_setting_is_refused_in_one_line_naming_it(tmp_path, monkeypatch, capsys, case):
    from cds_service import cli
    from cds_service.settings import get_settings

    env, expected = MORE[case]
    for name in [k for k in os.environ if k.startswith("CDS_")]:
        monkeypatch.delenv(name)
    for name, value in {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}", **env}.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        status = cli.main(["serve"])
    finally:
        get_settings.cache_clear()
    stderr = capsys.readouterr().err
    refused_in_one_line(subprocess.CompletedProcess([], status, "", stderr), *expected)
    assert "secret" not in stderr


def test_every_command_is_refused_the_same_way(tmp_path):
    for args in (["evaluate", "-"], ["feedback", "export"]):
        refused_in_one_line(run(args, {"CDS_PORT": "abc"}, tmp_path), "CDS_PORT")


def test_a_sqlite_file_that_cannot_be_created_stops_serve_naming_the_path(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "fb.db"  # even root cannot create a file inside a regular file
    refused_in_one_line(run(["serve"], {"CDS_DATABASE_URL": f"sqlite:///{path}"}, tmp_path),
                        "CDS_DATABASE_URL", str(blocker), "not a directory")
    missing = tmp_path / "no-such-dir" / "fb.db"
    refused_in_one_line(run(["serve"], {"CDS_DATABASE_URL": f"sqlite:///{missing}"}, tmp_path),
                        "CDS_DATABASE_URL", str(missing.parent), "does not exist")
    assert not missing.parent.exists()


@pytest.mark.parametrize("flag", ["--workers", "--port"])
def test_a_nonsense_number_on_the_command_line_is_refused_too(tmp_path, flag):
    result = run(["serve", flag, "0"], {"CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'fb.db'}"}, tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert flag in result.stderr


def test_evaluate_a_missing_file_says_so_without_a_traceback(tmp_path):
    result = run(["evaluate", "missing.json"], {}, tmp_path)
    refused_in_one_line(result, "missing.json", "No such file")
    result = run(["evaluate", str(tmp_path)], {}, tmp_path)
    refused_in_one_line(result, str(tmp_path), "directory")


def test_every_numeric_setting_has_a_lower_bound_so_nonsense_is_refused():
    """A setting added later without a bound would take `-5` or `0` silently: this names it."""
    from annotated_types import Ge, Gt

    from cds_service.settings import Settings

    unbounded = [name for name, field in Settings.model_fields.items()
                 if field.annotation in (int, float) and not any(isinstance(m, Ge | Gt) for m in field.metadata)]
    assert unbounded == []
