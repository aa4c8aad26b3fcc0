"""Installs are reproducible: the Makefile installs under constraints.txt, the image from requirements.lock in a
layer before the code, and both pin every dependency pyproject.toml names, uvicorn without its reload extras."""

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pins(name: str) -> dict[str, str]:
    found = {}
    for line in (ROOT / name).read_text().splitlines():
        if line and not line.startswith("#"):
            package, version = line.split("==")
            found[canonicalize_name(package)] = version
    return found


def requirements(*extras: str) -> list[Requirement]:
    names = list(PROJECT["dependencies"])
    for extra in extras:
        names += PROJECT["optional-dependencies"][extra]
    return [Requirement(name) for name in names]


def test_the_production_lock_pins_every_runtime_dependency_at_a_version_pyproject_allows():
    lock = pins("requirements.lock")
    for requirement in requirements("postgres"):
        name = canonicalize_name(requirement.name)
        assert name in lock, f"{requirement.name} is not in requirements.lock: run `make lock`"
        assert requirement.specifier.contains(lock[name], prereleases=True), (requirement, lock[name])


def test_the_constraints_pin_every_test_dependency_and_agree_with_the_lock():
    constraints = pins("constraints.txt")
    for requirement in requirements("postgres", "test"):
        name = canonicalize_name(requirement.name)
        assert name in constraints, f"{requirement.name} is not in constraints.txt: run `make lock`"
        assert requirement.specifier.contains(constraints[name], prereleases=True), (requirement, constraints[name])
    for name, version in pins("requirements.lock").items():
        assert constraints.get(name) == version, name


def test_production_has_uvicorn_with_uvloop_and_httptools_but_not_its_reload_watcher():
    assert not any(r.name == "uvicorn" and r.extras for r in requirements("postgres"))
    lock = pins("requirements.lock")
    assert {"uvicorn", "uvloop", "httptools"} <= lock.keys()
    assert not {"watchfiles", "websockets"} & lock.keys()


def test_the_makefile_installs_under_the_constraints():
    installs = [line for line in (ROOT / "Makefile").read_text().splitlines()
                if re.search(r"pip install .*-e ", line)]
    assert installs and all("-c constraints.txt" in line for line in installs), installs


def test_the_image_installs_the_lock_in_a_layer_before_the_code():
    steps = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if re.match(r"(COPY|RUN) ", line)]
    lock_install = next(i for i, step in enumerate(steps) if "-r requirements.lock" in step)
    first_code = next(i for i, step in enumerate(steps) if "cds_service" in step)
    assert "--no-deps" in steps[lock_install] and lock_install < first_code
    assert any("--no-deps" in step and "pip check" in step for step in steps[first_code:])
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "*.db"} <= set(ignored)
