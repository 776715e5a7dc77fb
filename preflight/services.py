"""What the services need from the bus, offline: ``python -m preflight contract|emulator|route <stack> ...``.

- ``contract <stack> [<service>] [--format json|env]``: the service contract(s) (components/contract.py);
- ``emulator <stack> [--output FILE]``: the Service Bus emulator's Config.json (preflight/emulator.py), the
  differences from Azure on stderr;
- ``route <stack> <event type>``: which subscriptions, and so which services, receive an event type, from
  the filters the program registers under the mock runtime (preflight/routing.py).

Exit codes: 0 done, 2 bad input with one line on stderr naming the file (relative to the repository)
or the argument and what is allowed, 3 a bug in preflight (one line too). preflight/__main__.py sends
these three commands here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.contract import env_lines, offline_contracts
from preflight.commandline import EXIT_OK, OneLineParser, UsageError, guarded
from preflight.emulator import EmulatorConfigError, emulator_config
from preflight.mockrun import ProgramError, run_program
from preflight.routing import program_filters, receivers, routing
from preflight.runner import Layout
from settings.errors import SettingsError
from settings.model import StackSettings
from settings.stack_file import StackConfig, load_stack_file

REPO = Path(__file__).resolve().parents[1]
COMMANDS = ("contract", "emulator", "route")


def parser() -> argparse.ArgumentParser:
    """The command line of the three commands."""
    cli = OneLineParser(prog="python -m preflight", description=__doc__.split("\n\n")[0])
    commands = cli.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    contract = commands.add_parser("contract", help="a service's contract (or every service's)")
    contract.add_argument("stack")
    contract.add_argument("service", nargs="?", help="one service (default: all, as a map; json only)")
    contract.add_argument("--format", choices=("json", "env"), default="json")
    contract.add_argument(
        "--stack-outputs",
        type=Path,
        metavar="FILE",
        help="`pulumi stack output --json` of the deployed stack: client IDs of identities made here",
    )
    emulator = commands.add_parser("emulator", help="the Service Bus emulator's Config.json for a stack")
    emulator.add_argument("stack")
    emulator.add_argument("--output", type=Path, metavar="FILE", help="write here instead of stdout")
    route = commands.add_parser("route", help="which subscriptions receive an event type")
    route.add_argument("stack")
    route.add_argument("event_type")
    return cli


def load(layout: Layout, stack: str) -> tuple[StackConfig, StackSettings]:
    """A stack's validated config; UsageError naming the file when it is missing or invalid."""
    path = layout.stack_file(stack)
    if not path.is_file():
        known = ", ".join(layout.discover_stacks()) or "(none)"
        raise UsageError(f"{layout.relative(path)}: file not found; stacks here: {known}")
    try:
        return load_stack_file(path, layout.project_file, stack=stack, shown=layout.relative)
    except SettingsError as error:
        raise UsageError("; ".join(error.lines)) from None


def _service(layout: Layout, stack: str, settings: StackSettings, name: str | None) -> str | None:
    names = [service.name for service in settings.services]
    if name is not None and name not in names:
        where = layout.relative(layout.stack_file(stack))
        raise UsageError(f"{where}: services: no service '{name}'; services here: {', '.join(names)}")
    return name


def _client_ids(layout: Layout, path: Path | None) -> dict[str, str | None]:
    if path is None:
        return {}
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
        services: dict[str, Any] = outputs["services"]
        return {name: (contract.get("identity") or {}).get("clientId") for name, contract in services.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise UsageError(
            f"{layout.relative(path)}: not the JSON of `pulumi stack output --json` with a `services` map ({error})"
        ) from None


def contract_command(layout: Layout, args: argparse.Namespace) -> str:
    """The contract(s) as JSON or ``KEY=value`` lines."""
    _, settings = load(layout, args.stack)
    name = _service(layout, args.stack, settings, args.service)
    contracts = offline_contracts(settings, _client_ids(layout, args.stack_outputs))
    if args.format == "env":
        if name is None:
            services = ", ".join(contracts)
            raise UsageError(f"--format env: give one service (one .env file each); services here: {services}")
        return "\n".join(env_lines(contracts[name])) + "\n"
    return json.dumps(contracts[name] if name else contracts, indent=2) + "\n"


def emulator_command(layout: Layout, args: argparse.Namespace) -> str:
    """The emulator's configuration; the differences from Azure go to stderr."""
    _, settings = load(layout, args.stack)
    try:
        built = emulator_config(settings)
    except EmulatorConfigError as error:
        raise UsageError(f"{layout.relative(layout.stack_file(args.stack))}: {error}") from None
    for difference in built.differences:
        print(f"emulator differs from Azure: {difference}", file=sys.stderr)
    if args.output is None:
        return built.text()
    try:
        args.output.write_text(built.text(), encoding="utf-8")
    except OSError as error:
        raise UsageError(f"{args.output}: cannot write: {error.strerror}") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return ""


def route_command(layout: Layout, args: argparse.Namespace) -> str:
    """Which subscriptions receive the event type, from the filters the program registers."""
    config, settings = load(layout, args.stack)
    try:
        run = run_program(layout.root, config.project, args.stack, config.for_offline_run(), sorted(config.secret_keys))
    except ProgramError as error:
        raise UsageError(f"{layout.relative(layout.stack_file(args.stack))}: {error}") from None
    routes = routing(settings, run)
    if args.event_type not in routes.known_event_types:
        where = layout.relative(layout.stack_file(args.stack))
        raise UsageError(
            f"{where}: event type '{args.event_type}' is neither published nor consumed; known event types: "
            f"{', '.join(routes.known_event_types)}"
        )
    consumers = {route.subscription: route.consumer for route in routes.routes}
    received = receivers(program_filters(run), args.event_type)
    if not received:
        return f"{args.event_type}: no subscription receives it; the broker drops messages sent with it\n"
    return "".join(f"{subscription} -> {consumers.get(subscription, '?')}\n" for subscription in received)


def main(argv: Sequence[str], root: Path = REPO) -> int:
    """Run one command; 0 when done, 2 for bad input (one line on stderr)."""
    args = parser().parse_args(list(argv))
    layout = Layout(root)
    handlers = {"contract": contract_command, "emulator": emulator_command, "route": route_command}

    def command() -> int:
        sys.stdout.write(handlers[args.command](layout, args))
        return EXIT_OK

    return guarded(command, bad_input=(UsageError,), prefix=f"preflight {args.command}: ")
