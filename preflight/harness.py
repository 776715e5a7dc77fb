"""The offline gate's core: a program run under mocks, judged by a pack over the engine's protocol.

Nothing here is specific to this repository: ``preflight.generic`` uses it for any Pulumi Python
project, ``preflight.runner`` for this repository's stacks (with its settings on top).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from preflight.engine.driver import PolicyReport, evaluate
from preflight.engine.pack import PolicyPackProcess, StackIdentity
from preflight.engine.policy_config import load_policy_config
from preflight.engine.resources import EngineResource, ProviderReference
from preflight.mockrun import Phase, ProgramRun, RecordedResource

DIY_ORGANIZATION = "organization"
"""What a local (DIY) backend reports as the organization (pulumi/pulumi ``pkg/backend/diy/state.go``)."""


def engine_resource(resource: RecordedResource) -> EngineResource:
    """A recorded registration as the engine holds it."""
    return EngineResource(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        custom=resource.custom,
        inputs=resource.raw_inputs,
        outputs=resource.raw_outputs,
        parent=resource.parent or "",
        dependencies=resource.dependencies,
        property_dependencies=resource.property_dependencies,
        provider=ProviderReference.parse(resource.provider),
        options=resource.resource_options,
        id=resource.id or "",
    )


def engine_resources(run: ProgramRun) -> Iterator[EngineResource]:
    """Every resource of the run, root stack and default providers included, in registration order."""
    return (engine_resource(resource) for resource in run.registered or run.resources)


def stack_identity(run: ProgramRun, config: dict[str, str], organization: str = DIY_ORGANIZATION) -> StackIdentity:
    """What the engine tells the pack about the run's stack."""
    return StackIdentity(organization, run.project, run.stack, dry_run=run.phase is Phase.PREVIEW, config=config)


def judge(
    pack: PolicyPackProcess, run: ProgramRun, config_file: Path | None, shown: Callable[[Path], str] = str
) -> PolicyReport:
    """Judge a program run with a ``--policy-pack-config`` file (or none)."""
    if config_file is None:
        return evaluate(pack, engine_resources(run), {}, "policy config")
    label = shown(config_file)
    return evaluate(pack, engine_resources(run), load_policy_config(config_file, label), label)
