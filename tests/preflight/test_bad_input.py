"""Hostile or odd input: every case exits 2 with one line naming the file, the key and what is allowed.

Each case edits a small, valid stack file (below) in a throwaway repository and runs the README's
command in-process (``preflight.cli.main``). The bar for every case: exit code 2, each stderr line
starts with the file's path relative to the repository and names the key, no traceback, nothing on
stdout, no report written. Speed and memory are measured by ``nox -s bench``, not asserted here.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from preflight import cli, outputs
from preflight.mockrun import ProgramError, run_program
from tests.support import REPO, program_copy

STACK = "dev"
STACK_FILE = f"stacks/Pulumi.{STACK}.yaml"
POLICY_FILE = f"policies/config/{STACK}.json"
VALID_STACK = """\
config:
  ml-messaging:environment: dev
  ml-messaging:location: westeurope
  ml-messaging:workload: mlpipe
  ml-messaging:instance: "001"
  ml-messaging:tags:
    owner: ml-platform
    costCenter: cc-1234
  ml-messaging:namespace:
    tier: Standard
    minimumTlsVersion: "1.2"
  ml-messaging:externalEventTypes: [data.ingested]
  ml-messaging:services:
    - name: preprocessing
      consumes: [data.ingested]
      publishes: [data.preprocessed]
    - name: training
      consumes: [data.preprocessed]
"""
ALIAS_BOMB = """\
  ml-messaging:colour:
    - &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]
    - &a1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]
    - &a2 [*a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1, *a1]
    - &a3 [*a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2, *a2]
    - &a4 [*a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3, *a3]
    - &a5 [*a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4, *a4]
    - &a6 [*a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5, *a5]
    - &a7 [*a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6, *a6]
    - &a8 [*a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7, *a7]
"""


def replace(old: str, new: str) -> Callable[[str], str]:
    """An edit that swaps one exact piece of the valid stack file."""

    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return edit


def append(lines: str) -> Callable[[str], str]:
    """An edit that adds keys at the end of the `config:` mapping."""
    return lambda text: text + lines


def raw(content: bytes) -> Callable[[str], bytes]:
    """An edit that replaces the whole file with bytes."""
    return lambda _: content


def tags(count: int) -> str:
    return "".join(f"    t{index}: v\n" for index in range(count))


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, the key the message must name, and a fragment of what it says."""

    name: str
    edit: Callable[[str], str | bytes]
    key: str
    says: str


