"""Small facts every format shows the same way."""

from __future__ import annotations

from preflight.analyzer import Diagnostic
from preflight.locate import Location, locate
from preflight.plan import to_create
from preflight.runner import Layout, StackResult


def verdict_word(result: StackResult) -> str:
    """PASS or FAIL, the way every format says it."""
    return "PASS" if result.passed else "FAIL"


def verdict_line(result: StackResult) -> str:
    """``dev: PASS - 17 to create, 0 mandatory, 2 advisory``."""
    report = result.policies
    return (
        f"{result.stack.name}: {verdict_word(result)} - {to_create(result.run)} to create, "
        f"{len(report.mandatory)} mandatory, {len(report.advisory)} advisory"
    )


def location_of(result: StackResult, diagnostic: Diagnostic, layout: Layout) -> Location:
    """Where in the stack file the diagnostic's value is set."""
    return locate(
        diagnostic,
        result.run,
        result.stack.settings,
        layout.stack_file(result.stack.name),
        result.stack.stack_file,
    )


def resource_name(result: StackResult, diagnostic: Diagnostic) -> str:
    """The logical name of the resource a diagnostic is about, or the stack."""
    return diagnostic.urn.rsplit("::", 1)[-1] if diagnostic.urn else f"{result.run.project}-{result.stack.name}"
