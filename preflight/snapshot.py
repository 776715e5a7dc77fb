"""Run one program under the mock runtime in a process of its own and print what it registered, as JSON.

``preflight --base`` runs the program of another git revision. Its ``components`` and ``settings``
packages must not mix with this revision's, which a process imports only once, so the base program
runs here, in a child process whose only code of this revision is the mock runner; what the runner
itself imported of the program's packages is forgotten first. Input (stdin):
``{"programDir", "project", "stack", "config", "secretKeys"}``; output (stdout): ``{"resources": [...]}``
or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from preflight.mockrun import ProgramError, run_program
from preflight.process import defer_full_collections, end_without_teardown


def main() -> int:
    """Read the request, run the program, write the result; exit 0 either way (errors travel as JSON)."""
    defer_full_collections()  # as in the head run (preflight/process.py)
    request: dict[str, Any] = json.load(sys.stdin)
    program_dir = Path(request["programDir"])
    forget_modules(provided_by(program_dir))
    try:
        run = run_program(
            program_dir,
            request["project"],
            request["stack"],
            request["config"],
            request.get("secretKeys", []),
        )
    except ProgramError as error:
        json.dump({"error": str(error)}, sys.stdout)
        return 0
    resources = [
        {
            "urn": r.urn,
            "type": r.type,
            "custom": r.custom,
            "id": r.id,
            "parent": r.parent,
            "protect": r.protect,
            "inputs": r.inputs,
        }
        for r in run.resources
    ]
    json.dump({"resources": resources}, sys.stdout, default=str)
    return 0


RUNNER_PACKAGES = frozenset({"preflight", "__main__"})
"""Top-level modules this process runs as, which a base revision also holds: never the program's."""


def provided_by(program_dir: Path) -> set[str]:
    """The top-level packages and modules a program directory holds, which its program imports as its own."""
    packages = {p.name for p in program_dir.iterdir() if (p / "__init__.py").is_file()}
    modules = {p.stem for p in program_dir.glob("*.py")}
    return (packages | modules) - RUNNER_PACKAGES


def forget_modules(top_level: Iterable[str]) -> None:
    """Drop these top-level modules and their submodules from ``sys.modules``, so the next import reads them anew.

    The mock runner imports ``settings.naming`` (the host name the mocks answer with, preflight/mockrun.py):
    without this, the base program's ``import settings.model`` would find this revision's ``settings``
    package already imported and read this revision's modules, not the base's. The runner keeps the
    functions it already holds.
    """
    names = set(top_level)
    for name in [module for module in sys.modules if module.partition(".")[0] in names]:
        del sys.modules[name]


if __name__ == "__main__":
    # The parent waits for this process to end: its teardown would be on the parent's critical path.
    end_without_teardown(main())
