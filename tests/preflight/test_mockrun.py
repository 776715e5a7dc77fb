"""The mock-runtime runner: engine-style URNs, captured options, and no state leaking between runs."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from preflight import cli
from preflight.mockrun import ProgramError, RecordedResource, run_program, stack_urn
from tests.support import PROJECT_FILE, REPO, engine_config, run_stack, stack_config


def test_urns_are_built_the_way_the_engine_builds_them() -> None:
    run = run_stack("prod")
    namespace = run.of_type("azure-native:servicebus:Namespace")[0]
    assert namespace.urn == (
        "urn:pulumi:prod::ml-messaging::ml-messaging:messaging:ServiceBusPipeline"
        "$azure-native:servicebus:Namespace::ml-pipeline-namespace"
    )
    component = run.of_type("ml-messaging:messaging:ServiceBusPipeline")[0]
    assert component.parent == stack_urn("ml-messaging", "prod")
    assert "pulumi:pulumi:Stack$" not in " ".join(r.urn for r in run.resources)


def test_runs_do_not_leak_into_each_other() -> None:
    alone = run_stack("dev")
    run_stack("prod")
    again = run_stack("dev")
    assert [r.urn for r in sorted(alone.resources, key=lambda r: r.urn)] == [
        r.urn for r in sorted(again.resources, key=lambda r: r.urn)
    ]
    assert alone.outputs == again.outputs
    assert all(r.urn.startswith("urn:pulumi:dev::") for r in again.resources)


def test_a_run_stopped_part_way_does_not_break_the_next_one() -> None:
    # A pack that fails stops the program from inside a registration (preflight/harness.py); the
    # Outputs that run leaves pending live on its closed event loop and must not reach the next run
    # (the next run failed with "Event loop is closed" every time before the fix).
    class PackFailedError(Exception):
        pass

    seen: list[str] = []

    def stop_after_three(recorded: RecordedResource) -> None:
        seen.append(recorded.urn)
        if len(seen) > 3:
            raise PackFailedError

    project, config = stack_config("dev").project, engine_config("dev")
    with pytest.raises(ProgramError, match="PackFailedError"):
        run_program(REPO, project, "dev", config, on_record=stop_after_three)
    after = run_program(REPO, project, "dev", config)
    assert after.resources
    assert sorted(r.urn for r in after.resources) == sorted(r.urn for r in run_stack("dev").resources)


def test_bad_config_fails_the_program_with_one_clear_message_and_no_traceback() -> None:
    with pytest.raises(ProgramError) as caught:
        run_stack("prod", namespace={"tier": "Premium", "capacity": 3})
    assert str(caught.value) == (
        "stacks/Pulumi.prod.yaml: ml-messaging:namespace.capacity: 3 is not one of 1, 2, 4, 8, 16 "
        "(messaging units are 1, 2, 4, 8 or 16 times premiumMessagingPartitions, which is 1)"
    )
    assert "Traceback" not in str(caught.value)


def test_the_component_can_be_used_twice_in_one_program(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text(
        textwrap.dedent(
            """
            from components.messaging import ServiceBusPipeline, ServiceBusPipelineArgs
            from settings.loader import settings_from_engine

            settings = settings_from_engine()
            second = settings.model_copy(update={"instance": "002"})
            ServiceBusPipeline("blue", ServiceBusPipelineArgs.from_settings(settings, "rg-a"))
            ServiceBusPipeline("green", ServiceBusPipelineArgs.from_settings(second, "rg-a"))
            """
        )
    )
    run = run_program(tmp_path, "ml-messaging", "prod", engine_config("prod"))
    urns = [r.urn for r in run.resources]
    assert len(urns) == len(set(urns))
    namespaces = sorted(r.inputs["namespaceName"] for r in run.of_type("azure-native:servicebus:Namespace"))
    assert namespaces == ["sbns-mlpipe-prod-weu-001", "sbns-mlpipe-prod-weu-002"]
    assert len(run.of_type("azure-native:servicebus:Subscription")) == 8


def test_a_program_imports_its_own_packages_and_the_runners_are_put_back(tmp_path: Path) -> None:
    import components.messaging  # noqa: F401  (the runner's own copies, as in a process that ran the repository)

    shutil.copy(REPO / "__main__.py", tmp_path / "__main__.py")
    for package in ("components", "settings"):
        shutil.copytree(REPO / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    naming = tmp_path / "settings" / "naming.py"
    naming.write_text(naming.read_text().replace('f"sbt-{self.workload}-events"', 'f"sbt-{self.workload}-copy"'))
    shadowed = ("components", "components.messaging", "settings", "settings.naming")
    runners = {name: sys.modules[name] for name in shadowed}

    run = run_program(tmp_path, "ml-messaging", "dev", engine_config("dev"))

    (topic,) = run.of_type("azure-native:servicebus:Topic")
    assert topic.inputs["topicName"].endswith("-copy")  # the copy's naming, not the runner's
    assert all(sys.modules[name] is module for name, module in runners.items())
    assert run_stack("dev").of_type("azure-native:servicebus:Topic")[0].inputs["topicName"].endswith("-events")


def test_preflight_runs_the_program_the_pulumi_cli_runs() -> None:
    # The CLI runs the program in the directory of Pulumi.yaml unless `main` points elsewhere;
    # preflight runs `<root>/__main__.py` with the repository as its default root.
    project = yaml.safe_load(PROJECT_FILE.read_text())
    assert "main" not in project, "Pulumi.yaml moves the program away from the file preflight runs"
    assert cli.REPO == REPO
    assert (cli.REPO / "__main__.py").is_file()


def test_the_engine_added_resources_are_recorded_in_registration_order() -> None:
    # The root stack first, then azure-native's default provider just before its first resource, named
    # and versioned as pkg/resource/deploy/default_providers.go and providers/provider.go DefaultName do.
    run = run_stack("dev")
    first, *rest = run.registered
    assert first.urn == run.stack_urn and first.parent is None
    provider = next(r for r in rest if r.type == "pulumi:providers:azure-native")
    version = provider.inputs["version"]
    assert provider.urn.endswith("::default_" + version.replace(".", "_"))
    first_custom = next(r for r in rest if r.custom and r.type.startswith("azure-native:"))
    assert run.registered.index(provider) < run.registered.index(first_custom)
    assert first_custom.provider.startswith(provider.urn + "::")
    assert provider not in run.resources and first not in run.resources  # the program's own list stays the program's


def test_a_run_leaves_no_event_loop_open() -> None:
    # The SDK's mock monitor opens an event loop in each worker thread it uses (110 ResourceWarnings under
    # -X dev before); a run closes every loop it or the SDK opened.
    import asyncio
    import gc

    run_stack("dev")
    gc.collect()
    current = asyncio.get_event_loop_policy()._local._loop  # type: ignore[attr-defined]
    open_loops = [
        o
        for o in gc.get_objects()
        if isinstance(o, asyncio.AbstractEventLoop) and not o.is_closed() and o is not current
    ]
    assert open_loops == []
