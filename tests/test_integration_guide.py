"""The integration guide in the README says what works: its issuer lines load, its commands exist."""

import re
import subprocess
import sys
from pathlib import Path

from cds_service.auth import load_trusted_issuers

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_the_issuer_lines_the_readme_gives_for_epic_and_oracle_health_load(tmp_path):
    """The `CDS_TRUSTED_ISSUERS_FILE` lines for Epic and Oracle Health are ones the service accepts as written."""
    blocks = [b for b in re.findall(r"```json\n(.*?)```", README, re.S) if "PublicKeys" in b or "cerner" in b]
    assert len(blocks) == 2
    issuers = {}
    for index, block in enumerate(blocks):
        path = tmp_path / f"issuers-{index}.json"
        path.write_text(block)
        issuers.update(load_trusted_issuers(str(path)))
    assert set(issuers) == {"https://fhir.hospital.example/api/FHIR/R4", "https://cds-hooks.cerner.com"}


def test_every_cds_service_command_the_readme_shows_runs_from_the_clone_and_exists():
    """In the README's shell blocks: written as `.venv/bin/cds-service ...`, and each is a command that exists."""
    shell = "\n".join(re.findall(r"```sh\n(.*?)```", README, re.S))
    shown = re.findall(r"(\S*cds-service) ([a-z]+)(?: ([a-z]+))?", shell)
    assert shown, "the README shows commands"
    for program, command, subcommand in shown:
        assert program == ".venv/bin/cds-service", (program, command)
        args = [command, subcommand] if subcommand and command in ("feedback", "db", "knowledge") else [command]
        result = subprocess.run([sys.executable, "-m", "cds_service", *args, "--help"], capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, (args, result.stderr)
