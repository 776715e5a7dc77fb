"""Small facts every format shows the same way."""

from __future__ import annotations

import json

from preflight.change_rules import ChangeDiagnostic
from preflight.changes import ChangeKind
from preflight.engine.driver import Diagnostic
from preflight.locate import Location, locate, locate_key
from preflight.plan import PlanRow, plan_rows, to_create
from preflight.runner import Layout, StackResult

CHANGE_WORDS = {
    ChangeKind.CREATE: "to create",
    ChangeKind.UPDATE: "to update",
    ChangeKind.REPLACE: "to replace",
    ChangeKind.DELETE: "to delete",
}


def verdict_word(result: StackResult) -> str:
    """PASS or FAIL, the way every format says it."""
    return "PASS" if result.passed else "FAIL"


def verdict_line(result: StackResult) -> str:
    """``dev: PASS - 17 to create, 0 mandatory, 2 advisory`` (with a base: what changes, and change rules)."""
    report = result.policies
    line = (
        f"{result.stack.name}: {verdict_word(result)} - {change_summary(result)}, "
        f"{len(report.mandatory)} mandatory, {len(report.advisory)} advisory"
    )
    if result.changes is not None:
        line += f", {len(result.blocking_changes)} blocking change(s)"
    return line


def change_summary(result: StackResult) -> str:
    """``17 to create`` for a first deployment; ``1 to create, 2 to delete`` (or ``no changes``) against a base."""
    if result.changes is None:
        return f"{to_create(result.run)} to create"
    counts = result.changes.counts()
    parts = [f"{counts[kind]} {words}" for kind, words in CHANGE_WORDS.items() if counts[kind]]
    return ", ".join(parts) or "no changes"


def location_of(result: StackResult, diagnostic: Diagnostic, layout: Layout) -> Location:
    """Where in the stack file the diagnostic's value is set."""
    if isinstance(diagnostic, ChangeDiagnostic):
        return locate_key(
            layout.stack_file(result.stack.name), result.run.project, diagnostic.key, result.stack.stack_file
        )
    policies = {policy.name: policy for policy in result.policies.pack.policies}
    policy = policies.get(diagnostic.policy_name)
    return locate(
        diagnostic,
        result.run,
        result.stack.settings,
        layout.stack_file(result.stack.name),
        result.stack.stack_file,
        policy.tag("setting") if policy else "",
    )


def resource_name(result: StackResult, diagnostic: Diagnostic) -> str:
    """The logical name of the resource a diagnostic is about, or the stack."""
    return diagnostic.urn.rsplit("::", 1)[-1] if diagnostic.urn else f"{result.run.project}-{result.stack.name}"


def marked_plan(result: StackResult) -> list[tuple[str, PlanRow]]:
    """The plan tree with each row's change symbol (``+ ~ +- -``, blank when unchanged), deletes last.

    Without a base every resource is a create, as in a first ``pulumi preview``.
    """
    rows = plan_rows(result.run)
    if result.changes is None:
        return [("+", row) for row in rows]
    kinds = {change.urn: change.kind for change in result.changes.changes}
    marked = [(kinds.get(row.urn, ChangeKind.SAME).symbol, row) for row in rows]
    for change in result.changes.of_kind(ChangeKind.DELETE):
        marked.append(("-", PlanRow(1, "   ", change.type, change.name, False, change.urn)))
    return marked


def property_lines(result: StackResult) -> list[str]:
    """One line per updated or replaced resource: which inputs change, old → new, and what forces a replace."""
    if result.changes is None:
        return []
    lines = []
    for change in result.changes.of_kind(ChangeKind.UPDATE, ChangeKind.REPLACE):
        what = "; ".join(f"{p.key}: {_short(p.old)} → {_short(p.new)}" for p in change.properties)
        forced = f" [replace: {', '.join(change.replace_keys)}]" if change.replace_keys else ""
        lines.append(f"{change.kind.symbol} {change.name}: {what}{forced}")
    return lines


def _short(value: object, limit: int = 80) -> str:
    text = json.dumps(value, sort_keys=True, default=str) if value is not None else "(none)"
    return text if len(text) <= limit else text[: limit - 1] + "…"
