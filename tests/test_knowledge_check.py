"""`cds-service knowledge check DIR`: a new knowledge directory validated as start-up would, before it is used."""

import os
import subprocess
import sys

from tests.test_knowledge import copy_bundled


def check(directory) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cds_service", "knowledge", "check", str(directory)],
                          capture_output=True, text=True, timeout=60, env=dict(os.environ))


def test_a_valid_new_version_passes_and_is_summarised(tmp_path, knowledge):
    directory = copy_bundled(tmp_path)
    manifest = directory / "manifest.toml"
    manifest.write_text(manifest.read_text().replace(f'version = "{knowledge.version}"', 'version = "2099.1.0"'))
    result = check(directory)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{directory}: knowledge base 2099.1.0 ")
    assert f"{len(knowledge.sources)} sources" in result.stdout
    assert result.stdout.rstrip().endswith(f"the bundled one is {knowledge.version}")


def test_a_broken_file_is_named_in_one_line_and_exit_status_2(tmp_path):
    directory = copy_bundled(tmp_path)
    inducers = directory / "inducers.toml"
    inducers.write_text(inducers.read_text().replace('strength = "strong"', 'strength = "huge"', 1))
    result = check(directory)
    assert result.returncode == 2
    assert "inducers.toml: [" in result.stderr and "strength" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_missing_file_or_directory_is_refused(tmp_path):
    directory = copy_bundled(tmp_path)
    (directory / "sources.toml").unlink()
    missing_file = check(directory)
    assert missing_file.returncode == 2 and "sources.toml: file is missing" in missing_file.stderr
    not_there = check(tmp_path / "nowhere")
    assert not_there.returncode == 2 and "is not a directory" in not_there.stderr

