"""`cds-service feedback export` reads the database the service writes, from whatever directory it is run, and
refuses (exit 2, one line) a database that is not there or holds no feedback, instead of creating an empty one."""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import Settings, default_database_url

FEEDBACK = {"feedback": [{"card": "card-1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s-1"}]}]}


def export(cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CDS_") and k != "XDG_DATA_HOME"}
    return subprocess.run([sys.executable, "-m", "cds_service", "feedback", "export"], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def data_home(tmp_path, monkeypatch) -> Path:
    for name in [k for k in os.environ if k.startswith("CDS_")]:
        monkeypatch.delenv(name)
    home = tmp_path / "xdg-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    return home


def test_the_default_database_is_in_the_users_data_directory_whatever_the_working_directory(
    tmp_path, monkeypatch, data_home, knowledge
):
    assert Settings().database_url == f"sqlite:///{data_home / 'imatinib-cds' / 'cds-feedback.db'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_database_url() == f"sqlite:///{tmp_path / 'home' / '.local/share/imatinib-cds/cds-feedback.db'}"


def test_feedback_stored_by_the_service_is_exported_from_another_directory(tmp_path, monkeypatch, data_home,
                                                                           knowledge):
    served_from, exported_from = tmp_path / "served-from", tmp_path / "exported-from"
    served_from.mkdir()
    exported_from.mkdir()
    monkeypatch.chdir(served_from)
    with TestClient(create_app(Settings(), knowledge)) as client:  # the defaults, as `make run` serves
        assert client.post("/cds-services/imatinib-order-sign/feedback", json=FEEDBACK).status_code == 200
    result = export(exported_from, {"XDG_DATA_HOME": str(data_home)})
    assert result.returncode == 0, result.stderr
    [row] = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert row["card"] == "card-1" and row["outcome"] == "accepted"
    assert list(served_from.iterdir()) == [] and list(exported_from.iterdir()) == []


def test_no_database_yet_is_refused_in_one_line_and_none_is_created(tmp_path, data_home):
    result = export(tmp_path, {"XDG_DATA_HOME": str(data_home)})
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "no feedback database at" in line and str(data_home / "imatinib-cds" / "cds-feedback.db") in line
    assert not data_home.exists()


@pytest.mark.parametrize("content", ["empty file", "other tables"])
def test_a_database_without_the_feedback_tables_is_refused_in_one_line(tmp_path, data_home, content):
    path = tmp_path / "other.db"
    connection = sqlite3.connect(path)
    if content == "other tables":
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    connection.commit()
    connection.close()
    result = export(tmp_path, {"CDS_DATABASE_URL": f"sqlite:///{path}"})
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "CDS_DATABASE_URL" in line and "has no feedback tables" in line and str(path) in line
