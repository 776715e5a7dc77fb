"""The GitOps contract, read from the workflow files themselves."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
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


def test_previews_and_deploys_judge_the_change_against_the_deployed_state_first() -> None:
    for job in (workflow("preview.yml")["jobs"]["preview"], workflow("deploy-stack.yml")["jobs"]["up"]):
        names = [step.get("name", "") for step in steps(job)]
        judge = next(i for i, name in enumerate(names) if "--base-state" in name)
        real = next(i for i, step in enumerate(steps(job)) if "command" in step.get("with", {}))
        assert judge < real
        script = steps(job)[judge]["run"]
        assert "pulumi stack export" in script and "--base-state" in script and "noxw.py -s preflight" in script


def test_checks_judge_the_pull_requests_change_from_its_base() -> None:
    job = workflow("checks.yml")["jobs"]["checks"]
    checkout = step_using(job, "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0
    preflight = next(step for step in steps(job) if step.get("id") == "preflight")
    assert "pull_request.base.sha" in preflight["env"]["BASE"]
    assert '--base "$BASE"' in preflight["run"]


def listed_stacks(document: dict[str, Any]) -> list[str]:
    """Run the workflow's own stack-listing script against this checkout."""
    script = next(step["run"] for step in steps(document["jobs"]["stacks"]) if step.get("id") == "list")
    out = REPO / ".pytest-stacks-output"
    try:
        subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=REPO,
            env={"GITHUB_OUTPUT": str(out), "PATH": "/usr/bin:/bin"},
            check=True,
        )
        line = out.read_text().strip()
    finally:
        out.unlink(missing_ok=True)
    assert line.startswith("stacks=")
    return list(yaml.safe_load(line.removeprefix("stacks=")))


def test_no_workflow_runs_untrusted_code_with_pull_request_target() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        assert "pull_request_target" not in load_workflow(path)["on"], path.name


