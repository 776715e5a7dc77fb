"""The engine-fidelity scenarios: a program and a pack of our own (tests/fixtures/engine), judged through
``python -m preflight -C ... --policy-pack ...``, the path any project uses. Each test names the engine
behaviour it pins and where the engine's source says so (pulumi/pulumi at v3.259, pulumi-policy 1.21.0;
docs/engine-parity.md has the list)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

SCENARIOS = REPO / "tests" / "fixtures" / "engine"
ROOT_STACK = "urn:pulumi:dev::scenarios::pulumi:pulumi:Stack::scenarios-dev"


def preflight(
    *extra: str,
    program: Path | str = SCENARIOS / "program",
    pack: Path | str = SCENARIOS / "pack",
    config: Path | None = None,
    output: str = "json",
    cwd: Path = REPO,
) -> subprocess.CompletedProcess[str]:
    """``python -m preflight -C <program> --stack dev --policy-pack <pack> --format <output> ...``, as typed."""
    command = [sys.executable, "-m", "preflight", "-C", str(program), "--stack", "dev"]
    command += ["--policy-pack", str(pack), "--format", output, *extra]
    if config is not None:
        command += ["--policy-pack-config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=120, check=False)


def one_file_program(tmp_path: Path, main: str, project: str = "name: scenarios\nruntime: python\n") -> Path:
    """A project of one ``__main__.py`` and its ``Pulumi.yaml``, in a directory of its own."""
    program = tmp_path / "program"
    program.mkdir()
    (program / "Pulumi.yaml").write_text(project)
    (program / "__main__.py").write_text(main)
    return program


@cache
def judged(phase: str) -> dict[str, Any]:
    done = preflight("--phase", phase)
    assert done.returncode in (0, 1), done.stderr
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def diagnostics(phase: str, policy: str) -> list[dict[str, Any]]:
    return [d for d in judged(phase)["diagnostics"] if d["policyName"] == policy]


def seen(phase: str, name: str) -> dict[str, Any]:
    (diagnostic,) = [d for d in diagnostics(phase, "probe-resource") if d["urn"].endswith(f"::{name}")]
    found: dict[str, Any] = json.loads(diagnostic["message"])
    return found


def test_an_input_unknown_in_preview_gives_the_engines_advisory_not_a_string() -> None:
    # provider_plugin.go Create: a provider's preview leaves outputs unknown; rpc.go marshals unknowns as
    # the sentinel; pulumi_policy policy.py Analyze turns reading one into "can't run policy ... during preview".
    (found,) = diagnostics("preview", "reads-prefix")
    assert found["enforcementLevel"] == "advisory"
    assert "can't run policy 'reads-prefix' from policy pack 'scenarios@v0.0.1' during preview" in found["message"]
    assert "string value at .prefix can't be known during preview" in found["message"]
    # The pack sends this notice without a severity; the engine fills the policy's (convertDiagnostics).
    assert found["severity"] == "high"
    assert diagnostics("update", "reads-prefix") == []  # known once the resource exists: the policy runs


def test_a_stack_policy_reading_an_unknown_output_is_advisory_in_preview() -> None:
    (found,) = diagnostics("preview", "stack-reads-unknown")
    assert found["enforcementLevel"] == "advisory" and "can't be known during preview" in found["message"]
    assert found["urn"] == ROOT_STACK  # step_generator.go AnalyzeResources: resolveStackPolicyViolationURN


def test_every_registered_resource_is_analysed_root_stack_and_default_provider_included() -> None:
    # step_generator.go generateSteps analyses every registration; default_providers.go registers one per package.
    stack = seen("preview", "scenarios-dev")
    assert stack["type"] == "pulumi:pulumi:Stack" and stack["keys"] == [] and stack["provider"] is None
    provider = seen("preview", "default")
    assert provider["type"] == "pulumi:providers:test" and provider["provider"] is None and provider["parent"] is None


def test_analyze_stack_sees_the_stack_its_outputs_and_the_object_graph() -> None:
    (probe,) = diagnostics("update", "probe-stack")
    found = json.loads(probe["message"])
    assert "pulumi:pulumi:Stack" in found["types"] and "pulumi:providers:test" in found["types"]
    assert found["stackOutputs"] == ["firstId", "greeting"] and found["greeting"] == "hello"
    assert found["topLevelParentIsStack"] is True and found["childParent"] == "group"
    assert found["secondDependsOnFirst"] == ["first"]
    assert found["stackHasProvider"] is False
    assert found["groupOutputs"] == ["childState"]  # a component's outputs are what it registered
    # A stack diagnostic naming no resource of the stack is the root stack's (analyze_snapshot.go).
    assert probe["urn"] == ROOT_STACK


def test_resource_options_are_marshalled_as_the_engine_marshals_them() -> None:
    # analyzer_plugin.go marshalResourceOptions: customTimeouts always set (seconds), DBR with its "defined" flag.
    timed = seen("preview", "timed")
    assert timed["timeouts"] == [60.0, 120.0, 180.0]
    assert timed["deleteBeforeReplace"] is True and timed["protect"] is True and timed["ignoreChanges"] == ["state"]
    assert timed["additionalSecretOutputs"] == ["state"]
    # The engine sends only the aliases that matched a resource of the old state: none in a first deployment.
    assert timed["aliases"] == []
    assert seen("preview", "first")["deleteBeforeReplace"] is None
    assert seen("preview", "first")["timeouts"] == [0.0, 0.0, 0.0]


def test_the_provider_is_sent_by_urn_without_its_id_and_components_have_none() -> None:
    first = seen("preview", "first")
    assert first["provider"] == {
        "keys": [],
        "name": "default",
        "type": "pulumi:providers:test",
        "urn": "urn:pulumi:dev::scenarios::pulumi:providers:test::default",
    }
    assert seen("preview", "group")["provider"] is None
    # An explicit provider is used as given and has no provider itself; no default provider is made for it.
    with_mine = seen("preview", "with-mine")["provider"]
    assert (with_mine["name"], with_mine["type"], with_mine["keys"]) == ("mine", "pulumi:providers:test", ["region"])
    assert seen("preview", "mine")["provider"] is None
    assert not [d for d in judged("preview")["diagnostics"] if "pulumi:providers:pulumi" in d["urn"]]
    assert seen("preview", "group-child")["parent"] == "urn:pulumi:dev::scenarios::test:index:Group::group"


def test_top_level_internal_keys_are_stripped_and_secrets_arrive_as_plain_values() -> None:
    # rpc.go MarshalProperties SkipInternalKeys (top level only); pulumi_policy deserialize unwraps secrets.
    first = seen("preview", "first")
    assert first["keys"] == ["secretValue", "state"]
    assert first["secret"] == "s3cr3t"  # pragma: allowlist secret (a made-up value)


def test_a_resource_input_is_sent_as_its_id_and_does_not_hang_the_mock_runtime() -> None:
    # rpc.go MarshalPropertyValue, KeepResources false: a reference becomes its ID (unknown in preview).
    assert seen("update", "second")["owner"] == "first-id"
    assert any("string value at .owner" in d["message"] for d in diagnostics("preview", "probe-resource"))


def test_remediation_runs_before_analyze_and_analyze_sees_the_remediated_inputs() -> None:
    # step_generator.go: "first we perform remediations, and *then* we do analysis".
    assert [d["urn"] for d in diagnostics("update", "state-not-one")] == [
        "urn:pulumi:dev::scenarios::test:index:Res::first"
    ]
    config = SCENARIOS / "remediate.json"
    done = preflight("--phase", "update", config=config)
    document = json.loads(done.stdout)
    assert {"policyName": "state-not-one", "urn": "urn:pulumi:dev::scenarios::test:index:Res::first"} in document[
        "remediations"
    ]
    assert not [d for d in document["diagnostics"] if d["policyName"] == "state-not-one"]


def test_a_resource_diagnostic_is_attributed_to_the_resource_analysed_whatever_urn_it_names() -> None:
    # analyze_snapshot.go analyzeResource: events.OnPolicyViolation(r.URN, d).
    done = preflight("--phase", "update")
    assert done.returncode == 1, done.stderr  # a mandatory violation: `pulumi preview` exits 1
    (found,) = [d for d in json.loads(done.stdout)["diagnostics"] if d["policyName"] == "state-not-one"]
    assert found["message"] == "state is 1"  # the pack named another URN; the engine ignores it
    assert found["urn"] == "urn:pulumi:dev::scenarios::test:index:Res::first"
    assert found["enforcementLevel"] == "mandatory"


def test_the_pack_gets_the_stack_identity_and_config_in_its_environment() -> None:
    first = seen("preview", "first")
    assert first["env"] == {
        "PULUMI_DRY_RUN": "true",
        "PULUMI_ORGANIZATION": "organization",
        "PULUMI_PROJECT": "scenarios",
        "PULUMI_STACK": "dev",
    }
    assert first["greeting"] == "hello"
    assert seen("update", "first")["env"]["PULUMI_DRY_RUN"] == "false"


def test_a_duplicate_urn_is_refused_with_the_engines_message(tmp_path: Path) -> None:
    program = tmp_path / "program"
    program.mkdir()
    for name in ("Pulumi.yaml", "__main__.py"):
        (program / name).write_text((SCENARIOS / "program" / name).read_text())
    (program / "Pulumi.dev.yaml").write_text("config:\n  scenarios:greeting: hi\n  scenarios:duplicate: 'true'\n")
    done = preflight(program=program)
    assert done.returncode == 2
    assert "Duplicate resource URN 'urn:pulumi:dev::scenarios::test:index:Res::first'; try giving it a unique name" in (
        done.stderr
    )


@pytest.mark.parametrize(
    ("content", "code", "says"),
    [
        # Accepted configs leave the pack's own levels: state-not-one blocks (exit 1), nothing is refused (2).
        ("  \n\t", 1, ""),  # config.go: a whitespace-only file is no config
        ("null", 1, ""),
        ('{"state-not-one": {"enforcementLevel": null}}', 2, "is not a valid enforcement level; must be a string"),
        ('{"environments": ["org/secrets"]}', 2, "Pulumi ESC environments"),
        ('{"environments": "org"}', 2, '"environments" must be an array of strings'),
        ('{"environments": null}', 2, '"environments" must be an array of strings'),
        ('{"all": {"x": 1}}', 2, 'invalid enforcement level ""'),
        ('{"state-not-one": {}}', 1, ""),  # dropped
        # config.go validation, printed as pkg/engine/update.go prints it (two spaces after the version;
        # the version PulumiPolicy.yaml declares, not the SDK's 0.0.1: analyzer_plugin.go)
        (
            '{"state-not-one": {"limit": "x"}}',
            2,
            "error: validating policy config: scenarios 1.2.3  state-not-one: limit: Invalid type. Expected: integer, "
            "given: string",
        ),
    ],
)
def test_policy_config_edge_cases_follow_the_engine(tmp_path: Path, content: str, code: int, says: str) -> None:
    config = tmp_path / "config.json"
    config.write_text(content)
    done = preflight("--phase", "update", config=config)
    assert done.returncode == code, done.stderr
    assert says in done.stderr


def test_assets_and_archives_reach_the_pack_as_assets_and_archives() -> None:
    # rpc.go MarshalAsset/MarshalArchive keep the signature; pulumi_policy deserialize rebuilds the classes.
    timed = seen("preview", "timed")
    assert (timed["asset"], timed["assetText"], timed["archive"]) == ("StringAsset", "some text", "AssetArchive")


def test_an_initial_config_entry_without_a_level_makes_the_policy_advisory() -> None:
    # pulumi-policy sends no level (proto3 0); the engine reads 0 as advisory (analyzer_plugin.go
    # convertPolicyConfig), overriding the policy's own mandatory level.
    (found,) = diagnostics("update", "mandatory-made-advisory")
    assert found["enforcementLevel"] == "advisory"


def test_the_text_report_says_what_the_cli_would_exit_with() -> None:
    done = preflight(output="text")
    assert done.returncode == 1
    assert "fails `pulumi preview` and `pulumi up` (exit code 1, not the declared 5" in done.stdout


def test_a_policy_that_raises_fails_the_run_with_one_line(tmp_path: Path) -> None:
    # analyze_snapshot.go: an Analyze/AnalyzeStack error fails the deployment ("failed to run policy").
    program = one_file_program(tmp_path, "import pulumi\n")  # no "second": probe-stack's next() raises
    done = preflight(program=program)
    assert done.returncode == 2, done.stderr
    assert "failed to run policy (AnalyzeStack over the stack)" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_a_program_that_exits_fails_with_one_line_not_a_pass(tmp_path: Path) -> None:
    done = preflight(program=one_file_program(tmp_path, "import sys\nsys.exit(0)\n"))
    assert done.returncode == 2, done.stdout
    assert "the program called sys.exit(0)" in done.stderr and done.stdout == ""


def test_the_program_imports_its_own_packages_not_preflights(tmp_path: Path) -> None:
    # The CLI runs a program with its directory first on sys.path; preflight has a `settings` package
    # of its own already imported, which must not stand in for the project's.
    program = tmp_path / "program"
    shutil.copytree(SCENARIOS / "program", program)
    (program / "settings").mkdir()
    (program / "settings" / "__init__.py").write_text('OWN = "the project\'s own settings"\n')
    main = program / "__main__.py"
    main.write_text(f"from settings import OWN  # noqa: F401\n{main.read_text()}")
    done = preflight(program=program)
    assert done.returncode in (0, 1), done.stderr
    assert json.loads(done.stdout)["diagnostics"] == judged("preview")["diagnostics"]


def test_a_project_without_a_name_is_bad_input(tmp_path: Path) -> None:
    done = preflight(program=one_file_program(tmp_path, "import pulumi\n", project="runtime: python\n"))
    assert done.returncode == 2
    assert done.stderr.strip().endswith("Pulumi.yaml: name: a Pulumi project needs a name")


def test_relative_pack_paths_are_read_from_the_project_directory_as_with_the_cli() -> None:
    # pkg/cmd/pulumi/pulumi.go: -C changes directory before the command runs.
    done = preflight(program="program", pack="../pack", cwd=SCENARIOS)
    assert done.returncode == 1, done.stderr  # judged: state-not-one blocks
    assert json.loads(done.stdout)["project"] == "scenarios"
