"""``preflight --base`` and ``--base-state``: the change a pull request makes, judged the way Azure and the
engine would take it. The diff itself first, then whole pull requests on a throwaway git repository."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from preflight import cli
from preflight.changes import ChangeKind, ResourceState, diff
from preflight.mockrun import run_program
from tests.support import REPO, engine_config, overlay_fixtures, run_entry_point, run_stack

REPORT_SCHEMA = json.loads((REPO / "preflight" / "report.schema.json").read_text())
TOPIC = "azure-native:servicebus:Topic"


def states(stack: str, **overrides: Any) -> list[ResourceState]:
    return [ResourceState.from_recorded(r) for r in run_stack(stack, **overrides).resources]


def test_an_unchanged_program_changes_nothing() -> None:
    base = states("dev")
    changes = diff(base, states("dev"), "base")
    assert changes.counts()[ChangeKind.SAME] == len([s for s in base if s.custom])
    assert changes.of_kind(ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.REPLACE, ChangeKind.DELETE) == []


def test_each_kind_of_change_is_told_apart() -> None:
    base = states("dev")
    topic = next(s for s in base if s.type == TOPIC)
    head = [
        replace(topic, inputs={**topic.inputs, "requiresDuplicateDetection": True}) if s is topic else s
        for s in base
        if not s.name.startswith("ml-pipeline-result-processing-")
    ]
    head = [replace(s, inputs={**s.inputs, "tags": {"x": "y"}}) if s.type.endswith(":Namespace") else s for s in head]
    extra = replace(topic, urn=topic.urn + "-2", name="ml-pipeline-topic-2")
    changes = diff(base, [*head, extra], "base")
    (replaced,) = changes.of_kind(ChangeKind.REPLACE)
    assert replaced.name == "ml-pipeline-topic" and replaced.replace_keys == ("requiresDuplicateDetection",)
    (updated,) = changes.of_kind(ChangeKind.UPDATE)
    assert updated.type.endswith(":Namespace") and [p.key for p in updated.properties] == ["tags"]
    assert [c.name for c in changes.of_kind(ChangeKind.CREATE)] == ["ml-pipeline-topic-2"]
    deleted = {c.name for c in changes.of_kind(ChangeKind.DELETE)}
    assert "ml-pipeline-result-processing-subscription" in deleted
    assert changes.changes[-1].kind is ChangeKind.DELETE  # deletes come last, as the engine runs them


def test_location_and_resource_group_compare_the_way_azure_native_does() -> None:
    base = states("dev")
    head = [
        replace(s, inputs={**s.inputs, "location": "West Europe", "resourceGroupName": "RG-MLPIPE-DEV-WEU-001"})
        if s.type.endswith(":Namespace")
        else s
        for s in base
    ]
    head = [
        replace(s, inputs={**s.inputs, "__createBeforeDelete": True, "azureApiVersion": "2026-01-01"}) for s in head
    ]
    assert diff(base, head, "base").of_kind(ChangeKind.UPDATE, ChangeKind.REPLACE) == []


def test_an_alias_matches_the_old_resource_instead_of_a_create_and_a_delete() -> None:
    base = states("prod")
    # The fixture's training service publishes as this identity.
    sender = next(s for s in base if s.name == "ml-pipeline-sender-7a9e5d20-4c1b-4f3a-8e62-1b0c9d8f7e22")
    old_urn = sender.urn.rsplit("::", 1)[0] + "::ml-pipeline-training-sender"
    before = [replace(s, urn=old_urn, name="ml-pipeline-training-sender") if s is sender else s for s in base]
    assert old_urn in sender.aliases
    changes = diff(before, base, "base")
    assert changes.of_kind(ChangeKind.CREATE, ChangeKind.DELETE) == []


# Whole pull requests: a git repository whose last commit is the base, the working tree the head.


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    tracked = subprocess.run(["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, check=True)
    for name in tracked.stdout.splitlines():
        source = REPO / name
        if source.is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, root / name)
    overlay_fixtures(root)
    # Prod as this repository ships it: protected, without a delete lock (docs/day2.md).
    edit(root, "prod", lambda config: config["ml-messaging:namespace"].pop("deleteLock"))
    set_level(root, "prod", "servicebus-namespace-delete-lock", "disabled")
    commit(root)
    return root


def set_level(root: Path, stack: str, policy: str, level: str) -> None:
    path = root / "policies" / "config" / f"{stack}.json"
    config = json.loads(path.read_text())
    config[policy] = {"enforcementLevel": level}
    path.write_text(json.dumps(config))


def commit(root: Path) -> None:
    git = ["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)


def edit(root: Path, stack: str, change: Any) -> None:
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def preflight(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main([*args, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def services(config: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = config["ml-messaging:services"]
    return found


def test_removing_a_prod_service_without_acknowledging_the_backlog_is_refused_with_the_steps(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(repo, "prod", lambda c: services(c).pop())
    code, out, _ = preflight(repo, capsys, "prod", "--base", "HEAD")
    assert code == 1
    assert "[change-subscription-deleted] ml-pipeline-result-processing-subscription" in out
    assert "adding 'result-processing' to ml-messaging:retiredServices" in out
    assert " -  " in out and "ml-pipeline-result-processing-subscription" in out


def test_removing_a_prod_service_it_retires_deploys_cleanly(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def retire(config: dict[str, Any]) -> None:
        services(config).pop()
        config["ml-messaging:retiredServices"] = ["result-processing"]

    edit(repo, "prod", retire)
    code, out, err = preflight(repo, capsys, "prod", "--base", "HEAD", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(report)
    changes = report["stacks"][0]["changes"]
    assert changes["diagnostics"] == []
    assert {r["kind"] for r in changes["resources"]} == {"delete"}
    assert changes["counts"]["delete"] == 3  # subscription, its $Default rule, its receiver grant


def test_a_prod_service_under_a_delete_lock_is_refused_with_the_unlock_steps(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edit(repo, "prod", lambda c: c["ml-messaging:namespace"].update(deleteLock=True))
    set_level(repo, "prod", "servicebus-namespace-delete-lock", "mandatory")
    commit(repo)

    def retire(config: dict[str, Any]) -> None:
        services(config).pop()
        config["ml-messaging:retiredServices"] = ["result-processing"]

    edit(repo, "prod", retire)
    code, out, _ = preflight(repo, capsys, "prod", "--base", "HEAD")
    assert code == 1
    assert out.count("[change-delete-under-lock]") == 3
    assert "merge a pull request that only sets namespace.deleteLock: false" in out


def test_moving_dev_to_premium_is_refused_with_the_migration_route(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    edit(repo, "dev", lambda c: c["ml-messaging:namespace"].update(tier="Premium", capacity=1))
    sarif = tmp_path / "r.sarif"
    code, out, _ = preflight(
        repo, capsys, "dev", "--base", "HEAD", "--format", "sarif", "--output", str(sarif), "--format", "markdown"
    )
    assert code == 1
    assert "### What this pull request changes" in out
    assert "change-tier-migration" in out and "service-bus-migrate-standard-premium" in out
    (result,) = [
        r for r in json.loads(sarif.read_text())["runs"][0]["results"] if r["ruleId"] == "change-tier-migration"
    ]
    line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
    assert "tier: Premium" in (repo / "stacks" / "Pulumi.dev.yaml").read_text().splitlines()[line - 1]


def test_changing_prod_partitions_is_refused(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(repo, "prod", lambda c: c["ml-messaging:namespace"].update(capacity=2, premiumMessagingPartitions=2))
    code, out, _ = preflight(repo, capsys, "prod", "--base", "HEAD")
    assert code == 1
    assert "[change-premium-partitions]" in out and "partitions are set only when a namespace is created" in out
    assert "[change-create-only-property] ml-pipeline-topic" in out


def test_renaming_a_publisher_that_shares_its_identity_creates_no_duplicate_grant(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def share(config: dict[str, Any]) -> None:
        listed = services(config)
        listed[2]["principalId"] = listed[1]["principalId"]  # inference runs as training's identity

    edit(repo, "prod", share)
    commit(repo)

    def rename(config: dict[str, Any]) -> None:
        services(config)[2]["name"] = "scoring"
        config["ml-messaging:retiredServices"] = ["inference"]

    edit(repo, "prod", rename)
    code, out, err = preflight(repo, capsys, "prod", "--base", "HEAD", "--format", "json")
    assert code == 0, err
    changes = json.loads(out)["stacks"][0]["changes"]
    assert changes["diagnostics"] == []
    touched = {(r["kind"], r["name"]) for r in changes["resources"] if "sender" in r["name"]}
    assert touched == set()  # the shared sender grant is the same grant, under the same name


def test_the_base_runs_with_its_own_code_not_the_heads(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    naming = repo / "settings" / "naming.py"
    head_code = naming.read_text()
    assert 'f"sbt-{self.workload}-events"' in head_code
    naming.write_text(head_code.replace('f"sbt-{self.workload}-events"', 'f"sbt-{self.workload}-messages"'))
    commit(repo)
    naming.write_text(head_code)  # the pull request changes only code: the topic's Azure name

    code, out, err = preflight(repo, capsys, "dev", "--base", "HEAD", "--format", "json")
    assert code == 0, err  # dev: replacing subscriptions is advisory there
    changes = json.loads(out)["stacks"][0]["changes"]
    kinds = {r["name"]: r["kind"] for r in changes["resources"]}
    assert kinds["ml-pipeline-topic"] == "replace", kinds
    assert {d["rule"] for d in changes["diagnostics"]} == {"change-subscription-deleted"}


def test_the_entry_point_judges_a_change_with_the_base_child_it_started_first(repo: Path) -> None:
    # `python -m preflight ... --base` starts one base child before its own imports (preflight/snapshot.py).
    edit(repo, "prod", lambda c: services(c).pop())
    done = run_entry_point("prod", "--root", str(repo), "--base", "HEAD")
    assert done.returncode == 1, done.stderr
    assert "[change-subscription-deleted] ml-pipeline-result-processing-subscription" in done.stdout


def test_a_base_child_started_first_and_never_asked_ends_quietly() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "preflight.snapshot"],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = child.communicate("", timeout=60)  # the parent ended (bad input) before asking anything
    assert (child.returncode, out, err) == (0, "", "")


def test_bad_input_with_base_is_still_one_line_from_the_entry_point(repo: Path) -> None:
    done = run_entry_point("staging", "--root", str(repo), "--base", "HEAD")
    assert done.returncode == 2
    assert done.stderr.strip() == "stacks/Pulumi.staging.yaml: file not found; stacks here: dev, prod"


def test_a_real_stacks_exported_state_is_a_base_too(
    repo: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    subscription = "12345678-1234-1234-1234-123456789abc"
    deployed = run_program(REPO, "ml-messaging", "dev", engine_config("dev"), subscription_id=subscription)
    exported = [
        {"urn": r.urn, "type": r.type, "custom": r.custom, "id": r.id, "inputs": r.inputs} for r in deployed.resources
    ]
    assert all(subscription in str(r["id"]) for r in exported if r["custom"])
    state = tmp_path / "dev.json"
    state.write_text(json.dumps({"version": 3, "deployment": {"resources": exported}}))
    code, out, err = preflight(repo, capsys, "dev", "--base-state", str(state))
    assert code == 0, err
    assert "dev: PASS - no changes" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--base", "no-such-revision"], "--base: 'no-such-revision' is not a commit"),
        (["--base-state", "missing.json"], "missing.json: file not found"),
    ],
)
def test_a_base_that_cannot_be_had_is_broken_input(
    args: list[str], says: str, repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = preflight(repo, capsys, "dev", *args)
    assert code == 2 and out == ""
    assert says in err and "Traceback" not in err


def test_a_base_revision_holding_a_link_outside_the_tree_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "escape").symlink_to("/etc")
    commit(repo)
    code, out, err = preflight(repo, capsys, "dev", "--base", "HEAD")
    assert code == 2 and out == ""
    assert "cannot be extracted safely" in err
