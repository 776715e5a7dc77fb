"""The bootstrap project files: a Python project of its own, with exact pins that agree with the main program's."""

from __future__ import annotations

import re
from importlib.metadata import version

import yaml

from tests.bootstrap.bootstrap_support import PROGRAM, PROJECT, REPO

SHARED = ("pulumi", "pulumi-azure-native", "pydantic")


def pins(path: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for raw in (REPO / path).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([A-Za-z0-9_.+-]+)", line)
            assert match, f"{path}: {line!r} is not an exact pin"
            found[match.group(1).lower()] = match.group(2)
    return found


def test_the_project_is_python_in_its_own_virtualenv() -> None:
    project = yaml.safe_load((PROGRAM / "Pulumi.yaml").read_text(encoding="utf-8"))
    assert project["name"] == PROJECT
    assert project["runtime"]["name"] == "python"
    assert project["runtime"]["options"]["virtualenv"] == "venv"
    assert "stackConfigDir" not in project


def test_requirements_are_exact_pins_shared_with_the_main_program() -> None:
    own, main = pins("bootstrap/requirements.txt"), pins("requirements.txt")
    assert sorted(own) == sorted([*SHARED, "pulumi-azuread", "pulumi-github"])
    assert {name: own[name] for name in SHARED} == {name: main[name] for name in SHARED}


def test_the_tests_run_the_pinned_providers() -> None:
    own = pins("bootstrap/requirements.txt")
    for name in ("pulumi-azuread", "pulumi-github", *SHARED):
        assert version(name) == own[name], name
