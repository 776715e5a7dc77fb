"""Run the repo's pinned nox without installing anything by hand: ``python3 noxw.py -s tests``.

Creates ``.venv/`` with the versions in ``requirements-nox.txt`` on first use (and again whenever
that file changes), then hands every argument to nox.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PINS = ROOT / "requirements-nox.txt"
STAMP = VENV / ".requirements-nox.sha256"


def _python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_nox() -> None:
    wanted = hashlib.sha256(PINS.read_bytes()).hexdigest()
    if _python().exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    print(f"noxw: installing {PINS.name} into {VENV.relative_to(ROOT)}/", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run(
        [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", str(PINS)],
        check=True,
    )
    STAMP.write_text(wanted)


def main() -> None:
    """Bootstrap nox, then replace this process with it."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be started by any python3
        sys.exit("noxw: Python 3.11 or newer is required")
    try:
        _ensure_nox()
    except subprocess.CalledProcessError as error:
        sys.exit(f"noxw: installing {PINS.name} failed (exit {error.returncode})")
    os.chdir(ROOT)
    os.execv(_python(), [str(_python()), "-m", "nox", *sys.argv[1:]])


if __name__ == "__main__":
    main()
