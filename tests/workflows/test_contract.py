"""The GitOps contract, read from the workflow files themselves."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.invariants import assert_deploy_contract, deploy_workflow, load_workflow
from tests.support import FIXTURES, REPO, SHIPPED_STACKS

WORKFLOWS = REPO / ".github" / "workflows"
ACTIONS = REPO / ".github" / "actions"
PINS = REPO / "docs" / "action-pins.md"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# Made-up values shaped like a leaked key and like Pulumi's ciphertext, for the secrets-hook test.
FAKE_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEYzz9"  # pragma: allowlist secret
ENCRYPTED_KEY = "ZGVhZGJlZWZkZWFkYmVlZmRlYWRiZWVmZGVhZGJlZWY0NTY3ODkwMTIzNDU2Nzg5MA=="  # pragma: allowlist secret
CIPHERTEXT = "v1:q9Zs8kLmN3pQ7rT2vX5yB1cD4fG6hJ0kL8mN2pQ4rS6tU8vW0xY2zA=="  # pragma: allowlist secret


def tool(name: str) -> str:
    """A console script from this interpreter's environment (nox puts it on PATH; a bare venv may not)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def workflow(name: str) -> dict[str, Any]:
    return load_workflow(WORKFLOWS / name)


def all_yaml() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *ACTIONS.glob("*/action.yml")])


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def uses_of(document: dict[str, Any]) -> list[str]:
    found = [job["uses"] for job in document.get("jobs", {}).values() if "uses" in job]
    for job in document.get("jobs", {}).values():
        found += [step["uses"] for step in steps(job) if "uses" in step]
    found += [step["uses"] for step in document.get("runs", {}).get("steps", []) if "uses" in step]
    return found


def step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    """The step that runs ``action`` with a command (pulumi/actions without one only installs the CLI)."""
    using = [step for step in steps(job) if step.get("uses", "").startswith(f"{action}@")]
    return next((step for step in using if "command" in step.get("with", {})), using[0])


def action(name: str) -> dict[str, Any]:
    return load_workflow(ACTIONS / name / "action.yml")


def all_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    """(workflow file, job id, job) for every job of every workflow."""
    return [
        (path.name, job_id, job)
        for path in sorted(WORKFLOWS.glob("*.yml"))
        for job_id, job in load_workflow(path)["jobs"].items()
    ]


def step_named(job: dict[str, Any], fragment: str) -> dict[str, Any]:
    return next(step for step in steps(job) if fragment in step.get("name", ""))


