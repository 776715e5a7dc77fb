"""Markdown for a pull-request comment or job summary: verdict first, then what and why.

GitHub rejects comments over 65,536 characters. The report fits by trimming, in this order, the
collapsed full plan, then the routing diagrams, then the resource tables; never a verdict or a
violation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from preflight.analyzer import Diagnostic
from preflight.change_rules import RULES
from preflight.plan import count_by_type
from preflight.pricing import estimate
from preflight.reports import ReportContext
from preflight.reports.common import (
    change_summary,
    location_of,
    marked_plan,
    property_lines,
    resource_name,
    verdict_word,
)
from preflight.routing import routing
from preflight.runner import StackResult

GITHUB_COMMENT_LIMIT = 65_536
MARKER = "<!-- ml-messaging-preflight -->"
_SAFETY = 512  # room for the trimming notes themselves


def render(results: Sequence[StackResult], context: ReportContext, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The report, at most ``limit`` characters."""
    full = _document(results, context)
    if len(full) <= limit:
        return full
    # Give the plans whatever room is left, dropping diagrams and then tables if that is not enough.
    for diagrams, tables in ((True, True), (False, True), (False, False)):
        fixed = _document(results, context, plan_chars=0, diagrams=diagrams, tables=tables)
        room = max(0, limit - len(fixed) - _SAFETY) // max(1, len(results))
        text = _document(results, context, plan_chars=room, diagrams=diagrams, tables=tables)
        if len(text) <= limit:
            return text
    return text  # only verdicts and violations are left; they are never cut


def _document(
    results: Sequence[StackResult],
    context: ReportContext,
    *,
    plan_chars: int | None = None,
    diagrams: bool = True,
    tables: bool = True,
) -> str:
    failed = [r.stack.name for r in results if not r.passed]
    head = (
        f"{MARKER}\n# Preflight: {_headline(failed)}\n\n"
        "Offline, policy-checked preview: the program ran under Pulumi's mock runtime and the CrossGuard pack "
        "judged it over the Analyzer protocol. A real `pulumi preview` also validates against Azure and diffs "
        "real state.\n"
    )
    sections = [_stack(result, context, plan_chars=plan_chars, diagrams=diagrams, tables=tables) for result in results]
    return "\n".join([head, *sections])


def _headline(failed: Sequence[str]) -> str:
    return f"❌ blocked in {', '.join(failed)}" if failed else "✅ all stacks pass"


def _stack(
    result: StackResult,
    context: ReportContext,
    *,
    plan_chars: int | None,
    diagrams: bool,
    tables: bool,
) -> str:
    report = result.policies
    icon = "✅" if result.passed else "❌"
    cost = estimate(result.stack.settings.namespace, context.rates)
    parts = [
        f"## {icon} `{result.stack.name}`: {verdict_word(result)}",
        "",
        f"**{len(report.mandatory)} mandatory** and {len(report.advisory)} advisory policy result(s); "
        f"{change_summary(result)}; tier {cost.tier}, "
        f"estimated **${cost.monthly_usd:,.2f}/month** at list price.",
        "",
    ]
    parts += _changes(result, context)
    parts += _diagnostics("Mandatory", report.mandatory, result, context)
    parts += _diagnostics("Advisory", report.advisory, result, context)
    if not tables:
        parts += ["_Resource table omitted to fit GitHub's comment limit._", ""]
    else:
        parts += ["<details><summary>Resources by type</summary>", "", "| type | count |", "|---|---:|"]
        parts += [f"| `{type_}` | {count} |" for type_, count in count_by_type(result.run).items()]
        parts += ["", "</details>", ""]
    if diagrams:
        parts += ["### Routing", "", "```mermaid", _mermaid(result), "```", ""]
    else:
        parts += ["_Routing diagram omitted to fit GitHub's comment limit; see the JSON report._", ""]
    parts += [
        f"<sub>Cost: **estimate**, {cost.basis}. Rates: {cost.source} (as of {cost.as_of}); "
        "override with `--standard-hourly-usd` / `--premium-hourly-usd`.</sub>",
        "",
    ]
    parts += _plan(result, plan_chars)
    return "\n".join(parts)


