"""Plain text for a terminal: plan tree, policy results by enforcement level, one verdict per stack."""

from __future__ import annotations

from collections.abc import Sequence

from preflight.plan import plan_rows, to_create
from preflight.reports import ReportContext
from preflight.reports.common import resource_name, verdict_line
from preflight.runner import StackResult


def render(results: Sequence[StackResult], context: ReportContext) -> str:
    """The whole text report."""
    blocks = [_stack(result) for result in results]
    verdicts = "\n".join(verdict_line(result) for result in results)
    return "\n\n".join([*blocks, f"Verdict:\n{verdicts}"]) + "\n"


def _stack(result: StackResult) -> str:
    rows = plan_rows(result.run)
    width = max(len(row.prefix) + len(row.type) for row in rows) + 2
    lines = [
        f"Previewing stack {result.stack.name} (offline: mock runtime, policy pack over the Analyzer protocol)",
        "",
        f"     {'Type'.ljust(width)}Name",
    ]
    for row in rows:
        protect = "  [protect]" if row.protect else ""
        lines.append(f" +   {(row.prefix + row.type).ljust(width)}{row.name}{protect}")
    lines.append("")
    lines.append("Policies:")
    report = result.policies
    for title, diagnostics in (("mandatory", report.mandatory), ("advisory", report.advisory)):
        lines.append(f"    {title} ({len(diagnostics)})")
        for diagnostic in diagnostics:
            lines.append(f"      [{diagnostic.policy_name}] {resource_name(result, diagnostic)}: {diagnostic.message}")
    lines.append("")
    lines.append(f"Resources:\n    + {to_create(result.run)} to create")
    return "\n".join(lines)