CASES = [
    # The file and its YAML.
    Case("alias bomb", append(ALIAS_BOMB), "ml-messaging:colour", "values through YAML aliases"),
    Case(
        "alias that contains itself",
        append("  ml-messaging:colour: &loop [*loop]\n"),
        "ml-messaging:colour",
        "refers to a value that contains it",
    ),
    Case(
        "non-UTF-8 byte",
        lambda text: text.replace("ml-platform", "ml-pl\xe4tform").encode("latin-1"),
        ":7:",
        "not valid UTF-8",
    ),
    Case("file too large", append("# " + "x" * 600_000 + "\n"), "", "a stack file may have at most"),
    Case(
        "flow nesting deep enough to crash libyaml",
        append("  ml-messaging:colour: " + "[" * 60_000 + "]" * 60_000 + "\n"),
        ":19:",
        "nested deeper than 32 levels",
    ),
    Case(
        "nesting through aliases",
        append("  ml-messaging:a: &deep " + "[" * 30 + "]" * 30 + "\n  ml-messaging:b: [[[[[*deep]]]]]\n"),
        "ml-messaging:b",
        "through YAML aliases",
    ),
    Case(
        "key written twice",
        append("  ml-messaging:location: northeurope\n"),
        "ml-messaging:location",
        "key given twice (lines 3 and 19)",
    ),
    Case(
        "nested key written twice",
        replace("    tier: Standard\n", "    tier: Standard\n    tier: Premium\n"),
        "ml-messaging:namespace.tier",
        "key given twice (lines 10 and 11)",
    ),
    Case(
        "binary tag",
        append("  ml-messaging:colour: !!binary aGVsbG8=\n"),
        "ml-messaging:colour",
        "YAML tag !!binary is not allowed",
    ),
    Case(
        "python object tag",
        append("  ml-messaging:colour: !!python/object/apply:os.system [true]\n"),
        "ml-messaging:colour",
        "is not allowed",
    ),
    Case("tab indentation", replace("    tier: Standard", "\ttier: Standard"), ":10:", "invalid YAML"),
    Case("top level is a list", raw(b"- config\n"), "", "must be a YAML mapping at the top level"),
    Case("unknown top-level key", append("colour: blue\n"), "colour", "unknown top-level key; allowed: config"),
    Case("config is a list", raw(b"config: [a, b]\n"), "config", "must be a mapping"),
    # Secrets the program would need to read.
    Case(
        "encrypted top-level setting",
        replace("ml-messaging:workload: mlpipe", "ml-messaging:workload: {secure: v1:abc}"),
        "ml-messaging:workload",
        "is encrypted (secure:)",
    ),
    Case(
        "encrypted nested setting",
        replace("owner: ml-platform", "owner: {secure: v1:abc}"),
        "ml-messaging:tags.owner",
        "is encrypted (secure:)",
    ),
    # Scalars YAML turned into numbers or booleans.
    Case(
        "TLS version as a number",
        replace('minimumTlsVersion: "1.2"', "minimumTlsVersion: 1.2"),
        "ml-messaging:namespace.minimumTlsVersion",
        'YAML reads the unquoted 1.2 as a number; write it in quotes ("1.2")',
    ),
    Case(
        "instance as an octal number",
        replace('instance: "001"', "instance: 010"),
        "ml-messaging:instance",
        "YAML reads the unquoted 010 as the number 8",
    ),
    Case(
        "service name as a boolean",
        replace("name: training", "name: no"),
        "ml-messaging:services[1].name",
        "YAML reads the unquoted no as the boolean false",
    ),
    Case(
        "event type as a number",
        replace("consumes: [data.preprocessed]", "consumes: [1.5]"),
        "ml-messaging:services[1].consumes[0]",
        "YAML reads the unquoted 1.5 as a number",
    ),
    # Values Azure refuses.
    Case(
        "unknown location",
        replace("location: westeurope", "location: moon"),
        "ml-messaging:location",
        "'moon' is not an Azure region name",
    ),
    Case(
        "misspelt location",
        replace("location: westeurope", "location: westeurop"),
        "ml-messaging:location",
        "did you mean westeurope",
    ),
    Case(
        "tag name with a forbidden character",
        replace("    costCenter: cc-1234\n", "    costCenter: cc-1234\n    <script>: x\n"),
        "ml-messaging:tags.<script>",
        "must not contain < > % & \\ ? /",
    ),
    Case(
        "tag value over 256 characters",
        replace("owner: ml-platform", "owner: " + "o" * 300),
        "ml-messaging:tags.owner",
        "at most 256 characters (this one has 300)",
    ),
    Case(
        "tag name over 512 characters",
        replace("    costCenter: cc-1234\n", f"    costCenter: cc-1234\n    {'k' * 513}: x\n"),
        "ml-messaging:tags.",
        "1-512 characters (this one has 513)",
    ),
    Case(
        "52,000 tags",
        replace("    costCenter: cc-1234\n", "    costCenter: cc-1234\n" + tags(52_000)),
        "",
        "a stack file may have at most",
    ),
    Case(
        "49 tags",
        replace("    costCenter: cc-1234\n", "    costCenter: cc-1234\n" + tags(47)),
        "ml-messaging:tags",
        "at most 48 are allowed",
    ),
    Case(
        "tag the program sets",
        replace("    costCenter: cc-1234\n", "    costCenter: cc-1234\n    environment: x\n"),
        "ml-messaging:tags.environment",
        "is set by the program",
    ),
    Case(
        "tag names differing only in case",
        replace("    costCenter: cc-1234\n", "    costCenter: cc-1234\n    Owner: y\n"),
        "ml-messaging:tags.Owner",
        "Azure tag names ignore case",
    ),
    Case(
        "resource group name with a slash",
        append("  ml-messaging:resourceGroupName: 'bad name/..'\n"),
        "ml-messaging:resourceGroupName",
        "'bad name/..' is not valid: a resource group name is 1-90 characters",
    ),
    Case(
        "resource group name ending in a period",
        append("  ml-messaging:resourceGroupName: rg-shared.\n"),
        "ml-messaging:resourceGroupName",
        "not ending with '.'",
    ),
    Case(
        "resource group name over 90 characters",
        append(f"  ml-messaging:resourceGroupName: {'r' * 91}\n"),
        "ml-messaging:resourceGroupName",
        "1-90 characters",
    ),
    Case(
        "more consumers than a topic has subscriptions",
        append("".join(f"    - name: s{index}\n      consumes: [data.ingested]\n" for index in range(2000))),
        "ml-messaging:services",
        "a topic has at most 2,000 subscriptions",
    ),
    Case(
        "a NUL character", replace("location: westeurope", "location: west\x00europe"), ":3:", "#x0000 is not allowed"
    ),
    Case(
        "a value too long to echo",
        replace("name: training", "name: " + "a" * 5000),
        "ml-messaging:services[1].name",
        "...' (5000 characters) is not valid",
    ),
    Case(
        "thousands of unpublished event types",
        replace("consumes: [data.preprocessed]", "consumes: [" + ", ".join(f"e{i}" for i in range(3000)) + "]"),
        "ml-messaging:services[1].consumes",
        "e8, e9 and 2990 more, which no service publishes",
    ),
    Case(
        "a merge key into a setting",
        append("  ml-messaging:x: &m {a: 1}\n  ml-messaging:y: {<<: *m, b: 2}\n"),
        "ml-messaging:x",
        "unknown key",
    ),
    # The pipeline's own rules, said in words.
    Case(
        "service consuming what it publishes",
        replace("consumes: [data.preprocessed]", "consumes: [data.preprocessed]\n      publishes: [data.preprocessed]"),
        "ml-messaging:services[1].consumes",
        "which it publishes itself",
    ),
    Case(
        "service name against the rules",
        replace("name: training", "name: Training_Job"),
        "ml-messaging:services[1].name",
        "a service name is 2-40 characters: lowercase letters, digits and '-'",
    ),
    Case(
        "event type against the rules",
        replace("consumes: [data.preprocessed]", "consumes: [data preprocessed]"),
        "ml-messaging:services[1].consumes[0]",
        "an event type is 1-46 characters",
    ),
    Case(
        "environment other than the stack",
        replace("environment: dev", "environment: prod"),
        "ml-messaging:environment",
        "'prod' must equal the stack name 'dev'",
    ),
    Case("empty value", replace("location: westeurope", "location:"), "ml-messaging:location", "must be text"),
]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A throwaway repository holding the valid stack file above."""
    made = program_copy(tmp_path)
    for config in (made / "policies" / "config").glob("*.json"):
        if config.stem != STACK:
            config.unlink()
    (made / STACK_FILE).write_text(VALID_STACK, encoding="utf-8")
    return made


def preflight(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main([*args, "--root", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_refused(code: int, out: str, err: str, file: str, key: str, says: str) -> None:
    """Exit 2; every line names the file; one names the key and says what is allowed; no traceback."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err
    assert lines and all(line.startswith(file) for line in lines), err
    assert any(key in line and says in line for line in lines), err