def step_with_id(job: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(step for step in steps(job) if step.get("id") == step_id)


def uses_local(job: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if step.get("uses") == f"$/.github/actions/{name}"]


def run_script(
    script: Path, env: dict[str, str], tmp_path: Path, *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, str]]:
    """Run one of the actions' scripts as the runner would, returning the process and GITHUB_OUTPUT."""
    output, github_env = tmp_path / "github_output", tmp_path / "github_env"
    output.write_text("")
    github_env.write_text("")
    done = subprocess.run(
        ["bash", str(script), *args],
        env={
            "PATH": os.environ["PATH"],
            "GITHUB_OUTPUT": str(output),
            "GITHUB_ENV": str(github_env),
            "RUNNER_TEMP": str(tmp_path),
            **env,
        },
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    values = dict(line.split("=", 1) for line in (output.read_text() + github_env.read_text()).splitlines() if line)
    return done, values


needs_jq = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")

# --- what runs where, as whom -------------------------------------------------------------------

# (workflow, job) -> identity; every job that can reach Azure is listed, nothing else may.
IDENTITIES = {
    ("preview.yml", "preview"): "preview",
    ("drift.yml", "drift"): "preview",
    ("deploy-stack.yml", "plan"): "preview",
    ("deploy-stack.yml", "up"): "deploy",
}
GUIDS = {
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000000a",
    "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-00000000000b",
    "AZURE_PREVIEW_CLIENT_ID": "00000000-0000-0000-0000-00000000000c",
    "AZURE_DEPLOY_DEV_CLIENT_ID": "00000000-0000-0000-0000-00000000000d",
    "AZURE_DEPLOY_PROD_CLIENT_ID": "00000000-0000-0000-0000-00000000000e",
}
BACKENDS = {
    "PULUMI_BACKEND_URL_DEV": "azblob://pulumi-state-dev?storage_account=mlstate",
    "PULUMI_BACKEND_URL_PROD": "azblob://pulumi-state-prod?storage_account=mlstate",
}


def test_each_job_that_reaches_azure_selects_its_identity_before_logging_in() -> None:
    reaching = set()
    for name, job_id, job in all_jobs():
        if job.get("permissions", {}).get("id-token") != "write" or "steps" not in job:
            continue
        reaching.add((name, job_id))
        (target,) = uses_local(job, "stack-target")
        assert target["with"]["identity"] == IDENTITIES[(name, job_id)], (name, job_id)
        assert target["with"]["vars"] == "${{ toJSON(vars) }}"
        (setup,) = uses_local(job, "pulumi-setup")
        assert steps(job).index(target) < steps(job).index(setup)
        assert setup["with"]["client-id"] == "${{ steps.target.outputs.client-id }}", (name, job_id)
        assert job["env"] == {"ARM_USE_OIDC": "true"}, "identities come only from stack-target"
    assert reaching == set(IDENTITIES)


def test_deploy_identities_only_in_their_environment_and_previews_never_near_one() -> None:
    for (name, job_id), identity in IDENTITIES.items():
        job = workflow(name)["jobs"][job_id]
        if identity == "deploy":
            assert job["environment"] == "${{ inputs.environment }}"
        else:
            assert "environment" not in job, f"{name}:{job_id} must not be able to pass an environment's gate"
    # Identities and backends are chosen by stack-target's script alone: no workflow reads a variable.
    for path in WORKFLOWS.glob("*.yml"):
        assert re.findall(r"vars\.\w+", path.read_text()) == [], path.name
    select = (ACTIONS / "stack-target" / "select.sh").read_text()
    assert 'deploy) client="AZURE_DEPLOY_${suffix}_CLIENT_ID"' in select
    assert 'backend="PULUMI_BACKEND_URL_${suffix}"' in select


@needs_jq
@pytest.mark.parametrize(
    ("stack", "identity", "client", "backend"),
    [
        ("dev", "preview", "AZURE_PREVIEW_CLIENT_ID", "PULUMI_BACKEND_URL_DEV"),
        ("prod", "preview", "AZURE_PREVIEW_CLIENT_ID", "PULUMI_BACKEND_URL_PROD"),
        ("dev", "deploy", "AZURE_DEPLOY_DEV_CLIENT_ID", "PULUMI_BACKEND_URL_DEV"),
        ("prod", "deploy", "AZURE_DEPLOY_PROD_CLIENT_ID", "PULUMI_BACKEND_URL_PROD"),
    ],
)
def test_each_stack_gets_its_own_identity_and_state_container(
    tmp_path: Path, stack: str, identity: str, client: str, backend: str
) -> None:
    variables = {**GUIDS, **BACKENDS}
    done, values = run_script(
        ACTIONS / "stack-target" / "select.sh",
        {"STACK": stack, "IDENTITY": identity, "VARS_JSON": json.dumps(variables)},
        tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert values["ARM_CLIENT_ID"] == values["client-id"] == variables[client]
    assert values["PULUMI_BACKEND_URL"] == values["backend-url"] == variables[backend]
    assert values["ARM_TENANT_ID"] == GUIDS["AZURE_TENANT_ID"]


@needs_jq
@pytest.mark.parametrize(
    ("missing", "stack", "identity"),
    [
        ("AZURE_TENANT_ID", "prod", "deploy"),
        ("AZURE_SUBSCRIPTION_ID", "dev", "preview"),
        ("AZURE_PREVIEW_CLIENT_ID", "prod", "preview"),
        ("AZURE_DEPLOY_DEV_CLIENT_ID", "dev", "deploy"),
        ("AZURE_DEPLOY_PROD_CLIENT_ID", "prod", "deploy"),
        ("PULUMI_BACKEND_URL_PROD", "prod", "preview"),
        ("PULUMI_BACKEND_URL_DEV", "dev", "deploy"),
    ],
)
def test_a_missing_variable_fails_closed_with_an_error_naming_it(
    tmp_path: Path, missing: str, stack: str, identity: str
) -> None:
    variables = {key: value for key, value in {**GUIDS, **BACKENDS}.items() if key != missing}
    done, values = run_script(
        ACTIONS / "stack-target" / "select.sh",
        {"STACK": stack, "IDENTITY": identity, "VARS_JSON": json.dumps(variables)},
        tmp_path,
    )
    assert done.returncode == 1
    assert f"::error title=Repository variable missing::{missing} is not set" in done.stdout
    assert values == {}, "nothing reaches GITHUB_ENV or the outputs"


@needs_jq
def test_a_malformed_variable_fails_closed_before_reaching_github_env(tmp_path: Path) -> None:
    variables = {**GUIDS, **BACKENDS, "AZURE_PREVIEW_CLIENT_ID": "x\nPULUMI_BACKEND_URL=azblob://evil"}
    done, values = run_script(
        ACTIONS / "stack-target" / "select.sh",
        {"STACK": "prod", "IDENTITY": "preview", "VARS_JSON": json.dumps(variables)},
        tmp_path,
    )
    assert done.returncode == 1 and "AZURE_PREVIEW_CLIENT_ID must be a GUID" in done.stdout
    assert values == {}


def test_no_job_skips_silently_when_it_cannot_reach_azure() -> None:
    for path in all_yaml():
        assert "::notice title=Real preview skipped" not in path.read_text(), path.name
        assert "steps.credentials.outputs.ready" not in path.read_text(), path.name


def test_a_forks_preview_fails_saying_plainly_that_it_was_skipped_and_why(tmp_path: Path) -> None:
    job = workflow("preview.yml")["jobs"]["preview"]
    gate = steps(job)[0]
    assert gate["env"]["SAME_REPOSITORY"] == "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    summary = tmp_path / "summary.md"
    for same, code in (("false", 1), ("true", 0)):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", gate["run"]],
            env={
                "PATH": os.environ["PATH"],
                "SAME_REPOSITORY": same,
                "STACK": "prod",
                "GITHUB_STEP_SUMMARY": str(summary),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == code, same
        assert ("::error title=Real preview skipped (fork)::" in done.stdout) == (same == "false")
    assert "skipped, not passed" in summary.read_text() and "fork" in summary.read_text()
    assert all("if" not in step for step in steps(job)[1:-2]), "no step after the gate is made optional"


# --- deployments ---------------------------------------------------------------------------------


def test_previews_and_deploys_judge_the_change_against_the_deployed_state_first() -> None:
    for job in (workflow("preview.yml")["jobs"]["preview"], workflow("deploy-stack.yml")["jobs"]["plan"]):
        names = [step.get("name", "") for step in steps(job)]
        judge = next(i for i, name in enumerate(names) if "--base-state" in name)
        (real,) = uses_local(job, "pulumi-preview")
        assert judge < steps(job).index(real)
        script = steps(job)[judge]["run"]
        assert "pulumi stack export" in script and "--base-state" in script and "noxw.py -s preflight" in script


def test_deploy_runs_on_push_to_main_only() -> None:
    assert workflow("deploy.yml")["on"] == {"push": {"branches": ["main"]}}, (
        "no workflow_dispatch: see docs/delivery.md"
    )


def test_push_to_main_deploys_every_stack_in_a_chain_prod_behind_the_production_environment() -> None:
    assert_deploy_contract(REPO)


def test_the_fixture_deploys_dev_then_prod_behind_the_production_environment() -> None:
    assert_deploy_contract(FIXTURES)
    jobs = deploy_workflow(FIXTURES)["jobs"]
    assert list(jobs) == ["dev", "prod"]
    assert jobs["dev"]["with"] == {"stack": "dev", "environment": "dev"}
    assert jobs["prod"]["with"] == {"stack": "prod", "environment": "production"}
    assert jobs["prod"]["needs"] == "dev"


def test_the_fixture_deploy_workflow_differs_from_the_real_one_only_in_its_stacks() -> None:
    # The README recipes are tested on the fixture; it must call what the real workflow calls.
    real, fixture = deploy_workflow(REPO), deploy_workflow(FIXTURES)
    assert {k: v for k, v in fixture.items() if k != "jobs"} == {k: v for k, v in real.items() if k != "jobs"}
    some_real_job = next(iter(real["jobs"].values()))
    for job in fixture["jobs"].values():
        assert job["uses"] == some_real_job["uses"]
        assert job["permissions"] == some_real_job["permissions"]


DEPLOY_QUEUE = {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False, "queue": "max"}


def test_each_stack_is_planned_then_deployed_in_one_queue_never_cancelled_never_superseded() -> None:
    jobs = workflow("deploy-stack.yml")["jobs"]
    assert list(jobs) == ["plan", "up"]
    for job in jobs.values():
        assert job["concurrency"] == DEPLOY_QUEUE
    assert jobs["up"]["needs"] == "plan"
    assert workflow("drift.yml")["jobs"]["drift"]["concurrency"]["group"] != DEPLOY_QUEUE["group"]


def test_the_approver_sees_a_preview_of_the_exact_commit_before_approving() -> None:
    jobs = workflow("deploy-stack.yml")["jobs"]
    plan, up = jobs["plan"], jobs["up"]
    assert "environment" not in plan, "the plan runs before, and without, the environment's approval"
    assert step_using(plan, "actions/checkout")["with"]["ref"] == "${{ github.sha }}"
    assert step_using(up, "actions/checkout")["with"]["ref"] == "${{ github.sha }}"
    (preview,) = uses_local(plan, "pulumi-preview")
    assert preview["with"]["refresh"] == "false", "the plan shows what `pulumi up` (no refresh) will do"
    assert plan["permissions"] == {"contents": "read", "id-token": "write"}, "read-only: no comment, no write"
    verdict = step_named(plan, "Plan verdict")
    assert verdict["run"] == 'exit "$PREVIEW_EXIT"' and steps(plan).index(verdict) > steps(plan).index(preview)
    script = action("pulumi-preview")["runs"]["steps"][0]["run"]
    assert 'cat "$markdown" >> "$GITHUB_STEP_SUMMARY"' in script
    # What runs is what was approved: `up` refuses a state that changed since the plan.
    assert plan["outputs"]["state"] == "${{ steps.state.outputs.digest }}"
    assert "sha256sum" in step_with_id(plan, "state")["run"]
    check = step_named(up, "approved plan")
    assert check["env"]["PLANNED"] == "${{ needs.plan.outputs.state }}" and "exit 1" in check["run"]
    real = step_using(up, "pulumi/actions")
    assert steps(up).index(check) < steps(up).index(real)


def test_each_deployment_runs_up_with_policies_in_its_environment() -> None:
    stack = workflow("deploy-stack.yml")
    assert "workflow_call" in stack["on"]
    job = stack["jobs"]["up"]
    assert job["environment"] == "${{ inputs.environment }}"
    up = step_using(job, "pulumi/actions")["with"]
    assert up["command"] == "up"
    assert up["cloud-url"] == "${{ steps.target.outputs.backend-url }}"
    assert up["policyPacks"] == "policies"
    assert up["policyPackConfigs"] == "policies/config/${{ inputs.stack }}.json"
    assert up["comment-on-pr-number"] == "${{ steps.pr.outputs.number }}"


def test_every_job_has_a_timeout_below_the_az_cli_login_bound() -> None:
    for name, job_id, job in all_jobs():
        if "uses" in job:
            continue  # a reusable-workflow call: its own jobs carry the timeouts
        assert isinstance(job.get("timeout-minutes"), int), f"{name}:{job_id} has no timeout-minutes"
        if uses_local(job, "pulumi-setup"):
            # Azure/azure-cli#28708: the az CLI login cannot be refreshed after about an hour.
            assert job["timeout-minutes"] <= 50, f"{name}:{job_id}"
    done = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "custom.github-workflows-require-timeout",
            *map(str, WORKFLOWS.glob("*.yml")),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


# --- pull-request previews ------------------------------------------------------------------------


def test_pull_requests_preview_every_stack_with_the_pack_its_config_and_an_event_log() -> None:
    preview = workflow("preview.yml")
    assert "pull_request" in preview["on"]
    job = preview["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    (step,) = uses_local(job, "pulumi-preview")
    assert step["with"]["stack"] == "${{ matrix.stack }}" and step["with"]["refresh"] == "true"
    run = action("pulumi-preview")["runs"]["steps"][0]
    # --event-log exists only with PULUMI_DEBUG_COMMANDS (pulumi/pulumi pkg/cmd/pulumi/operations/preview.go).
    assert run["env"]["PULUMI_DEBUG_COMMANDS"] == "true"
    for fragment in (
        '--event-log "$events"',
        "--policy-pack policies",
        '--policy-pack-config "policies/config/$STACK.json"',
        "--non-interactive",
        "args+=(--refresh)",
    ):
        assert fragment in run["run"], fragment
    verdict = step_named(job, "Preview verdict")
    assert verdict["env"]["PREVIEW_EXIT"] == "${{ steps.preview.outputs.exit }}"


def render(tmp_path: Path, events: list[dict[str, Any]], exit_code: int, extra: str = "") -> str:
    log = tmp_path / "events.jsonl"
    log.write_text("".join(json.dumps(event) + "\n" for event in events) + extra)
    output = tmp_path / "preview.txt"
    output.write_text("Previewing update (prod):\n<b>error</b>: preview failed\n")
    done, _ = run_script(
        ACTIONS / "pulumi-preview" / "render.sh",
        {
            "STACK": "prod",
            "EXIT": str(exit_code),
            "EVENTS": str(log),
            "OUTPUT": str(output),
            "TITLE": "Pull-request preview",
            "RUN_URL": "https://example.invalid/run",
            "SHA": "0" * 40,
        },
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


POLICY_EVENT = {
    "sequence": 3,
    "timestamp": 1,
    "policyEvent": {
        "resourceUrn": "urn:pulumi:prod::ml-messaging::azure-native:servicebus:Namespace::pipeline",
        "message": "Local auth must be | disabled\nin prod",
        "color": "never",
        "policyName": "servicebus-local-auth-disabled",
        "policyPackName": "ml-messaging",
        "policyPackVersion": "0.1.0",
        "policyPackVersionTag": "",
        "enforcementLevel": "mandatory",
    },
}


@needs_jq
def test_the_failure_comment_is_built_from_the_event_logs_policy_events(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = [
        {"sequence": 0, "timestamp": 1, "preludeEvent": {"config": {}}},
        POLICY_EVENT,
        {**POLICY_EVENT, "sequence": 4},  # the same violation twice is listed once
        {
            "sequence": 5,
            "timestamp": 1,
            "diagnosticEvent": {"message": "error: preview failed\n", "color": "never", "severity": "error"},
        },
        {
            "sequence": 6,
            "timestamp": 1,
            "summaryEvent": {"resourceChanges": {"create": 2, "same": 9}, "isPreview": True},
        },
    ]
    # The pinned CLI exits 1 on a mandatory violation; a last line cut short (a killed CLI) is skipped.
    body = render(tmp_path, events, 1, extra='{"sequence": 7, "timest')
    assert body.startswith("<!-- ml-messaging-preview:prod -->\n")
    assert "blocked by 1 mandatory policy violation(s) (exit code 1)" in body
    row = "| mandatory | `servicebus-local-auth-disabled` | `azure-native:servicebus:Namespace::pipeline` |"
    assert row in body and body.count(row) == 1
    assert "Local auth must be \\| disabled in prod |" in body
    assert "- error: preview failed" in body and "**Changes:** create 2, same 9" in body
    assert "&lt;b&gt;error&lt;/b&gt;" in body, "the text output is escaped inside <pre>"


@needs_jq
def test_a_later_passing_preview_rewrites_the_same_comment(tmp_path: Path) -> None:
    body = render(tmp_path, [{"sequence": 0, "timestamp": 1, "summaryEvent": {"resourceChanges": {"same": 11}}}], 0)
    assert body.startswith("<!-- ml-messaging-preview:prod -->\n") and "✅ passed" in body
    assert "Policy violations" not in body
    job = workflow("preview.yml")["jobs"]["preview"]
    (comment,) = uses_local(job, "pr-comment")
    assert comment["if"] == "always() && steps.preview.outputs.markdown != ''"
    assert comment["with"]["marker"] == "<!-- ml-messaging-preview:${{ matrix.stack }} -->"
    assert comment["with"]["body-file"] == "${{ steps.preview.outputs.markdown }}"
    upsert = action("pr-comment")["runs"]["steps"][0]["run"]
    assert "--method PATCH" in upsert
    # Only the bot's own comment is edited: anyone can post one that starts with the marker.
    assert 'select(.user.login == "github-actions[bot]")' in upsert and "index($2, marker) == 1" in upsert


@needs_jq
def test_no_engine_events_says_so(tmp_path: Path) -> None:
    body = render(tmp_path, [], 255)
    assert "❌ failed (exit code 255)" in body and "No engine events were recorded" in body


def test_nothing_claims_the_cli_exits_5_on_a_policy_violation() -> None:
    # pulumi/pulumi pkg/cmd/pulumi/cmd/exit_codes.go: ExitPolicyViolation is declared, not wired.
    for path in [*all_yaml(), *ACTIONS.glob("*/*.sh")]:
        assert "exit code 5" not in path.read_text(), path.name


# --- forks: the follow-up workflow ------------------------------------------------------------------


def test_no_workflow_runs_untrusted_code_with_pull_request_target() -> None:
    for path in all_yaml():
        assert "pull_request_target" not in yaml.safe_dump(load_workflow(path)), path.name  # comments aside


def test_checks_hand_their_reports_over_as_an_artifact_not_job_outputs() -> None:
    checks = workflow("checks.yml")
    assert list(checks["jobs"]) == ["checks"], "commenting and SARIF are report.yml's, for every pull request"
    job = checks["jobs"]["checks"]
    assert "outputs" not in job, "job outputs share a 1 MB limit; SARIF travels as an artifact"
    upload = step_using(job, "actions/upload-artifact")
    assert upload["if"] == "always()" and upload["with"]["name"] == "preflight-reports"
    assert upload["with"]["path"].split() == [
        "reports/preflight.md",
        "reports/preflight.sarif",
        "reports/preflight.json",
    ]
    run = "\n".join(step.get("run", "") for step in steps(job))
    for fragment in ("--format sarif", "--format markdown", "--format json", "GITHUB_STEP_SUMMARY"):
        assert fragment in run, fragment


def test_forks_get_the_comment_and_sarif_from_a_workflow_run_follow_up_that_checks_out_nothing() -> None:
    report = workflow("report.yml")
    assert report["on"] == {"workflow_run": {"workflows": [workflow("checks.yml")["name"]], "types": ["completed"]}}
    for job_id, job in report["jobs"].items():
        assert not any("actions/checkout" in step.get("uses", "") for step in steps(job)), job_id
        assert "pull_request.head.repo.full_name" not in str(job), "forks are not filtered out"
        (fetch,) = uses_local(job, "preflight-artifact")
        assert steps(job)[0] is fetch
    comment, scanning = report["jobs"]["comment"], report["jobs"]["code-scanning"]
    assert comment["permissions"] == {"actions": "read", "pull-requests": "write"}
    assert scanning["permissions"]["security-events"] == "write" and "pull-requests" not in {
        k for k, v in scanning["permissions"].items() if v == "write"
    }
    (post,) = uses_local(comment, "pr-comment")
    assert post["with"]["pr"] == "${{ steps.reports.outputs.pr }}"
    assert post["with"]["marker"] == "<!-- ml-messaging-preflight -->"
    sarif = step_using(scanning, "github/codeql-action/upload-sarif")["with"]
    assert sarif["sarif_file"] == "${{ steps.reports.outputs.dir }}/preflight.sarif"
    assert sarif["ref"] == "${{ steps.reports.outputs.ref }}" and sarif["sha"] == "${{ steps.reports.outputs.sha }}"


def test_the_pull_request_number_comes_from_run_metadata_not_the_artifact() -> None:
    env = action("preflight-artifact")["runs"]["steps"][0]["env"]
    assert env["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
    assert env["HEAD_BRANCH"] == "${{ github.event.workflow_run.head_branch }}"
    assert env["LISTED_PULL_REQUESTS"] == "${{ toJSON(github.event.workflow_run.pull_requests) }}"
    fetch = (ACTIONS / "preflight-artifact" / "fetch.sh").read_text()
    assert 'select(.head.sha == \\"$HEAD_SHA\\")' in fetch
    assert "pr=$numbers" in fetch and fetch.index("pr=$numbers") < fetch.index("/zip")
    assert "$dir/" not in fetch.split("validate.sh")[1], "nothing is read from the artifact after validation"


def artifact(tmp_path: Path, files: dict[str, str], links: tuple[str, ...] = ()) -> Path:
    source = tmp_path / "src"
    source.mkdir()
    archive = tmp_path / "reports.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, text in files.items():
            zipped.writestr(name, text)
        for name in links:
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zipped.writestr(info, "/etc/passwd")
    return archive


GOOD = {
    "preflight.md": "<!-- ml-messaging-preflight -->\n## Preflight\n",
    "preflight.json": json.dumps({"schemaVersion": 1, "verdict": "pass", "stacks": []}),
    "preflight.sarif": json.dumps({"version": "2.1.0", "runs": []}),
}


@needs_jq
@pytest.mark.skipif(shutil.which("unzip") is None, reason="unzip is not installed")
@pytest.mark.parametrize(
    ("files", "links", "refused"),
    [
        (GOOD, (), None),
        ({**GOOD, "extra.sh": "echo"}, (), "must hold exactly"),
        # A link entry is read as data (its target's text), never followed: here not a SARIF log.
        ({k: v for k, v in GOOD.items() if k != "preflight.sarif"}, ("preflight.sarif",), "not a SARIF 2.1.0 log"),
        ({**GOOD, "preflight.json": "[1, 2"}, (), "not a preflight report"),
        ({**GOOD, "preflight.sarif": json.dumps({"version": "1.0"})}, (), "not a SARIF 2.1.0 log"),
        ({**GOOD, "preflight.md": "## no marker\n"}, (), "does not start with the preflight marker"),
        ({**GOOD, "preflight.md": "<!-- ml-messaging-preflight -->\n" + "x" * 1_100_000}, (), "over 1 MiB"),
        # 12 MiB that compress to a few KiB: extraction stops at the limit instead of trusting the headers.
        ({**GOOD, "preflight.json": " " * 12_000_000}, (), "preflight.json is over 10 MiB extracted"),
    ],
    ids=["plain-data", "extra-file", "symlink", "bad-json", "bad-sarif", "no-marker", "too-big", "deflate-bomb"],
)
def test_the_artifact_is_accepted_only_as_plain_data(
    tmp_path: Path, files: dict[str, str], links: tuple[str, ...], refused: str | None
) -> None:
    out = tmp_path / "out"
    done, _ = run_script(
        ACTIONS / "preflight-artifact" / "validate.sh", {}, tmp_path, str(artifact(tmp_path, files, links)), str(out)
    )
    if refused is None:
        assert done.returncode == 0, done.stdout + done.stderr
        assert sorted(p.name for p in out.iterdir()) == sorted(GOOD)
    else:
        assert done.returncode == 1 and refused in done.stdout, done.stdout + done.stderr
        assert list(out.iterdir()) == []


# --- drift ------------------------------------------------------------------------------------------


def drift_issue_run(tmp_path: Path, outcomes: dict[str, str], exit_code: str) -> tuple[int, str]:
    """Run the drift job's issue step with a fake `gh` that logs its arguments."""
    job = workflow("drift.yml")["jobs"]["drift"]
    step = step_named(job, "drift issue")
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "gh.log"
    (fake / "gh").write_text(
        f'#!/usr/bin/env bash\necho "$*" >> {log}\n'
        'for a in "$@"; do if [ -f "$a" ]; then cat "$a" >> ' + str(log) + "; fi; done\n"
        # What `gh issue list --jq` prints for the workflow's own open drift issue: number, tab, title.
        'if [ "$1 $2" = "issue list" ]; then printf "12\\tDrift detected in stack prod\\n"; fi\n'
    )
    (fake / "gh").chmod(0o755)
    report = tmp_path / "report.md"
    report.write_text("<!-- ml-messaging-preview:prod -->\n### Drift check: `prod` table\n")
    done = subprocess.run(
        ["bash", "-eo", "pipefail", "-c", step["run"]],
        env={
            "PATH": f"{fake}:{os.environ['PATH']}",
            "RUNNER_TEMP": str(tmp_path),
            "REPO": "o/r",
            "STACK": "prod",
            "STEPS": json.dumps({key: {"outcome": value, "outputs": {}} for key, value in outcomes.items()}),
            "EXIT": exit_code,
            "REPORT": str(report) if exit_code else "",
            "RUN_URL": "https://example.invalid/run",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, log.read_text() if log.exists() else ""


ALL_SUCCESS = {"checkout": "success", "target": "success", "setup": "success", "cli": "success", "drift": "success"}


@needs_jq
@pytest.mark.parametrize(
    ("outcomes", "exit_code", "reason"),
    [
        (ALL_SUCCESS, "7", "drift: `pulumi preview --refresh --expect-no-changes` found changes (exit code 7)"),
        (ALL_SUCCESS, "255", "failed with exit code 255; drift unknown"),
        (
            {**ALL_SUCCESS, "target": "failure", "setup": "skipped", "cli": "skipped", "drift": "skipped"},
            "",
            "target (failure)",
        ),
        ({**ALL_SUCCESS, "drift": "cancelled"}, "", "drift (cancelled)"),
    ],
    ids=["drift", "cli-failure", "missing-variables", "timeout"],
)
def test_drift_updates_the_issue_on_any_failure_with_the_reason(
    tmp_path: Path, outcomes: dict[str, str], exit_code: str, reason: str
) -> None:
    code, gh = drift_issue_run(tmp_path, outcomes, exit_code)
    assert code == 1, "a run that is not clean is red"
    assert "issue edit 12" in gh and reason in gh and "issue close" not in gh


@needs_jq
def test_a_clean_drift_run_closes_the_issue(tmp_path: Path) -> None:
    code, gh = drift_issue_run(tmp_path, ALL_SUCCESS, "0")
    assert code == 0 and "issue close 12" in gh and "issue edit" not in gh


def test_drift_is_scheduled_and_reports_one_issue_per_stack_whatever_failed() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"] and "workflow_dispatch" in drift["on"]
    job = drift["jobs"]["drift"]
    (check,) = uses_local(job, "pulumi-preview")
    assert (
        check["id"] == "drift" and check["with"]["expect-no-changes"] == "true" and check["with"]["refresh"] == "true"
    )
    issue = steps(job)[-1]
    assert issue["if"] == "always()" and issue["env"]["STEPS"] == "${{ toJSON(steps) }}"
    assert all("id" in step for step in steps(job)[:-1]), "every step's outcome is named in the issue"


# --- auth, pins, permissions, caching, lint -------------------------------------------------------------


def test_azure_auth_is_oidc_only() -> None:
    for path in all_yaml():
        assert "secrets." not in yaml.safe_dump(load_workflow(path)), f"{path.name} uses a stored secret"
    setup = action("pulumi-setup")
    assert any(step.get("uses", "").startswith("Azure/login@") for step in setup["runs"]["steps"])
    assert "client-secret" not in str(setup)


def test_the_cli_version_is_pinned_in_one_file_matching_the_sdk() -> None:
    version = (REPO / ".pulumi-version").read_text().strip()
    assert f"pulumi=={version}" in (REPO / "requirements.txt").read_text()
    for path in WORKFLOWS.glob("*.yml"):
        for uses_step in (s for job in load_workflow(path).get("jobs", {}).values() for s in steps(job)):
            if uses_step.get("uses", "").startswith("pulumi/actions@"):
                assert uses_step["with"]["pulumi-version-file"] == ".pulumi-version", path.name


def test_dependencies_are_cached_keyed_on_the_requirements_and_hook_config() -> None:
    python = action("python-setup")["runs"]["steps"]
    redirect = python[0]["run"]
    for line in ('"PIP_CACHE_DIR=$root"', '"UV_CACHE_DIR=$root/uv"', '"PRE_COMMIT_HOME=$root/pre-commit"'):
        assert line in redirect, line
    setup = python[1]
    assert setup["uses"].startswith("actions/setup-python@")
    assert setup["with"]["cache"] == "${{ inputs.cache == 'true' && 'pip' || '' }}"
    checks = workflow("checks.yml")["jobs"]["checks"]
    (cached,) = uses_local(checks, "python-setup")
    keyed = cached["with"]["cache-dependency-path"].split()
    assert {"requirements.txt", "requirements-dev.txt", "requirements-nox.txt", ".pre-commit-config.yaml"} <= set(keyed)
    assert all((REPO / name).is_file() for name in keyed), "setup-python fails on a key file that does not exist"
    assert not any(step.get("uses", "").startswith("actions/setup-python@") for step in steps(checks))
    (deploying,) = uses_local(workflow("deploy-stack.yml")["jobs"]["up"], "pulumi-setup")
    assert deploying["with"]["cache"] == "false", "a deployment installs from the index only"


def test_each_check_runs_once_in_ci() -> None:
    job = workflow("checks.yml")["jobs"]["checks"]
    runs = [step.get("run", "") for step in steps(job)]
    assert runs.count("python3 noxw.py -s tests") == 1
    assert runs.count("python3 noxw.py -s typecheck") == 1
    assert not any("lint typecheck" in run for run in runs)
    lint = step_named(job, "Lint")
    assert lint["run"] == "python3 noxw.py -s lint"
    skipped = set(lint["env"]["SKIP"].split(","))
    hooks = {
        hook["id"]: hook for hook in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
    }
    assert skipped <= set(hooks)
    # Each skipped hook runs elsewhere in the job: mypy is the typecheck session, preflight its own
    # step, the schema and zizmor hooks are tests in this file (run by the tests session).
    assert "mypy" in skipped and hooks["mypy"]["entry"] == "python3 noxw.py -s typecheck"
    assert "preflight" in skipped and any("noxw.py -s preflight" in run for run in runs)
    this_file = Path(__file__).read_text()
    for hook in skipped - {"mypy", "preflight"}:
        assert hooks[hook]["entry"].split()[0] in this_file, hook


def test_permissions_are_least_privilege() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        document = load_workflow(path)
        assert document.get("permissions") == {}, f"{path.name}: top-level permissions must be empty"
        for name, job in document["jobs"].items():
            assert "permissions" in job, f"{path.name}:{name} must declare its permissions"
            assert job["permissions"] not in ("write-all", "read-all")
    checks = workflow("checks.yml")["jobs"]
    assert checks["checks"]["permissions"] == {"contents": "read"}, "untrusted code runs with a read-only token"


def test_every_checkout_drops_its_credentials() -> None:
    for path in all_yaml():
        document = load_workflow(path)
        all_steps = [s for job in document.get("jobs", {}).values() for s in steps(job)]
        all_steps += document.get("runs", {}).get("steps", [])
        for step in all_steps:
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, path.name


def test_checks_judge_the_pull_requests_change_from_its_base() -> None:
    job = workflow("checks.yml")["jobs"]["checks"]
    checkout = step_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    preflight = next(step for step in steps(job) if step.get("id") == "preflight")
    assert "pull_request.base.sha" in preflight["env"]["BASE"]
    assert '--base "$BASE"' in preflight["run"]


def listed_stacks(document: dict[str, Any], scratch: Path) -> list[str]:
    """Run the workflow's own stack-listing script against this checkout (its output file in ``scratch``,
    not in the repository, so parallel test workers cannot collide)."""
    script = next(step["run"] for step in steps(document["jobs"]["stacks"]) if step.get("id") == "list")
    out = scratch / "github-output"
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env={"GITHUB_OUTPUT": str(out), "PATH": "/usr/bin:/bin"},
        check=True,
    )
    line = out.read_text().strip()
    assert line.startswith("stacks=")
    return list(yaml.safe_load(line.removeprefix("stacks=")))


@needs_jq
@pytest.mark.parametrize("name", ["preview.yml", "drift.yml"])
def test_the_matrix_is_derived_from_the_stack_files(name: str, tmp_path: Path) -> None:
    assert listed_stacks(workflow(name), tmp_path) == list(SHIPPED_STACKS)


def test_every_stack_has_a_policy_config_the_workflows_will_pass() -> None:
    for stack in SHIPPED_STACKS:
        assert (REPO / "policies" / "config" / f"{stack}.json").is_file(), stack


def verified_pins() -> dict[str, tuple[str, str]]:
    """Commit SHA -> (owner/repository, tag) from the table in docs/action-pins.md."""
    assert PINS.is_file(), f"{PINS.relative_to(REPO)} is missing: it records the verified action SHAs"
    pins: dict[str, tuple[str, str]] = {}
    for line in PINS.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and re.fullmatch(r"[0-9a-f]{40}", cells[2]):
            action, tag, sha, _ = cells
            pins[sha] = (action.split()[0].lower(), tag)
    assert pins, f"{PINS.relative_to(REPO)} lists no pin"
    return pins


def test_every_action_is_pinned_to_a_full_commit_sha_from_the_pins_file() -> None:
    pins = verified_pins()
    for path in all_yaml():
        text = path.read_text()
        for uses in uses_of(load_workflow(path)):
            if uses.startswith("$/"):
                continue
            assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a commit SHA"
            action, sha = uses.split("@")
            assert sha in pins, f"{path.name}: {uses} is not listed in {PINS.relative_to(REPO)}"
            repository, tag = pins[sha]
            assert "/".join(action.lower().split("/")[:2]) == repository, f"{path.name}: {uses} is {repository}'s SHA"
            comment = re.search(rf"{re.escape(uses)} # (v[\d.]+)", text)
            assert comment, f"{path.name}: {uses} lacks its tag comment"
            assert comment.group(1) == tag, f"{path.name}: {uses} is {tag}, not {comment.group(1)}"


@pytest.mark.parametrize("path", all_yaml(), ids=lambda p: str(p.relative_to(REPO)))
def test_workflows_and_actions_validate_against_githubs_schemas(path: Path) -> None:
    schema = "vendor.github-actions" if path.name == "action.yml" else "vendor.github-workflows"
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("persona", ["regular", "auditor"])
def test_zizmor_reports_nothing(persona: str) -> None:
    done = subprocess.run(
        # Plain text: zizmor colours its output when it detects CI (CI=true), which would split the words.
        [tool("zizmor"), "--offline", "--color", "never", "--persona", persona, str(REPO / ".github")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout
    # The one accepted finding: report.yml's workflow_run trigger (see the comment on it).
    assert "(1 ignored" in done.stdout


def test_zizmor_would_catch_a_regression(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-latest\n    permissions: {}\n"
        '    steps:\n      - uses: actions/checkout@v4\n      - run: echo "${{ github.event.pull_request.title }}"\n'
    )
    done = subprocess.run([tool("zizmor"), "--offline", str(bad)], capture_output=True, text=True, check=False)
    assert done.returncode != 0
    assert "template-injection" in done.stdout and "unpinned-uses" in done.stdout


def test_the_secrets_hook_fails_on_a_key_and_ignores_pulumi_ciphertext(tmp_path: Path) -> None:
    hook = next(
        h
        for h in yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())["repos"][0]["hooks"]
        if h["id"] == "detect-secrets"
    )
    command = [tool("detect-secrets-hook"), "--exclude-lines", r"^\s*(secure|encryptedkey):"]
    assert hook["entry"] == "detect-secrets-hook --exclude-lines '^\\s*(secure|encryptedkey):'"
    leaked = tmp_path / "leak.py"
    leaked.write_text(f"aws_secret_access_key = {FAKE_KEY!r}\n")  # pragma: allowlist secret
    ciphertext = tmp_path / "Pulumi.x.yaml"
    ciphertext.write_text(
        f"encryptedkey: {ENCRYPTED_KEY}\nconfig:\n  azure-native:clientSecret:\n    secure: {CIPHERTEXT}\n"
    )
    assert subprocess.run([*command, str(leaked)], capture_output=True, check=False).returncode != 0
    assert subprocess.run([*command, str(ciphertext)], capture_output=True, check=False).returncode == 0


def test_pre_commit_hooks_install_from_the_index_and_match_the_dev_pins() -> None:
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    assert [repo["repo"] for repo in config["repos"]] == ["local"]
    dev = (REPO / "requirements-dev.txt").read_text()
    for hook in config["repos"][0]["hooks"]:
        for requirement in hook.get("additional_dependencies", []):
            name = requirement.split("==")[0]
            if name in dev:
                assert requirement in dev, f"{requirement} differs from requirements-dev.txt"
    ids = {hook["id"] for hook in config["repos"][0]["hooks"]}
    assert {
        "ruff-check",
        "ruff-format",
        "mypy",
        "check-yaml",
        "workflow-schema",
        "zizmor",
        "detect-secrets",
        "preflight",
    } <= ids


def test_a_manual_drift_run_reports_only_from_main() -> None:
    drift = workflow("drift.yml")
    assert "workflow_dispatch" in drift["on"]
    assert drift["jobs"]["stacks"]["if"] == "github.ref == 'refs/heads/main'"
    assert drift["jobs"]["drift"]["needs"] == "stacks"  # skipped with it


def test_the_preflight_comment_cannot_mention_anyone(tmp_path: Path) -> None:
    body_step = next(step for step in steps(workflow("report.yml")["jobs"]["comment"]) if step.get("id") == "body")
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "preflight.md").write_text(
        "<!-- ml-messaging-preflight -->\n# Preflight\ncc @octo-org/admins and @someone\n"
    )
    out = tmp_path / "out.txt"
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", body_step["run"]],
        env={
            "PATH": os.environ["PATH"],
            "RUNNER_TEMP": str(tmp_path),
            "GITHUB_OUTPUT": str(out),
            "DIR": str(reports),
            "FORK": "false",
            "SHA": "0" * 40,
            "RUN_URL": "https://example.invalid/run",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    body = (tmp_path / "preflight-comment.md").read_text()
    assert body.startswith("<!-- ml-messaging-preflight -->\n")
    assert "@octo-org" not in body and "@someone" not in body
    assert "@\u200docto-org/admins" in body
    assert "Produced by the pull request's own code" in body


def test_code_owners_review_what_checks_and_deploys_and_branch_protection_requires_it() -> None:
    owners = {line.split()[0] for line in (REPO / ".github" / "CODEOWNERS").read_text().splitlines() if line[:1] == "/"}
    assert {"/.github/", "/bootstrap/", "/policies/", "/stacks/"} <= owners
    readme = (REPO / "README.md").read_text()
    assert '"require_code_owner_reviews": true' in readme and '"app_id": 15368' in readme
