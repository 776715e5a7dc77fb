"""Judge any Pulumi Python project offline, with the CLI's own flags.

    python -m preflight -C <project dir> --stack <name> --policy-pack <dir> [--policy-pack-config <file>]
                        [--phase preview|update] [--format text|json]

The project's ``Pulumi.yaml`` (``name``, ``main``, ``stackConfigDir``, project config defaults) and its
stack file are read as the CLI reads them; the program runs under the mock runtime with
``EchoMocks`` (every provider answers like one without previews: inputs echoed, the rest unknown);
the pack is started and spoken to as the engine does (``preflight.engine``). Nothing of this
repository's own settings, routing or prices is involved. Exit codes as the CLI's for a preview:
0 passed, 1 a mandatory violation (``pulumi preview`` exits 1 then, see docs/engine-parity.md),
2 bad input, 3 an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from preflight.commandline import EXIT_OK, EXIT_VIOLATIONS, OneLineParser, UsageError, guarded
from preflight.engine.driver import PolicyReport
from preflight.engine.levels import CLI_VERDICT
from preflight.engine.pack import PolicyPackError, PolicyPackProcess, StackIdentity
from preflight.engine.policy_config import PolicyConfigError
from preflight.harness import DIY_ORGANIZATION, judge_while_running
from preflight.mockrun import EchoMocks, Phase, ProgramError, ProgramRun, RecordedResource, run_program
from settings.errors import SettingsError
from settings.stack_file import read_stack_config, read_yaml_mapping

BAD_INPUT = (SettingsError, PolicyPackError, PolicyConfigError, ProgramError, UsageError)


def parser() -> argparse.ArgumentParser:
    """The command line (the Pulumi CLI's own flag names)."""
    cli = OneLineParser(prog="preflight -C", description="Offline policy-checked preview of any Pulumi Python project.")
    cli.add_argument("-C", "--cwd", dest="cwd", type=Path, required=True, help="the project directory")
    cli.add_argument("-s", "--stack", required=True, help="the stack name")
    cli.add_argument("--policy-pack", type=Path, required=True, help="a Python policy pack directory")
    cli.add_argument("--policy-pack-config", type=Path, help="its JSON config file")
    cli.add_argument("--phase", choices=[p.value for p in Phase], default=Phase.PREVIEW.value)
    cli.add_argument("--format", choices=("text", "json"), default="text")
    cli.add_argument("--debug", action="store_true", help="show tracebacks")
    return cli


def main(argv: Sequence[str]) -> int:
    """Entry point; returns the exit code."""
    args = parser().parse_args(argv)
    return guarded(lambda: _report(args), bad_input=BAD_INPUT, debug=args.debug)


def _report(args: argparse.Namespace) -> int:
    run, report = _judge(args)
    sys.stdout.write(render_json(run, report) if args.format == "json" else render_text(run, report))
    return EXIT_VIOLATIONS if report.mandatory else EXIT_OK


def _judge(args: argparse.Namespace) -> tuple[ProgramRun, PolicyReport]:
    project_dir: Path = args.cwd.resolve()
    project_file = project_dir / "Pulumi.yaml"
    if not project_file.is_file():
        raise UsageError(f"{project_file}: no Pulumi.yaml here; -C must name a Pulumi project directory")
    # Like the CLI's -C (pkg/cmd/pulumi/pulumi.go: os.Chdir before the command runs): the program runs
    # there, and relative --policy-pack and --policy-pack-config paths are read from there.
    os.chdir(project_dir)
    project = read_yaml_mapping(project_file, str).data
    if not isinstance(project.get("name"), str) or not project["name"]:
        raise UsageError(f"{project_file}: name: a Pulumi project needs a name")
    main_path = project_dir / str(project.get("main") or ".")
    program_dir, main = (main_path.parent, main_path.name) if main_path.suffix == ".py" else (main_path, "__main__.py")
    stack_dir = project_dir / str(project.get("stackConfigDir") or ".")
    stack_file = stack_dir / f"Pulumi.{args.stack}.yaml"
    if stack_file.is_file():
        config = read_stack_config(stack_file, project_file)
        engine_config = config.for_offline_run()
        secret_keys = sorted(config.secret_keys)
    else:
        engine_config, secret_keys = {}, []  # a stack without a config file: the CLI accepts it
    phase = Phase(args.phase)
    name = str(project["name"])

    def run(on_record: Callable[[RecordedResource], None]) -> ProgramRun:
        return run_program(
            program_dir,
            name,
            args.stack,
            engine_config,
            secret_keys,
            phase=phase,
            mocks_=EchoMocks(phase),
            main=main,
            on_record=on_record,
        )

    identity = StackIdentity(
        DIY_ORGANIZATION, name, args.stack, phase is Phase.PREVIEW, engine_config, secret_keys=tuple(secret_keys)
    )
    pack = PolicyPackProcess(args.policy_pack.resolve(), identity)
    pack.spawn()  # it starts while the program runs
    try:
        return judge_while_running(pack, args.policy_pack_config, run, cli_wording=True)
    finally:
        pack.close()


def render_text(run: ProgramRun, report: PolicyReport) -> str:
    """The CLI's ``Policies:`` section, near enough to compare by eye."""
    pack = f"    {report.pack.name}@v{report.pack.version}"
    lines = [f"Previewing stack {run.stack} (offline)", "", "Policies:", pack]
    for diagnostic in report.diagnostics:
        lines.append(f"        [{diagnostic.enforcement_level}]  {diagnostic.policy_name}{_about(diagnostic.urn)}")
        lines.extend(f"        {line}" for line in (diagnostic.description, diagnostic.message) if line)
    for remediation in report.remediations:
        lines.append(f"        [remediate]  {remediation.policy_name}  ({remediation.urn.rsplit('::', 1)[-1]})")
    verdict = "FAIL" if report.mandatory else "PASS"
    lines += ["", f"{run.stack}: {verdict} - {len(report.mandatory)} mandatory, {len(report.advisory)} advisory"]
    lines += [CLI_VERDICT, ""] if report.mandatory else [""]
    return "\n".join(lines)


def _about(urn: str) -> str:
    """The CLI's ``  (<type>: <name>)`` after a policy name; nothing for the root stack. The type is shown
    as the CLI displays tokens: ``random:index/randomUuid:RandomUuid`` as ``random:index:RandomUuid``."""
    parts = urn.split("::")
    if len(parts) < 4 or parts[2].endswith("pulumi:pulumi:Stack"):
        return ""
    package, module, member = ([*parts[2].rsplit("$", 1)[-1].split(":"), "", ""])[:3]
    return f"  ({package}:{module.split('/', 1)[0]}:{member}: {parts[3]})"


def render_json(run: ProgramRun, report: PolicyReport) -> str:
    """Diagnostics and remediations as JSON (sorted, so the same inputs give the same bytes)."""
    document: dict[str, Any] = {
        "stack": run.stack,
        "project": run.project,
        "phase": run.phase.value,
        "passed": not report.mandatory,
        "diagnostics": [
            {
                "policyName": d.policy_name,
                "enforcementLevel": d.enforcement_level.value,
                "severity": d.severity,
                "message": d.message,
                "urn": d.urn,
                "stage": d.stage,
            }
            for d in report.diagnostics
        ],
        "remediations": [{"policyName": r.policy_name, "urn": r.urn} for r in report.remediations],
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"
