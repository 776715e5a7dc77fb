"""Write every requested report, or none: all files are staged first, then renamed into place.

A report set is read together (the PR comment, the SARIF upload and the JSON artifact of one run), so
a run that cannot write one of them writes none of them and leaves no temporary file behind. Files are
created with the process's umask (``os.open`` with mode 0o666), like any file a tool writes.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from pathlib import Path


class ReportWriteError(Exception):
    """A report could not be written; the message names the path and the reason."""


def write_reports(files: Sequence[tuple[Path, str]]) -> None:
    """Write each ``(path, text)``; on any failure remove everything this call created and raise."""
    created_dirs: list[Path] = []
    staged: list[tuple[Path, Path]] = []
    current = Path()
    try:
        for path, text in files:
            current = path
            created_dirs += _make_parents(path.parent)
            if path.is_dir():
                raise IsADirectoryError(21, "is a directory")
            staged.append((_stage(path, text), path))
        # Only renames remain: same directory, same file system, after every byte is on disk.
        for temporary, path in staged:
            current = path
            temporary.replace(path)
    except OSError as error:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for directory in reversed(created_dirs):
            _remove_quietly(directory)
        raise ReportWriteError(f"preflight: cannot write {current}: {error.strerror or error}") from None


def _make_parents(directory: Path) -> list[Path]:
    """Create ``directory`` and its missing parents; return those created, outermost first."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        each.mkdir()
    return list(reversed(missing))


def _stage(path: Path, text: str) -> Path:
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def _remove_quietly(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (someone else wrote there) or gone: leave it
        directory.rmdir()
