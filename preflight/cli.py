"""Offline preview of every stack: validate settings, run the program under mocks, print the plan."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from preflight.mockrun import ProgramError, ProgramRun, run_program
from settings.errors import SettingsError
from settings.stack_file import load_stack_file

REPO = Path(__file__).resolve().parents[1]
EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT = 0, 1, 2


def discover_stacks(stacks_dir: Path) -> list[str]:
    """Stack names from ``stacks/Pulumi.<stack>.yaml``, sorted."""
    return sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in stacks_dir.glob("Pulumi.*.yaml"))


def preview_stack(repo: Path, stack: str) -> ProgramRun:
    """Validate one stack file and run the program for it under the mock runtime."""
    config, _ = load_stack_file(repo / "stacks" / f"Pulumi.{stack}.yaml", repo / "Pulumi.yaml")
    return run_program(repo, config.project, stack, config.for_engine(), sorted(config.secret_keys))


def render_plan(run: ProgramRun) -> str:
    """A preview-like tree of what the stack would create."""
    children: dict[str | None, list[str]] = {}
    by_urn = {r.urn: r for r in run.resources}
    for resource in run.resources:
        children.setdefault(resource.parent, []).append(resource.urn)
    lines = [f"+ pulumi:pulumi:Stack {run.project}-{run.stack}"]

    def walk(parent: str, depth: int) -> None:
        for urn in sorted(children.get(parent, []), key=lambda u: (by_urn[u].type, by_urn[u].name)):
            resource = by_urn[urn]
            lines.append(f"{'    ' * depth}+ {resource.type} {resource.name}{' [protect]' if resource.protect else ''}")
            walk(urn, depth + 1)

    walk(run.stack_urn, 1)
    lines.append(f"Resources: + {len(run.resources) + 1} to create")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="preflight", description=__doc__)
    parser.add_argument("stacks", nargs="*", help="stack names (default: every stacks/Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    stacks = args.stacks or discover_stacks(REPO / "stacks")
    for stack in stacks:
        try:
            run = preview_stack(REPO, stack)
        except (SettingsError, ProgramError) as error:
            print(error, file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"Previewing stack {stack} (offline, mock runtime)\n{render_plan(run)}\n")
    return EXIT_OK
