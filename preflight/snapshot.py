"""Run one program under the mock runtime in a process of its own and print what it registered, as JSON.

``preflight --base`` runs the program of another git revision. Its ``components`` and ``settings``
packages must not mix with this revision's, which a process imports only once, so the base program
runs here, in a child process whose only code of this revision is the mock runner (which sets aside
what it imported of the program's packages for the run: ``_importable`` in preflight/mockrun.py). Input (stdin):
``{"programDir", "project", "stack", "config", "secretKeys"}``; output (stdout): ``{"resources": [...]}``
or ``{"error": "..."}``.

The child imports the mock runtime before it reads its request, so it can be started before the parent
knows what to ask: ``python -m preflight ... --base <revision>`` starts one first thing
(``start_early``), and it imports while the parent does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from preflight.process import defer_full_collections, end_without_teardown

REPO = Path(__file__).resolve().parents[1]
_started_early: list[subprocess.Popen[str]] = []


def start_early() -> None:
    """Start a child now, for the first base run of this process to use (``start``).

    For the entry point, before its own heavy imports: the child's start-up (0.2 s of imports) then
    overlaps the parent's instead of following it. A child nobody asks anything of reads end-of-file
    when this process ends, and ends too.
    """
    _started_early.append(_spawn())


def start(request: dict[str, Any]) -> subprocess.Popen[str]:
    """A child running ``request``'s program (one started early if there is one); read its stdout."""
    process = _started_early.pop() if _started_early else _spawn()
    assert process.stdin is not None
    process.stdin.write(json.dumps(request))
    process.stdin.close()
    process.stdin = None  # sent and closed: communicate() later only reads
    return process


def _spawn() -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "preflight.snapshot"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def main() -> int:
    """Read the request, run the program, write the result; exit 0 either way (errors travel as JSON)."""
    defer_full_collections()  # as in the head run (preflight/process.py), before the heavy imports
    # Imported here, not at the top: the parent imports this module only to start children.
    from preflight.mockrun import ProgramError, run_program

    text = sys.stdin.read()
    if not text:
        return 0  # started early and never asked: the parent has ended
    request: dict[str, Any] = json.loads(text)
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
