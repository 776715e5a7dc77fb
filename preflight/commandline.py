"""What every ``python -m preflight`` command shares: its exit codes, argument errors in one line, and
one line (never a traceback) for any failure.

Exit codes: 0 done (no mandatory violation), 1 blocked by a mandatory policy or change rule, 2 broken
input, 3 an internal error (a bug in preflight). ``--debug`` adds the traceback.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Callable
from typing import NoReturn

EXIT_OK, EXIT_VIOLATIONS, EXIT_BAD_INPUT, EXIT_INTERNAL_ERROR = 0, 1, 2, 3


class UsageError(Exception):
    """Input a command refuses: options that do not fit, a project it cannot read; the message says why."""


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one line and the documented code for broken input."""

    def error(self, message: str) -> NoReturn:
        # argparse's own code is also 2, but with the usage printed first.
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message} (see --help)\n")


def guarded(
    command: Callable[[], int], *, bad_input: tuple[type[Exception], ...], debug: bool = False, prefix: str = ""
) -> int:
    """Run a command: broken input is its message in one line (exit 2), anything else a bug (exit 3)."""
    try:
        return command()
    except bad_input as error:
        if debug:
            traceback.print_exc()
        print(f"{prefix}{error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as error:  # noqa: BLE001 - the last line of defence: one line and a distinct code
        if debug:
            traceback.print_exc()
        print(
            f"{prefix or 'preflight: '}internal error (a bug in preflight, not in your input): "
            f"{type(error).__name__}: {error}; rerun with --debug for the traceback",
            file=sys.stderr,
        )
        return EXIT_INTERNAL_ERROR
