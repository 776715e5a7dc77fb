"""Plain text for a terminal: plan tree, policy results by enforcement level, one verdict per stack."""

from __future__ import annotations

from collections.abc import Sequence

from preflight.engine.levels import CLI_VERDICT
from preflight.reports import ReportContext
from preflight.reports.common import change_summary, marked_plan, property_lines, resource_name, verdict_line
from preflight.runner import StackResult


def render(results: Sequence[StackResult], context: ReportContext) -> str:
    """The whole text report."""
    blocks = [_stack(result) for result in results]
    verdicts = "\n".join(verdict_line(result) for result in results)
    if any(result.policies.mandatory for result in results):
        verdicts += f"\n{CLI_VERDICT}"
    return "\n\n".join([*blocks, f"Verdict:\n{verdicts}"]) + "\n"


def _stack(result: StackResult) -> str:
    rows = marked_plan(result)
    width = max(len(row.prefix) + len(row.type) for _, row in rows) + 2
    against = f", compared with {result.changes.base_label}" if result.changes is not None else ""
    lines = [
        f"Previewing stack {result.stack.name} (offline: mock runtime, policy pack over the Analyzer protocol"
        f"{against})",
        "",
        f"     {'Type'.ljust(width)}Name",
    ]
    for symbol, row in rows:
        protect = "  [protect]" if row.protect else ""
        lines.append(f" {symbol.ljust(3)} {(row.prefix + row.type).ljust(width)}{row.name}{protect}")
    lines.append("")
    details = property_lines(result)
    if details:
        lines += ["Changes:", *(f"    {line}" for line in details), ""]
    if result.changes is not None:
        lines.append(f"Change rules ({len(result.blocking_changes)} blocking):")
        for change in result.change_diagnostics:
            where = resource_name(result, change)
            lines.append(f"    {change.enforcement_level} [{change.policy_name}] {where}: {change.message}")
        lines.append("")
    lines.append("Policies:")
    report = result.policies
    for title, diagnostics in (("mandatory", report.mandatory), ("advisory", report.advisory)):
        lines.append(f"    {title} ({len(diagnostics)})")
        for diagnostic in diagnostics:
            lines.append(f"      [{diagnostic.policy_name}] {resource_name(result, diagnostic)}: {diagnostic.message}")
    lines.append("")
    lines.append(f"Resources:\n    {change_summary(result)}")
    return "\n".join(lines)