def _diagnostics(
    title: str, diagnostics: Sequence[Diagnostic], result: StackResult, context: ReportContext
) -> list[str]:
    if not diagnostics:
        return []
    lines = [
        f"### {title} ({len(diagnostics)})",
        "",
        "| policy | resource | finding | fix | where |",
        "|---|---|---|---|---|",
    ]
    for diagnostic in diagnostics:
        policy = result.policies.pack.policy(diagnostic.policy_name)
        where = location_of(result, diagnostic, context.layout)
        fix = f"{policy.remediation} ([why]({policy.url}))" if policy.url else policy.remediation
        lines.append(
            f"| `{diagnostic.policy_name}` | `{resource_name(result, diagnostic)}` | {_cell(diagnostic.message)} | "
            f"{_cell(fix)} | `{where.file}:{where.line}` |"
        )
    return [*lines, ""]


def _changes(result: StackResult, context: ReportContext) -> list[str]:
    """ "What this pull request changes": the change rules' findings, then every resource that changes."""
    if result.changes is None:
        return []
    lines = [f"### What this pull request changes (compared with {result.changes.base_label})", ""]
    if result.change_diagnostics:
        lines += ["| change rule | level | resource | what Azure would do, and what to do instead | where |"]
        lines += ["|---|---|---|---|---|"]
        for diagnostic in result.change_diagnostics:
            where = location_of(result, diagnostic, context.layout)
            url = next((rule.url for rule in RULES if rule.name == diagnostic.policy_name), "")
            lines.append(
                f"| [`{diagnostic.policy_name}`]({url}) | {diagnostic.enforcement_level} | "
                f"`{resource_name(result, diagnostic)}` | {_cell(diagnostic.message)} | `{where.file}:{where.line}` |"
            )
        lines.append("")
    changed = [(symbol, row) for symbol, row in marked_plan(result) if symbol.strip()]
    if not changed:
        return [*lines, "No resource changes.", ""]
    lines += ["```diff"]
    lines += [f"{symbol} {row.type} {row.name}" for symbol, row in changed]
    lines += ["```", ""]
    details = property_lines(result)
    if details:
        lines += ["<details><summary>Changed properties</summary>", "", "```", *details, "```", "", "</details>", ""]
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _plan(result: StackResult, max_chars: int | None) -> list[str]:
    rows = [
        f"{symbol} {row.prefix}{row.type} {row.name}{' [protect]' if row.protect else ''}"
        for symbol, row in marked_plan(result)
    ]
    kept: list[str] = []
    used = 0
    for row in rows:
        if max_chars is not None and used + len(row) + 1 > max_chars:
            break
        kept.append(row)
        used += len(row) + 1
    note = (
        []
        if len(kept) == len(rows)
        else [
            f"… {len(rows) - len(kept)} more resources: plan trimmed to fit GitHub's comment limit; "
            "see the JSON report."
        ]
    )
    return [
        f"<details><summary>Full plan ({len(rows)} resources)</summary>",
        "",
        "```",
        *kept,
        *note,
        "```",
        "",
        "</details>",
        "",
    ]


def _node(kind: str, name: str) -> str:
    return f"{kind}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"


def _mermaid(result: StackResult) -> str:
    routes = routing(result.stack.settings, result.run)
    topic = _node("topic", routes.topic)
    lines = ["flowchart LR", f'  {topic}[("{routes.topic}")]']
    if routes.external:
        lines.append('  external(["outside the pipeline"])')
        lines.append(f'  external -->|"{", ".join(routes.external)}"| {topic}')
    for service, events in routes.publishers.items():
        lines.append(f'  {_node("svc", service)}["{service}"] -->|"{", ".join(events)}"| {topic}')
    for route in routes.routes:
        subscription = _node("sub", route.subscription)
        label = ", ".join(route.event_types) or "no filter"
        lines.append(f'  {topic} -->|"{label}"| {subscription}[/"{route.subscription}"/]')
        lines.append(f'  {subscription} --> {_node("svc", route.consumer)}["{route.consumer}"]')
    return "\n".join(lines)
