"""Helpers shared by the tests: the repo's paths and the program run under mocks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from preflight.mockrun import ProgramRun, RecordedResource, run_program
from preflight.runner import Layout
from settings.stack_file import StackConfig, read_stack_config

REPO = Path(__file__).resolve().parents[1]
PROJECT_FILE = REPO / "Pulumi.yaml"
STACKS_DIR = REPO / "stacks"
SHIPPED_STACKS = tuple(Layout(REPO).discover_stacks())


def stack_config(stack: str) -> StackConfig:
    """A shipped stack file, read the way the CLI reads it."""
    return read_stack_config(STACKS_DIR / f"Pulumi.{stack}.yaml", PROJECT_FILE)


def engine_config(stack: str, **overrides: Any) -> dict[str, str]:
    """The shipped stack's config as the engine passes it, with ``<project>:<key>`` overrides."""
    config = stack_config(stack)
    values = config.for_engine()
    for key, value in overrides.items():
        values[f"{config.project}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return values


def run_stack(stack: str, **overrides: Any) -> ProgramRun:
    """Run the real program for a shipped stack (optionally changed) under the mock runtime."""
    config = stack_config(stack)
    return run_program(REPO, config.project, stack, engine_config(stack, **overrides))


def azure_name(resource: RecordedResource) -> str:
    """The Azure name the mocks gave a resource (the engine's ``name`` output)."""
    return str(resource.outputs["name"])


def raw_services(stack: str) -> list[dict[str, Any]]:
    """The ``services`` list of a shipped stack as plain data, for building variations."""
    config = stack_config(stack)
    services: list[dict[str, Any]] = config.values[f"{config.project}:services"]
    return [dict(service) for service in services]
