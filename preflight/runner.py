"""Preflight one or more stacks: validate config, run the program under mocks, judge it with the pack.

All stacks are validated before anything runs, so broken input stops the whole run with exit code 2
before any report is written.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from preflight.change_rules import ChangeDiagnostic, evaluate, load_levels
from preflight.changes import ResourceState, StackChanges, diff
from preflight.engine.driver import PolicyReport
from preflight.engine.levels import EnforcementLevel
from preflight.engine.pack import PolicyPackProcess, StackIdentity
from preflight.engine.policy_config import PolicyConfigError
from preflight.harness import DIY_ORGANIZATION, judge_while_running
from preflight.mockrun import MOCK_SUBSCRIPTION_ID, Phase, ProgramRun, RecordedResource, run_program
from settings.errors import SettingsError
from settings.model import StackSettings
from settings.stack_file import StackConfig, load_stack_file


@dataclass(frozen=True)
class Layout:
    """Where a repository keeps its project, stacks and policy pack."""

    root: Path

    @property
    def project_file(self) -> Path:
        return self.root / "Pulumi.yaml"

    @property
    def stacks_dir(self) -> Path:
        return self.root / "stacks"

    @property
    def pack_dir(self) -> Path:
        return self.root / "policies"

    def stack_file(self, stack: str) -> Path:
        return self.stacks_dir / f"Pulumi.{stack}.yaml"

    def policy_config(self, stack: str) -> Path:
        return self.pack_dir / "config" / f"{stack}.json"

    def change_config(self, stack: str) -> Path:
        """Enforcement levels of the change rules for one stack (optional: all mandatory without it)."""
        return self.pack_dir / "changes" / f"{stack}.json"

    def relative(self, path: Path) -> str:
        """A path as shown to people: relative to the repository when inside it."""
        try:
            return str(path.resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    def discover_stacks(self) -> list[str]:
        """Stack names from ``stacks/Pulumi.<stack>.yaml``, sorted."""
        return sorted(
            p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in self.stacks_dir.glob("Pulumi.*.yaml")
        )


@dataclass(frozen=True)
class LoadedStack:
    """A stack whose config is valid, ready to run."""

    name: str
    config: StackConfig
    settings: StackSettings
    stack_file: str
    policy_config: Path
    change_levels: Mapping[str, EnforcementLevel]
    """The change rules' levels (``policies/changes/<stack>.json``), read with everything else up front."""


@dataclass(frozen=True)
class StackResult:
    """What preflight found for one stack."""

    stack: LoadedStack
    run: ProgramRun
    policies: PolicyReport
    changes: StackChanges | None = None
    """The change against the base (``--base``/``--base-state``), or None when judging the end state only."""
    change_diagnostics: tuple[ChangeDiagnostic, ...] = ()

    @property
    def blocking_changes(self) -> list[ChangeDiagnostic]:
        """Change-rule violations that block the update."""
        return [d for d in self.change_diagnostics if d.blocking]

    @property
    def passed(self) -> bool:
        """No mandatory violation, of a policy or of a change rule."""
        return not self.policies.mandatory and not self.blocking_changes


def load_stacks(layout: Layout, names: Sequence[str]) -> list[LoadedStack]:
    """Validate every named stack (file, YAML, schema, policy config present, change-rule levels); one
    error line each, before anything runs."""
    known = layout.discover_stacks()
    loaded: list[LoadedStack] = []
    errors: list[str] = []
    for name in names:
        path = layout.stack_file(name)
        if not path.is_file():
            errors.append(f"{layout.relative(path)}: file not found; stacks here: {', '.join(known) or '(none)'}")
            continue
        try:
            config, settings = load_stack_file(path, layout.project_file, stack=name, shown=layout.relative)
        except SettingsError as error:
            errors.extend(error.lines)
            continue
        policy_config = layout.policy_config(name)
        if not policy_config.is_file():
            errors.append(
                f"{layout.relative(policy_config)}: file not found; "
                "every stack file needs a policy config with the same stem"
            )
            continue
        change_config = layout.change_config(name)
        try:
            levels = load_levels(change_config, layout.relative(change_config))
        except PolicyConfigError as error:
            errors.extend(error.lines)
            continue
        loaded.append(LoadedStack(name, config, settings, layout.relative(path), policy_config, levels))
    if errors:
        raise SettingsError(errors)
    return loaded


@dataclass(frozen=True)
class Base:
    """What one stack's change is judged against."""

    label: str
    resources: tuple[ResourceState, ...]
    subscription_id: str = MOCK_SUBSCRIPTION_ID


class BaseSource(Protocol):
    """Where each stack's base comes from (``preflight.baseline``); it may still be computing it."""

    def subscription_for(self, stack: str) -> str:
        """The Azure subscription the head run must answer with, known before the base is ready."""

    def stack(self, stack: str) -> Base | None:
        """The stack's base, waiting for it if need be; None when there is nothing to compare with."""


def stack_identity(stack: LoadedStack, phase: Phase = Phase.UPDATE) -> StackIdentity:
    """What the engine tells the policy pack about a stack (known before the program runs)."""
    return StackIdentity(
        DIY_ORGANIZATION,
        stack.config.project,
        stack.name,
        dry_run=phase is Phase.PREVIEW,
        config=stack.config.for_offline_run(),
        secret_keys=tuple(sorted(stack.config.secret_keys)),
    )


def preflight_stack(
    layout: Layout,
    stack: LoadedStack,
    pack: PolicyPackProcess,
    bases: BaseSource | None = None,
    phase: Phase = Phase.UPDATE,
) -> StackResult:
    """Run the program for one stack under mocks and judge it with its policy config (and its change).

    ``UPDATE`` (the default) judges the values Azure will hold, as ``pulumi up`` does; ``PREVIEW``
    judges exactly what ``pulumi preview`` shows for a first deployment (unknown outputs and all).
    """
    config = stack.config

    def run_stack(on_record: Callable[[RecordedResource], None]) -> ProgramRun:
        return run_program(
            layout.root,
            config.project,
            stack.name,
            config.for_offline_run(),
            sorted(config.secret_keys),
            subscription_id=bases.subscription_for(stack.name) if bases else MOCK_SUBSCRIPTION_ID,
            phase=phase,
            on_record=on_record,
        )

    run, policies = judge_while_running(pack, stack.policy_config, run_stack, layout.relative)
    # Asked for only now, so that a base computed elsewhere (a child process) overlaps this run.
    base = bases.stack(stack.name) if bases else None
    if base is None:
        return StackResult(stack, run, policies)
    changes = diff(base.resources, [ResourceState.from_recorded(r) for r in run.resources], base.label)
    return StackResult(stack, run, policies, changes, tuple(evaluate(changes, stack.settings, stack.change_levels)))
