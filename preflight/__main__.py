"""``python -m preflight``: see preflight/cli.py; ``contract``, ``emulator``, ``route``: preflight/services.py.

The process ends without tearing the interpreter down (preflight/process.py): by then everything
preflight writes is written and closed (reports are written, synced and renamed in
preflight/outputs.py), the policy packs and base runs are stopped and their temporary directories
removed; no ``atexit`` handler of ours is left to run.
"""

import sys

from preflight.process import defer_full_collections, end_without_teardown

defer_full_collections()  # before the heavy imports: they are the first long-lived objects


def _judges_a_revision(arguments: list[str]) -> bool:
    """``--base <revision>`` given (a guess from the raw arguments; argparse decides later)."""
    return any(argument == "--base" or argument.startswith("--base=") for argument in arguments)


def _run() -> int:
    if _judges_a_revision(sys.argv[1:]):
        from preflight import snapshot

        snapshot.start_early()  # its imports overlap ours (preflight/snapshot.py)
    from preflight.services import COMMANDS

    if sys.argv[1:2] and sys.argv[1] in COMMANDS:
        from preflight.services import main as services_main

        return services_main(sys.argv[1:])
    from preflight.cli import main

    return main()


def _exit_code(exiting: SystemExit) -> int:
    """The status ``SystemExit`` would have given (argparse's ``--help`` is 0, its errors 2)."""
    if exiting.code is None or isinstance(exiting.code, int):
        return exiting.code or 0
    print(exiting.code, file=sys.stderr)
    return 1


try:
    code = _run()
except SystemExit as exiting:
    code = _exit_code(exiting)
end_without_teardown(code)
