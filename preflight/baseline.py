"""What the change is compared with: the program at another git revision, or a real stack's exported state.

``--base <revision>``: the revision's files are extracted with ``git archive`` into a temporary
directory, and each stack's program runs there under the mock runtime, in a child process
(``preflight.snapshot``) so that the revision's ``components`` and ``settings`` never mix with this
one's. The children get their requests before this revision's stacks run, and run while they are
previewed; the entry point starts the first child before its own imports (``snapshot.start_early``).

``--base-state <file>``: the output of ``pulumi stack export`` for one stack (the stack is read from its
URNs); the head program then runs with that state's Azure subscription, so ARM IDs compare.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from preflight import snapshot
from preflight.changes import ExportedState, ResourceState, StateFileError, read_stack_export
from preflight.mockrun import MOCK_SUBSCRIPTION_ID
from preflight.runner import Base, Layout
from settings.errors import SettingsError
from settings.stack_file import read_stack_config

_SUBSCRIPTION = re.compile(r"^/subscriptions/([0-9a-fA-F-]{36})/", re.IGNORECASE)


class BaseError(Exception):
    """The base to compare with cannot be had; the message says which and why."""


class Baseline:
    """The base of every stack in this run; use as a context manager (it owns processes and files)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._ready: dict[str, Base] = {}

    def __enter__(self) -> Baseline:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def subscription_for(self, stack: str) -> str:
        """The Azure subscription of the stack's base (the mocks' own for a revision)."""
        known = self._ready.get(stack)
        return known.subscription_id if known else MOCK_SUBSCRIPTION_ID

    def stack(self, stack: str) -> Base | None:
        """The base of one stack (waiting for it if it is still being computed); None if there is none."""
        return self._ready.get(stack)

    def close(self) -> None:
        """Release what the base holds."""


class StateBaseline(Baseline):
    """Bases read from ``pulumi stack export`` files."""

    def __init__(self, exports: Sequence[tuple[ExportedState, str]]) -> None:
        super().__init__(", ".join(shown for _, shown in exports))
        for export, shown in exports:
            if export.stack in self._ready:
                raise BaseError(f"--base-state: two files hold stack '{export.stack}'")
            self._ready[export.stack] = Base(f"state {shown}", export.resources, _subscription_of(export))


def read_states(paths: Sequence[Path], layout: Layout) -> StateBaseline:
    """``--base-state`` files; errors name the file."""
    try:
        exports = [(read_stack_export(path, layout.relative(path)), layout.relative(path)) for path in paths]
    except StateFileError as error:
        raise BaseError(str(error)) from None
    return StateBaseline(exports)


def _subscription_of(export: ExportedState) -> str:
    for resource in export.resources:
        found = _SUBSCRIPTION.match(resource.id or "")
        if found:
            return found.group(1)
    return MOCK_SUBSCRIPTION_ID


class RevisionBaseline(Baseline):
    """Bases computed by running the program of a git revision."""

    def __init__(self, layout: Layout, revision: str, stacks: Sequence[str]) -> None:
        commit = _commit(layout.root, revision)
        super().__init__(f"{revision} ({commit[:12]})")
        self._layout = layout
        self._directory = Path(tempfile.mkdtemp(prefix="preflight-base-"))
        self._running: dict[str, subprocess.Popen[str]] = {}
        try:
            _extract(layout.root, commit, self._directory)
            base = Layout(self._directory)
            for stack in stacks:
                self._start(base, stack)
        except BaseException:
            self.close()
            raise

    def _start(self, base: Layout, stack: str) -> None:
        path = base.stack_file(stack)
        if not path.is_file():
            self._ready[stack] = Base(self.label, ())
            return
        try:
            config = read_stack_config(path, base.project_file, base.relative)
        except SettingsError as error:
            raise BaseError(f"base {self.label}: {error}") from None
        request = {
            "programDir": str(self._directory),
            "project": config.project,
            "stack": stack,
            "config": config.for_offline_run(),
            "secretKeys": sorted(config.secret_keys),
        }
        process = snapshot.start(request)
        self._running[stack] = process

    def stack(self, stack: str) -> Base | None:
        if stack in self._running:
            self._ready[stack] = self._collect(stack, self._running.pop(stack))
        return super().stack(stack)

    def _collect(self, stack: str, process: subprocess.Popen[str]) -> Base:
        assert process.stdout is not None and process.stderr is not None
        out, err = process.communicate()  # both pipes at once: a chatty base program must not block on one
        try:
            answer = json.loads(out)
        except ValueError:
            raise BaseError(f"base {self.label}: stack {stack}: the program run failed: {err.strip()[-500:]}") from None
        if "error" in answer:
            shown = self._layout.relative(self._layout.stack_file(stack))
            raise BaseError(f"base {self.label}: {shown}: the program failed: {answer['error']}")
        return Base(self.label, tuple(ResourceState.from_export(r) for r in answer["resources"]))

    def close(self) -> None:
        for process in self._running.values():
            process.kill()
            process.communicate()
        self._running.clear()
        shutil.rmtree(self._directory, ignore_errors=True)


def _commit(root: Path, revision: str) -> str:
    done = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{revision}^{{commit}}")
    if done.returncode != 0:
        raise BaseError(f"--base: '{revision}' is not a commit of the repository at {root}")
    return done.stdout.strip()


def _extract(root: Path, commit: str, directory: Path) -> None:
    command = ["git", "-C", str(root), "archive", "--format=tar", commit]
    archive = subprocess.run(command, capture_output=True, check=False)
    if archive.returncode != 0:
        raise BaseError(f"--base: git archive {commit[:12]} failed: {archive.stderr.decode(errors='replace').strip()}")
    try:
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            # The "data" filter refuses what a source tree should not hold (absolute or escaping links,
            # device files): the base is extracted, never trusted blindly.
            tar.extractall(directory, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise BaseError(f"--base: the files of {commit[:12]} cannot be extracted safely: {error}") from None


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise BaseError("--base needs git on PATH") from None
