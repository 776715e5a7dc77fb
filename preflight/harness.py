"""The offline gate's core: a program run under mocks, judged by a pack over the engine's protocol.

Nothing here is specific to this repository: ``preflight.generic`` uses it for any Pulumi Python
project, ``preflight.runner`` for this repository's stacks (with its settings on top).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from preflight.engine.driver import Evaluation, PolicyReport, evaluate
from preflight.engine.pack import PolicyPackProcess
from preflight.engine.policy_config import PolicyConfig, load_policy_config
from preflight.engine.resources import EngineResource, ProviderReference
from preflight.mockrun import ProgramRun, RecordedResource

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
        options=resource.options,
    )


def engine_resources(run: ProgramRun) -> Iterator[EngineResource]:
    """Every resource of the run, root stack and default providers included, in registration order."""
    return (engine_resource(resource) for resource in run.registered or run.resources)


def judge(
    pack: PolicyPackProcess, run: ProgramRun, config_file: Path | None, shown: Callable[[Path], str] = str
) -> PolicyReport:
    """Judge a program run with a ``--policy-pack-config`` file (or none)."""
    if config_file is None:
        return evaluate(pack, engine_resources(run), {}, "policy config")
    label = shown(config_file)
    return evaluate(pack, engine_resources(run), load_policy_config(config_file, label), label)


class _AnalysisFailedError(Exception):
    """Raised into the program when the pack has already failed; the pack's error is what is reported."""


RunProgram = Callable[[Callable[[RecordedResource], None]], ProgramRun]
"""Runs a program, handing each registration to the callback as it happens."""


def judge_while_running(
    pack: PolicyPackProcess,
    config_file: Path | None,
    run: RunProgram,
    shown: Callable[[Path], str] = str,
    *,
    cli_wording: bool = False,
) -> tuple[ProgramRun, PolicyReport]:
    """Run a program and judge it as the engine does: each resource analysed as it registers.

    The pack starts, is configured and analyses in a worker thread while the program runs here, so
    the pack's own work (another process, another core) overlaps the program's; ``AnalyzeStack`` runs
    once the program has finished.
    """
    label = shown(config_file) if config_file is not None else "policy config"
    config: dict[str, PolicyConfig] = load_policy_config(config_file, label) if config_file is not None else {}
    evaluation = Evaluation(pack, config, label, cli_wording=cli_wording)
    registrations: queue.SimpleQueue[RecordedResource | None] = queue.SimpleQueue()
    failures: list[BaseException] = []

    def analyse() -> None:
        try:
            evaluation.start()
            while (recorded := registrations.get()) is not None:
                evaluation.analyze(engine_resource(recorded))
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread below
            failures.append(error)

    def hand_over(recorded: RecordedResource) -> None:
        if failures:  # the pack failed: stop the program instead of running it to the end for nothing
            raise _AnalysisFailedError
        registrations.put(recorded)

    worker = threading.Thread(target=analyse, name="preflight-analyze", daemon=True)
    worker.start()
    try:
        program_run = run(hand_over)
    except BaseException:
        registrations.put(None)
        worker.join()
        if failures:
            raise failures[0] from None
        raise
    registrations.put(None)
    worker.join()
    if failures:
        raise failures[0]
    return program_run, evaluation.finish(list(engine_resources(program_run)))
