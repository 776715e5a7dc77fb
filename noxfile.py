"""Developer and CI sessions. Run them through ``python3 noxw.py -s <session>``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"

DEV_REQUIREMENTS = ("-r", "requirements-dev.txt")


def _setup(session: nox.Session) -> None:
    """Install the dev requirements and let every process of the session cache its bytecode.

    An environment that sets PYTHONDONTWRITEBYTECODE (this project's machines and CI do) makes each
    process compile pulumi and azure-native from source again: the import floor is 0.6-0.7 s instead
    of 0.25-0.3 s, and preflight starts several such processes (itself, the policy pack, the base run).
    nox drops a variable whose value in ``session.env`` is None from the environment of every command
    it runs (nox/command.py ``_clean_env``), and the policy pack and any other child inherit that
    environment. CPython then writes ``__pycache__/*.pyc`` lazily, only for modules a process really
    imports: about 17 MB in the session's virtualenv and nothing up front, where compiling the whole
    virtualenv at install (uv's ``--compile-bytecode``) costs about 14 s and 248 MB on every fresh
    virtualenv. docs/benchmarks.md has the measurements.
    """
    session.env["PYTHONDONTWRITEBYTECODE"] = None
    session.install(*DEV_REQUIREMENTS)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (mock runtime, policy pack over gRPC; no cloud, no CLI)."""
    _setup(session)
    # One pytest-xdist worker per CPU by default; ``-- -n 0`` runs in one process (a later -n wins).
    # No test writes into the repository, so workers cannot collide (tests use tmp_path).
    session.run("pytest", "-n", "auto", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Every pre-commit hook on every file: ruff, mypy, YAML, workflow schema, zizmor, secrets, preflight."""
    _setup(session)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over the program, components, policies, tooling and tests."""
    _setup(session)
    session.run("mypy", *session.posargs)
    # A second run: the pack's entry point is also a module named __main__.
    session.run("mypy", "policies/__main__.py")


@nox.session
def preflight(session: nox.Session) -> None:
    """Offline preview of every stack (or the stacks given after ``--``); exits with preflight's own code."""
    _setup(session)
    try:
        session.run("python", "-m", "preflight", *session.posargs)
    except nox.command.CommandFailed as failed:
        # nox reports every failed session as exit 1; preflight's codes mean different things (1 blocked
        # by policy, 2 broken input, 3 internal error) and callers act on them. nox catches Exception
        # around a session, not SystemExit (nox/sessions.py, SessionRunner.execute), so this ends the
        # run with preflight's code.
        raise SystemExit(failed.return_code or 1) from None


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmark preflight (floor, dev, prod, 10-500 services); prints figures. Not run by default."""
    _setup(session)
    session.run("python", "-m", "preflight.bench", *session.posargs)


@nox.session
def hooks(session: nox.Session) -> None:
    """Install the pre-commit git hook into this clone (runs the same hooks as ``lint`` on each commit)."""
    _setup(session)
    session.run("pre-commit", "install", *session.posargs)