def test_pull_requests_preview_every_stack_with_the_pack_and_its_config() -> None:
    preview = workflow("preview.yml")
    assert "pull_request" in preview["on"]
    job = preview["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"
    action = step_using(job, "pulumi/actions")["with"]
    assert action["command"] == "preview"
    assert action["stack-name"] == "${{ matrix.stack }}"
    assert action["policyPacks"] == "policies"
    assert action["policyPackConfigs"] == "policies/config/${{ matrix.stack }}.json"
    for flag in ("comment-on-pr", "edit-pr-comment", "refresh", "suppress-progress", "always-include-summary"):
        assert action[flag] is True, flag


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
@pytest.mark.parametrize("name", ["preview.yml", "drift.yml"])
def test_the_matrix_is_derived_from_the_stack_files(name: str) -> None:
    assert listed_stacks(workflow(name)) == list(SHIPPED_STACKS)


def test_every_stack_has_a_policy_config_the_workflows_will_pass() -> None:
    for stack in SHIPPED_STACKS:
        assert (REPO / "policies" / "config" / f"{stack}.json").is_file(), stack


def test_a_failed_preview_still_reaches_the_pull_request() -> None:
    job = workflow("preview.yml")["jobs"]["preview"]
    report = next(step for step in steps(job) if "steps.preview.outcome == 'failure'" in step.get("if", ""))
    assert "failure()" in report["if"]
    assert "gh api" in report["run"]
    comment = workflow("checks.yml")["jobs"]["comment"]
    assert "PATCH" in comment["steps"][0]["run"] and "<!-- ml-messaging-preflight -->" in comment["steps"][0]["run"]


def test_missing_credentials_or_forks_skip_with_a_notice() -> None:
    for name, job_name in (("preview.yml", "preview"), ("deploy-stack.yml", "up"), ("drift.yml", "drift")):
        job = workflow(name)["jobs"][job_name]
        check = steps(job)[0]
        assert check["id"] == "credentials" and "::notice" in check["run"]
        gated = [step for step in steps(job)[1:] if "uses" in step or "run" in step]
        # A step may instead depend on a gated step's outcome (it cannot run unless that one did).
        assert all(
            "steps.credentials.outputs.ready == 'true'" in step.get("if", "")
            or "steps.preview.outcome" in step.get("if", "")
            for step in gated
        ), job_name
    assert "head.repo.full_name == github.repository" in str(workflow("preview.yml")["jobs"]["preview"]["steps"][0])


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


def test_each_deployment_runs_up_with_policies_in_its_environment_and_is_never_cancelled() -> None:
    stack = workflow("deploy-stack.yml")
    assert "workflow_call" in stack["on"]
    job = stack["jobs"]["up"]
    assert job["environment"] == "${{ inputs.environment }}"
    assert job["concurrency"] == {"group": "deploy-${{ inputs.stack }}", "cancel-in-progress": False}
    action = step_using(job, "pulumi/actions")["with"]
    assert action["command"] == "up"
    assert action["policyPacks"] == "policies"
    assert action["policyPackConfigs"] == "policies/config/${{ inputs.stack }}.json"
    assert action["comment-on-pr-number"] == "${{ steps.pr.outputs.number }}"


def test_drift_is_scheduled_and_reports_one_issue_per_stack() -> None:
    drift = workflow("drift.yml")
    assert drift["on"]["schedule"] and "workflow_dispatch" in drift["on"]
    job = drift["jobs"]["drift"]
    script = next(step["run"] for step in steps(job) if step.get("id") == "drift")
    assert "--refresh --expect-no-changes" in script
    assert '"$code" -ne 7' in script
    issue = steps(job)[-1]["run"]
    assert 'title="Drift detected in stack $STACK"' in issue
    assert "gh issue edit" in issue and "gh issue create" in issue


def test_azure_auth_is_oidc_only() -> None:
    for path in WORKFLOWS.glob("*.yml"):
        text = path.read_text()
        assert "secrets." not in text, f"{path.name} uses a stored secret"
    for name, job_name in (("preview.yml", "preview"), ("deploy-stack.yml", "up"), ("drift.yml", "drift")):
        job = workflow(name)["jobs"][job_name]
        assert job["permissions"]["id-token"] == "write"
        assert job["env"]["ARM_USE_OIDC"] == "true"
        assert any(step.get("uses") == "$/.github/actions/pulumi-setup" for step in steps(job))
    setup = load_workflow(ACTIONS / "pulumi-setup" / "action.yml")
    assert any(step.get("uses", "").startswith("Azure/login@") for step in setup["runs"]["steps"])


def test_the_cli_version_is_pinned_in_one_file_matching_the_sdk() -> None:
    version = (REPO / ".pulumi-version").read_text().strip()
    assert f"pulumi=={version}" in (REPO / "requirements.txt").read_text()
    for path in WORKFLOWS.glob("*.yml"):
        for uses_step in (s for job in load_workflow(path).get("jobs", {}).values() for s in steps(job)):
            if uses_step.get("uses", "").startswith("pulumi/actions@"):
                assert uses_step["with"]["pulumi-version-file"] == ".pulumi-version", path.name


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
    for path in WORKFLOWS.glob("*.yml"):
        for job in load_workflow(path)["jobs"].values():
            for step in steps(job):
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name


def test_checks_publish_sarif_summary_and_a_comment() -> None:
    checks = workflow("checks.yml")
    run = "\n".join(step.get("run", "") for step in steps(checks["jobs"]["checks"]))
    for fragment in (
        "noxw.py -s tests",
        "noxw.py -s lint typecheck",
        "--format sarif",
        "--format markdown",
        "GITHUB_STEP_SUMMARY",
    ):
        assert fragment in run, fragment
    scanning = checks["jobs"]["code-scanning"]
    assert scanning["permissions"]["security-events"] == "write"
    assert step_using(scanning, "github/codeql-action/upload-sarif")["with"]["sarif_file"] == "reports/preflight.sarif"
    assert not any(step.get("uses", "").startswith("actions/checkout@") for step in steps(scanning))
    assert not any(step.get("uses", "").startswith("actions/checkout@") for step in steps(checks["jobs"]["comment"]))


@pytest.mark.parametrize("path", all_yaml(), ids=lambda p: str(p.relative_to(REPO)))
def test_workflows_and_actions_validate_against_githubs_schemas(path: Path) -> None:
    schema = "vendor.github-actions" if path.name == "action.yml" else "vendor.github-workflows"
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", schema, str(path)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_reports_nothing() -> None:
    done = subprocess.run(
        [tool("zizmor"), "--offline", str(REPO / ".github")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No findings to report" in done.stdout


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
