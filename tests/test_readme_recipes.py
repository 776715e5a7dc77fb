"""The README's recipes, followed literally in a copy of the repository, keep it green.

Each recipe is read from README.md itself (the fenced blocks under its heading), so the README and
this test cannot drift apart: ``sh`` blocks are run with bash in the copy, ``yaml`` blocks are put
where the recipe's text says. The copy carries the fixture stacks (tests/fixtures), the template as
shipped, so that the recipes' examples (``prod``, ``result-processing``, ``model.trained``) apply
whatever ``stacks/`` holds today. Then, in the copy: preflight passes, every stack holds the stack
invariants, and ``deploy.yml`` keeps its contract.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from preflight import cli
from preflight.runner import Layout
from tests.invariants import (
    assert_deploy_contract,
    assert_every_stack_of_the_root_holds,
    deploy_workflow,
    load_workflow,
    needs_of,
)
from tests.support import FIXTURE_STACKS, REPO, template_copy

README = REPO / "README.md"
# Never copied: environments, caches and git's own files.
# Recipes may only edit files; anything else in an `sh` block needs a decision on how to test it.
FILE_EDITS = {"cp", "mv", "rm", "sed"}
CODE_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Recipe:
    """One README section: its prose and its fenced code blocks, in order."""

    heading: str
    text: str
    blocks: tuple[tuple[str, str], ...]

    def code(self, language: str) -> list[str]:
        return [body for lang, body in self.blocks if lang == language]


def recipe(heading: str) -> Recipe:
    """The README section under ``## <heading>``, up to the next ``## ``."""
    lines = README.read_text().splitlines(keepends=True)
    start = lines.index(f"## {heading}\n") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("## ")), len(lines))
    text = "".join(lines[start:end])
    blocks = tuple((match[1], match[2]) for match in CODE_BLOCK.finditer(text))
    assert blocks, f"README section '{heading}' has no code block"
    return Recipe(heading, text, blocks)


# --- the copy and what is checked in it -------------------------------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The repository as it is in the working tree, with the template's stacks (the fixtures)."""
    return template_copy(tmp_path)


def assert_still_green(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Preflight passes for every stack of ``root``, which all hold the invariants, and deploy.yml
    keeps its contract; returns the stacks."""
    code = cli.main(["--root", str(root)])
    captured = capsys.readouterr()
    assert code == 0, captured.out[-4000:] + captured.err
    stacks = assert_every_stack_of_the_root_holds(root)
    assert_deploy_contract(root)
    return stacks


def stack_files(root: Path) -> dict[str, str]:
    return {path.name: path.read_text() for path in sorted(Layout(root).stacks_dir.glob("Pulumi.*.yaml"))}


# --- applying a recipe --------------------------------------------------------------------------


def run_shell_edits(recipe: Recipe, root: Path) -> None:
    """Run every command of the recipe's ``sh`` blocks with bash in ``root``."""
    commands = [line for body in recipe.code("sh") for line in body.splitlines() if line.strip()]
    assert commands, f"'{recipe.heading}' has no command"
    for command in commands:
        program = shlex.split(command)[0]
        assert program in FILE_EDITS, f"'{recipe.heading}': {command!r} is not a plain file edit"
        subprocess.run(["bash", "-euo", "pipefail", "-c", command], cwd=root, check=True, timeout=60)


def edit_services(root: Path, change: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> None:
    """Apply ``change`` to the ``services`` list of every stack file in ``root``."""
    project = yaml.safe_load((root / "Pulumi.yaml").read_text())["name"]
    for path in Layout(root).stacks_dir.glob("Pulumi.*.yaml"):
        document = yaml.safe_load(path.read_text())
        key = f"{project}:services"
        document["config"][key] = change(list(document["config"][key]))
        path.write_text(yaml.safe_dump(document, sort_keys=False))


def yaml_snippet(recipe: Recipe) -> Any:
    """The recipe's one ``yaml`` block as data (it is shown indented as it sits in its file)."""
    (snippet,) = recipe.code("yaml")
    return yaml.safe_load(textwrap.dedent(snippet))


def splice_deploy_jobs(root: Path, new_jobs: dict[str, dict[str, Any]]) -> None:
    """Put each new job right after the job it needs, and make the job that needed that one need the
    new job instead (what the README asks of `prod`)."""
    path = root / ".github" / "workflows" / "deploy.yml"
    document = load_workflow(path)
    jobs = list(document["jobs"].items())
    for name, job in new_jobs.items():
        (predecessor,) = needs_of(job)
        position = [job_id for job_id, _ in jobs].index(predecessor) + 1
        for _, later in jobs[position:]:
            if needs_of(later) == [predecessor]:
                later["needs"] = name
        jobs.insert(position, (name, job))
    document["jobs"] = dict(jobs)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


# --- the recipes --------------------------------------------------------------------------------


def test_adding_a_service(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (entry,) = yaml_snippet(recipe("Adding a service"))
    edit_services(copy, lambda services: [*services, entry])
    assert assert_still_green(copy, capsys) == list(FIXTURE_STACKS)
    for path in Layout(copy).stacks_dir.glob("Pulumi.*.yaml"):
        assert f"name: {entry['name']}" in path.read_text(), path.name


def test_removing_a_service(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    removed = {entry["name"] for entry in yaml_snippet(recipe("Removing or renaming a service"))}
    before = stack_files(copy)
    edit_services(copy, lambda services: [s for s in services if s["name"] not in removed])
    after = stack_files(copy)
    assert all(after[name] != before[name] for name in before), "the example names no service of some stack"
    assert all(f"name: {service}\n" not in text for service in removed for text in after.values())
    assert_still_green(copy, capsys)


def test_renaming_a_service(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = stack_files(copy)
    run_shell_edits(recipe("Removing or renaming a service"), copy)
    after = stack_files(copy)
    assert all(after[name] != before[name] for name in before), "the rename changed nothing in some stack"
    assert_still_green(copy, capsys)


def test_renaming_an_event_type(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = stack_files(copy)
    run_shell_edits(recipe("Renaming an event type"), copy)
    after = stack_files(copy)
    assert all(after[name] != before[name] for name in before), "the rename changed nothing in some stack"
    assert_still_green(copy, capsys)


def test_adding_an_environment(copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    steps = recipe("Adding an environment")
    run_shell_edits(steps, copy)
    new_jobs: dict[str, dict[str, Any]] = yaml_snippet(steps)
    for name, job in new_jobs.items():
        (predecessor,) = needs_of(job)
        # The README must tell people to re-point the job after it, which the splice below does.
        assert f"`needs: {predecessor}` to `needs: {name}`" in steps.text
    splice_deploy_jobs(copy, new_jobs)
    stacks = assert_still_green(copy, capsys)
    assert set(stacks) == {*FIXTURE_STACKS, *new_jobs}
    assert list(deploy_workflow(copy)["jobs"]) == ["dev", *new_jobs, "prod"]
