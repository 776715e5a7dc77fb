"""Developer and CI sessions. Run them through ``python3 noxw.py -s <session>``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_venv = "yes"

DEV_REQUIREMENTS = ("-r", "requirements-dev.txt")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite (mock runtime, policy pack over gRPC; no cloud, no CLI)."""
    session.install(*DEV_REQUIREMENTS)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Every pre-commit hook on every file: ruff, mypy, YAML, workflow schema, zizmor, secrets, preflight."""
    session.install(*DEV_REQUIREMENTS)
    session.run("pre-commit", "run", "--all-files", "--show-diff-on-failure", *session.posargs)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy in strict mode over the program, components, policies, tooling and tests."""
    session.install(*DEV_REQUIREMENTS)
    session.run("mypy", *session.posargs)
    # A second run: the pack's entry point is also a module named __main__.
    session.run("mypy", "policies/__main__.py")


@nox.session
def preflight(session: nox.Session) -> None:
    """Offline preview of every stack (or the stacks given after ``--``); exits with preflight's own code."""
    session.install(*DEV_REQUIREMENTS)
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
    session.install(*DEV_REQUIREMENTS)
    session.run("python", "-m", "preflight.bench", *session.posargs)


@nox.session
def hooks(session: nox.Session) -> None:
    """Install the pre-commit git hook into this clone (runs the same hooks as ``lint`` on each commit)."""
    session.install(*DEV_REQUIREMENTS)
    session.run("pre-commit", "install", *session.posargs)
