"""Offline, policy-checked preview of every stack: ``python -m preflight [stack ...] [options]``.

For each stack: read Pulumi.yaml and stacks/Pulumi.<stack>.yaml as the CLI does and validate them;
run the real program under Pulumi's mock runtime; run the CrossGuard pack the way the engine does
with policies/config/<stack>.json; report. Exit codes: 0 no mandatory violation, 1 at least one,
2 broken input (one line naming the file and key; --debug adds the traceback), 3 an internal error
(a bug in preflight: the message says so; --debug shows the traceback).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from preflight import generic
from preflight.baseline import BaseError, Baseline, RevisionBaseline, read_states
from preflight.commandline import EXIT_OK, EXIT_VIOLATIONS, OneLineParser, UsageError, guarded
from preflight.engine.pack import PolicyPackError, PolicyPackProcess
from preflight.engine.policy_config import PolicyConfigError
from preflight.mockrun import Phase, ProgramError
from preflight.outputs import ReportWriteError, write_reports
from preflight.pricing import Rates
from preflight.reports import ReportContext, renderers
from preflight.runner import Layout, LoadedStack, StackResult, load_stacks, preflight_stack, stack_identity
from settings.errors import SettingsError

REPO = Path(__file__).resolve().parents[1]
FORMATS = tuple(renderers())
BAD_INPUT = (SettingsError, PolicyPackError, PolicyConfigError, ProgramError, UsageError, ReportWriteError, BaseError)


def _hourly_rate(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = math.nan
    if not math.isfinite(rate) or rate < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate: give a finite, non-negative number of USD per hour")
    return rate


def parser() -> argparse.ArgumentParser:
    """The command line."""
    cli = OneLineParser(prog="preflight", description=__doc__.split("\n\n")[0])
    cli.add_argument("stacks", nargs="*", help="stack names (default: every stacks/Pulumi.<stack>.yaml)")
    cli.add_argument("--format", action="append", choices=FORMATS, default=[], help="report format; repeatable")
    cli.add_argument(
        "--output",
        action="append",
        default=[],
        metavar="PATH",
        help="where the matching --format goes (paired in order); a format without one goes to stdout",
    )
    cli.add_argument(
        "--standard-hourly-usd", type=_hourly_rate, default=Rates.standard_base_hourly, help="Standard base rate"
    )
    cli.add_argument(
        "--premium-hourly-usd", type=_hourly_rate, default=Rates.premium_per_unit_hourly, help="Premium rate per MU"
    )
    base = cli.add_mutually_exclusive_group()
    base.add_argument(
        "--base",
        metavar="REVISION",
        help="judge the change from this git revision (e.g. the pull request's base): create, update, replace, delete",
    )
    base.add_argument(
        "--base-state",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="judge the change from a real stack's state (`pulumi stack export` output); repeatable, one per stack",
    )
    cli.add_argument(
        "--phase",
        choices=[phase.value for phase in Phase],
        default=Phase.UPDATE.value,
        help="update (default): judge the values Azure will hold, as `pulumi up` does; "
        "preview: exactly what `pulumi preview` shows for a first deployment (outputs not known yet)",
    )
    cli.add_argument("--root", type=Path, default=REPO, help=argparse.SUPPRESS)
    cli.add_argument("--debug", action="store_true", help="show tracebacks")
    return cli


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code (see the module docstring)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-C", "--cwd") or a.startswith(("-C", "--cwd=")) for a in arguments):
        return generic.main(arguments)  # any Pulumi Python project, with the CLI's own flags
    args = parser().parse_args(arguments)
    return guarded(lambda: _run(args), bad_input=BAD_INPUT, debug=args.debug)


def _run(args: argparse.Namespace) -> int:
    targets = _targets(args.format, args.output)
    layout = Layout(args.root.resolve())
    stacks = load_stacks(layout, args.stacks or layout.discover_stacks())
    if not stacks:
        raise UsageError(f"{layout.relative(layout.stacks_dir)}: no Pulumi.<stack>.yaml files")
    phase = Phase(args.phase)
    if phase is Phase.PREVIEW and (args.base or args.base_state):
        # A first preview makes created resources' outputs unknown; against a deployed base those
        # resources exist and the engine knows their outputs, so unknowns would read as changes.
        raise UsageError("preflight: --phase preview judges a first deployment; drop it to judge a change with --base")
    # Every stack's pack starts now: each starts up (another process, the other core) while the stacks
    # before it run; each is stopped as soon as its stack is judged.
    packs = [PolicyPackProcess(layout.pack_dir, stack_identity(stack, phase)) for stack in stacks]
    try:
        for pack in packs:
            pack.spawn()
        with _baseline(args, layout, [stack.name for stack in stacks]) as baseline:
            results = [
                _preflight(layout, stack, baseline, phase, pack) for stack, pack in zip(stacks, packs, strict=True)
            ]
    finally:
        for pack in packs:
            pack.close()
    context = ReportContext(layout, Rates(args.standard_hourly_usd, args.premium_hourly_usd))
    available = renderers()
    # Everything is rendered before anything is written, and files before stdout: a failure leaves
    # no partial set of reports behind and prints no report.
    rendered = [(output, available[format_](results, context)) for format_, output in targets]
    write_reports([(output, text) for output, text in rendered if output is not None])
    for output, text in rendered:
        if output is None:
            sys.stdout.write(text)
    return EXIT_OK if all(result.passed for result in results) else EXIT_VIOLATIONS


def _baseline(args: argparse.Namespace, layout: Layout, stacks: Sequence[str]) -> Baseline:
    if args.base:
        return RevisionBaseline(layout, args.base, stacks)
    if args.base_state:
        return read_states(args.base_state, layout)
    return Baseline("")  # no base: every stack is judged on its end state


def _preflight(
    layout: Layout, stack: LoadedStack, bases: Baseline, phase: Phase, pack: PolicyPackProcess
) -> StackResult:
    try:
        try:
            return preflight_stack(layout, stack, pack, bases, phase)
        except ProgramError as error:
            raise ProgramError(f"{stack.stack_file}: the program failed: {error}") from error
    finally:
        pack.close()


def _targets(formats: list[str], outputs: list[str]) -> list[tuple[str, Path | None]]:
    if len(outputs) > len(formats):
        raise UsageError("preflight: every --output needs a --format before it")
    pairs: list[tuple[str, Path | None]] = [
        (format_, Path(outputs[i]) if i < len(outputs) else None) for i, format_ in enumerate(formats)
    ]
    to_stdout = [f for f, out in pairs if out is None]
    if len(to_stdout) > 1:
        raise UsageError(f"preflight: only one format can go to stdout; give --output for {', '.join(to_stdout[1:])}")
    files = [out.resolve() for _, out in pairs if out is not None]
    repeated = sorted({str(out) for out in files if files.count(out) > 1})
    if repeated:
        raise UsageError(f"preflight: --output {repeated[0]} is given more than once; give each format its own file")
    if not to_stdout:
        pairs.insert(0, ("text", None))  # people still see the text report
    return pairs
