"""Helpers shared by the tests: the repo's paths, the fixture stacks and the program run under mocks.

Two sets of stacks: the shipped ones (``stacks/``, whatever the people who copied this template made
of them) and the fixture ones (``tests/fixtures/stacks/``, a frozen copy of the template's stacks).
Tests over shipped stacks check invariants only; tests that pin exact shapes use the fixtures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from preflight.mockrun import ProgramRun, run_program
from preflight.runner import Layout
from settings.stack_file import StackConfig, read_stack_config

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILE = REPO / "Pulumi.yaml"
STACKS_DIR = REPO / "stacks"
SHIPPED_STACKS = tuple(Layout(REPO).discover_stacks())

# Laid out like the repository (stacks/, policies/config/, .github/workflows/deploy.yml) so that it
# can be overlaid on a copy of it.
FIXTURES = REPO / "tests" / "fixtures"
FIXTURE_LAYOUT = Layout(FIXTURES)
FIXTURE_STACKS_DIR = FIXTURE_LAYOUT.stacks_dir
FIXTURE_STACKS = tuple(FIXTURE_LAYOUT.discover_stacks())
# Not part of the overlay: it explains the fixtures to people.
_FIXTURES_README = "README.md"
# A stack whose services have identities made here (not part of the overlay either: its own layout).
IDENTITY_FIXTURE = FIXTURES / "identity"
IDENTITY_STACK_FILE = IDENTITY_FIXTURE / "stacks" / "Pulumi.dev.yaml"


def stack_config(stack: str, stacks_dir: Path = FIXTURE_STACKS_DIR) -> StackConfig:
    """A stack file (a fixture one unless ``stacks_dir`` says otherwise), read the way the CLI reads it."""
    return read_stack_config(stacks_dir / f"Pulumi.{stack}.yaml", PROJECT_FILE)


def shipped_stack_config(stack: str) -> StackConfig:
    """A shipped stack file (``stacks/``), read the way the CLI reads it."""
    return stack_config(stack, STACKS_DIR)


def engine_config(stack: str, **overrides: Any) -> dict[str, str]:
    """A fixture stack's config as the engine passes it, with ``<project>:<key>`` overrides."""
    return _with_overrides(stack_config(stack), overrides)


def run_stack(stack: str, **overrides: Any) -> ProgramRun:
    """Run the real program for a fixture stack (optionally changed) under the mock runtime."""
    config = stack_config(stack)
    return run_program(REPO, config.project, stack, _with_overrides(config, overrides))


def raw_services(stack: str, stacks_dir: Path = FIXTURE_STACKS_DIR) -> list[dict[str, Any]]:
    """The ``services`` list of a (fixture) stack as plain data, for building variations."""
    config = stack_config(stack, stacks_dir)
    services: list[dict[str, Any]] = config.values[f"{config.project}:services"]
    return [dict(service) for service in services]


NOT_COPIED = shutil.ignore_patterns(".git", ".nox", ".venv", "venv", "__pycache__", "*_cache", "reports")


def template_copy(tmp_path: Path) -> Path:
    """The repository as it is in the working tree, with the template's stacks (the fixtures): where a
    test follows the README literally without depending on what the shipped stacks hold."""
    root = tmp_path / "repo"
    shutil.copytree(REPO, root, ignore=NOT_COPIED)
    overlay_fixtures(root)
    return root


def program_copy(tmp_path: Path, *, pack: bool = True) -> Path:
    """A throwaway repository holding this program, with an empty ``stacks/``: ``Pulumi.yaml`` and
    ``__main__.py`` copied, ``components`` and ``settings`` linked (tests change stacks, not code) and,
    with ``pack``, a copy of the policy pack whose configs a test may change."""
    root = tmp_path / "repo"
    (root / "stacks").mkdir(parents=True)
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(REPO / name, root / name)
    for name in ("components", "settings"):
        (root / name).symlink_to(REPO / name)
    if pack:
        shutil.copytree(REPO / "policies", root / "policies", ignore=shutil.ignore_patterns("venv", "__pycache__"))
    return root


def overlay_fixtures(root: Path) -> None:
    """Replace a repository copy's stacks, policy configs and deploy workflow by the fixture ones."""
    shutil.rmtree(root / "stacks", ignore_errors=True)
    shutil.rmtree(root / "policies" / "config", ignore_errors=True)
    for source in FIXTURES.rglob("*"):
        relative = source.relative_to(FIXTURES)
        if source.is_file() and relative != Path(_FIXTURES_README) and IDENTITY_FIXTURE not in source.parents:
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)


def _with_overrides(config: StackConfig, overrides: dict[str, Any]) -> dict[str, str]:
    values = config.for_engine()
    for key, value in overrides.items():
        values[f"{config.project}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def run_entry_point(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m preflight`` in a process of its own, as a user runs it, its stdout a pipe and buffered
    (PYTHONUNBUFFERED, which CI machines may set, would hide an output lost at exit)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "policies")])
    command = [sys.executable, "-m", "preflight", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