def test_the_valid_stack_passes(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = preflight(root, capsys, STACK)
    assert code == 0, err
    assert f"{STACK}: PASS" in out


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_stack_input_exits_2_naming_file_and_key_and_writes_nothing(
    case: Case, root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = case.edit(VALID_STACK)
    path = root / STACK_FILE
    if isinstance(edited, bytes):
        path.write_bytes(edited)
    else:
        path.write_text(edited, encoding="utf-8")
    report = tmp_path / "out" / "report.json"
    code, out, err = preflight(root, capsys, STACK, "--format", "json", "--output", str(report))
    assert_refused(code, out, err, STACK_FILE, case.key, case.says)
    assert not report.parent.exists()


POLICY_CONFIG_CASES = [
    (
        '{"servicebus-minimum-tl": "mandatory"}',
        "servicebus-minimum-tl",
        "did you mean servicebus-minimum-tls? allowed: all, ",
    ),
    (
        '{"all": "fatal"}',
        "all.enforcementLevel",
        '"fatal" is not a valid enforcement level; allowed: advisory, mandatory',
    ),
    ('{"all": ', ":1:", "invalid JSON"),
    ("[1, 2]", "", "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("content", "key", "says"), POLICY_CONFIG_CASES, ids=[c[1] or c[2] for c in POLICY_CONFIG_CASES]
)
def test_a_bad_policy_config_is_named_relative_to_the_repository(
    content: str, key: str, says: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / POLICY_FILE).write_text(content, encoding="utf-8")
    code, out, err = preflight(root, capsys, STACK)
    assert_refused(code, out, err, POLICY_FILE, key, says)
    assert str(root) not in err


def test_a_bad_change_rule_config_is_refused_before_anything_runs(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Read with the stack, not only when a base is given: a typo must not wait for the first pull request.
    change_file = f"policies/changes/{STACK}.json"
    (root / change_file).parent.mkdir(parents=True, exist_ok=True)
    (root / change_file).write_text('{"no-such-rule": "mandatory"}', encoding="utf-8")
    code, out, err = preflight(root, capsys, STACK)
    assert_refused(code, out, err, change_file, "no-such-rule", "no such change rule")


def test_a_policy_config_that_is_not_utf8_is_refused(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (root / POLICY_FILE).write_bytes(b'{"all": "advisory\xff"}')
    code, out, err = preflight(root, capsys, STACK)
    assert_refused(code, out, err, POLICY_FILE, "", "not valid UTF-8")


BAD_RATES = [
    ("--standard-hourly-usd", "nan"),
    ("--standard-hourly-usd", "-5"),
    ("--premium-hourly-usd", "inf"),
    ("--premium-hourly-usd", "cheap"),
]


@pytest.mark.parametrize(("option", "value"), BAD_RATES)
def test_a_price_rate_must_be_finite_and_not_negative(
    option: str, value: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([STACK, "--root", str(root), option, value])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.strip().splitlines() == [
        f"preflight: argument {option}: {value!r} is not a rate: give a finite, non-negative number of USD per hour "
        "(see --help)"
    ]


def break_second_write(monkeypatch: pytest.MonkeyPatch, error: OSError) -> None:
    """Make the second staged report fail the way a full disk or a read-only place does."""
    real_stage = outputs._stage
    calls: list[Path] = []

    def stage(path: Path, text: str) -> Path:
        calls.append(path)
        if len(calls) == 2:
            raise error
        return real_stage(path, text)

    monkeypatch.setattr(outputs, "_stage", stage)


OUTPUT_FAILURES = [
    ("disk full", OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
    ("read-only place", OSError(errno.EROFS, "Read-only file system"), "Read-only file system"),
    ("no permission", PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
]


@pytest.mark.parametrize(("case", "error", "reason"), OUTPUT_FAILURES, ids=[c[0] for c in OUTPUT_FAILURES])
def test_reports_are_all_or_nothing(
    case: str,
    error: OSError,
    reason: str,
    root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    break_second_write(monkeypatch, error)
    target = tmp_path / "reports" / "nested"
    args = [
        "--format",
        "json",
        "--output",
        str(target / "r.json"),
        "--format",
        "sarif",
        "--output",
        str(target / "r.sarif"),
    ]
    code, out, err = preflight(root, capsys, STACK, "--format", "text", *args)
    assert code == 2
    assert out == ""
    assert err.strip() == f"preflight: cannot write {target / 'r.sarif'}: {reason}"
    assert not (tmp_path / "reports").exists()


def test_an_output_that_is_a_directory_writes_nothing(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "first.json"
    (tmp_path / "taken").mkdir()
    code, out, err = preflight(
        root,
        capsys,
        STACK,
        "--format",
        "json",
        "--output",
        str(first),
        "--format",
        "sarif",
        "--output",
        str(tmp_path / "taken"),
    )
    assert code == 2 and out == ""
    assert err.strip() == f"preflight: cannot write {tmp_path / 'taken'}: is a directory"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo", "taken"]
    assert list((tmp_path / "taken").iterdir()) == []


def test_an_output_given_twice_is_refused(root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    same = str(tmp_path / "r.json")
    code, _, err = preflight(
        root, capsys, STACK, "--format", "json", "--output", same, "--format", "sarif", "--output", same
    )
    assert code == 2
    assert "is given more than once" in err
    assert not Path(same).exists()


def test_reports_are_written_with_the_umask_and_leave_no_temporary_file(
    root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous = os.umask(0o022)
    try:
        code, out, _ = preflight(root, capsys, STACK, "--format", "json", "--output", str(tmp_path / "r" / "r.json"))
    finally:
        os.umask(previous)
    assert code == 0 and "PASS" in out
    assert [p.name for p in (tmp_path / "r").iterdir()] == ["r.json"]
    assert (tmp_path / "r" / "r.json").stat().st_mode & 0o777 == 0o644


def test_an_internal_error_has_its_own_exit_code(
    root: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(*_: object, **__: object) -> str:
        raise KeyError("a bug")

    monkeypatch.setattr("preflight.cli.renderers", lambda: {"text": broken})
    code, out, err = preflight(root, capsys, STACK)
    assert code == 3 and out == ""
    assert err.strip().splitlines() == [
        "preflight: internal error (a bug in preflight, not in your input): KeyError: 'a bug'; "
        "rerun with --debug for the traceback"
    ]
    code, _, err = preflight(root, capsys, STACK, "--debug")
    assert code == 3
    assert "Traceback" in err


def test_the_program_itself_refuses_an_environment_other_than_the_stack() -> None:
    config = {
        f"ml-messaging:{key}": value
        for key, value in {
            "environment": "dev",
            "location": "westeurope",
            "workload": "mlpipe",
            "tags": '{"owner": "a", "costCenter": "b"}',
            "namespace": '{"tier": "Standard"}',
            "services": '[{"name": "svc", "publishes": ["x"]}]',
        }.items()
    }
    with pytest.raises(ProgramError, match=r"stacks/Pulumi.prod.yaml: ml-messaging:environment: 'dev' must equal"):
        run_program(REPO, "ml-messaging", "prod", config)


@pytest.mark.parametrize(("stack", "code"), [("no-such-stack", 2), (STACK, 0)])
def test_the_nox_session_exits_with_preflights_own_code(root: Path, tmp_path: Path, stack: str, code: int) -> None:
    # The session under test, run by nox in this test's own environment (no new virtualenv, no install).
    envdir = tmp_path / "envs"
    envdir.mkdir()
    (envdir / "preflight").symlink_to(Path(sys.prefix))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "nox",
            "-f",
            str(REPO / "noxfile.py"),
            "--envdir",
            str(envdir),
            "-R",
            "-s",
            "preflight",
            "--",
            stack,
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == code, done.stderr


def test_a_first_deployment_preview_cannot_be_compared_with_a_base(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["dev", "--phase", "preview", "--base", "HEAD"])
    _, err = capsys.readouterr()
    assert code == 2
    assert err.strip() == "preflight: --phase preview judges a first deployment; drop it to judge a change with --base"
