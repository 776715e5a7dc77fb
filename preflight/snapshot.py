"""Run one program under the mock runtime in a process of its own and print what it registered, as JSON.

``preflight --base`` runs the program of another git revision. Its ``components`` and ``settings``
packages must not mix with this revision's, which a process imports only once, so the base program
runs here, in a child process whose only code of this revision is the mock runner (which sets aside
what it imported of the program's packages for the run: ``_importable`` in preflight/mockrun.py). Input (stdin):
``{"programDir", "project", "stack", "config", "secretKeys"}``; output (stdout): ``{"resources": [...]}``
or ``{"error": "..."}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from preflight.mockrun import ProgramError, run_program
from preflight.process import defer_full_collections, end_without_teardown


def main() -> int:
    """Read the request, run the program, write the result; exit 0 either way (errors travel as JSON)."""
    defer_full_collections()  # as in the head run (preflight/process.py)
    request: dict[str, Any] = json.load(sys.stdin)
    try:
        run = run_program(
            Path(request["programDir"]),
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


if __name__ == "__main__":
    # The parent waits for this process to end: its teardown would be on the parent's critical path.
    end_without_teardown(main())
