"""Markdown for a pull-request comment or job summary: verdict first, then what and why.

GitHub rejects comments over 65,536 characters. The report fits by trimming, in this order, the
collapsed full plan, then the routing diagrams, then the resource tables; never a verdict or a
violation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from preflight.change_rules import RULES
from preflight.engine.driver import Diagnostic
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
from preflight.routing import Routing, gaps, routing
from preflight.runner import StackResult

COMMENT_BUDGET_BYTES = 63_000
"""How large the report may be, in UTF-8 bytes: GitHub takes 65,536 characters, but the comment action
(.github/actions/pr-comment) cuts anything over 65,000 bytes, and report.yml first adds a header of
about 400 bytes and 3 bytes after every @. Emoji and arrows take 3-4 bytes each, so characters
are the wrong measure."""
MARKER = "<!-- ml-messaging-preflight -->"
_SAFETY = 512  # room for the trimming notes themselves
_ROWS_PER_RULE = 5


def render(results: Sequence[StackResult], context: ReportContext, limit: int = COMMENT_BUDGET_BYTES) -> str:
    """The report, at most ``limit`` bytes of UTF-8."""
    # Routing is worked out once per stack, not once per trimming attempt (it is linear in filters).
    routed = {result.stack.name: _routed(result) for result in results}
    full = _document(results, context, routed)
    if _size(full) <= limit:
        return full
    # Give the plans whatever room is left, dropping diagrams and then tables if that is not enough.
    for diagrams, tables in ((True, True), (False, True), (False, False)):
        fixed = _document(results, context, routed, plan_chars=0, diagrams=diagrams, tables=tables)
        room = max(0, limit - _size(fixed) - _SAFETY) // max(1, len(results))
        text = _document(results, context, routed, plan_chars=room, diagrams=diagrams, tables=tables)
        if _size(text) <= limit:
            return text
    return text  # only verdicts and violations are left; they are never cut


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _document(
    results: Sequence[StackResult],
    context: ReportContext,
    routed: Mapping[str, tuple[list[str], str]],
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
    sections = [
        _stack(result, context, routed[result.stack.name], plan_chars=plan_chars, diagrams=diagrams, tables=tables)
        for result in results
    ]
    return "\n".join([head, *sections])


def _headline(failed: Sequence[str]) -> str:
    return f"❌ blocked in {', '.join(failed)}" if failed else "✅ all stacks pass"


def _stack(
    result: StackResult,
    context: ReportContext,
    routed: tuple[list[str], str],
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
    gap_lines, diagram = routed
    parts += gap_lines
    if diagrams:
        parts += ["### Routing", "", "```mermaid", diagram, "```", ""]
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
    by_policy: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        by_policy.setdefault(diagnostic.policy_name, []).append(diagnostic)
    for name, found in by_policy.items():
        policy = result.policies.pack.policy(name)
        fix = f"{policy.remediation} ([why]({policy.url}))" if policy.url else policy.remediation
        # Many findings of one rule (a rule every service breaks) share a row: the comment must stay
        # under GitHub's limit, and the JSON and SARIF reports keep every one of them.
        shown = found if len(found) <= _ROWS_PER_RULE else found[:1]
        for diagnostic in shown:
            where = location_of(result, diagnostic, context.layout)
            finding = _cell(diagnostic.message)
            if len(shown) < len(found):
                others = ", ".join(f"`{resource_name(result, d)}`" for d in found[1:_ROWS_PER_RULE])
                finding += f" **And {len(found) - 1} more** ({others}, …): see the JSON or SARIF report."
            lines.append(
                f"| `{name}` | `{resource_name(result, diagnostic)}` | {finding} | "
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


def _routed(result: StackResult) -> tuple[list[str], str]:
    """A stack's routing gaps and its routing diagram, from one evaluation of its filters."""
    routes = routing(result.stack.settings, result.run)
    return _routing_gaps(routes), _mermaid(result, routes)


def _routing_gaps(routes: Routing) -> list[str]:
    """Published event types no subscription receives (dropped by the broker) and consumers nobody feeds.

    Never trimmed: each is a message lost or a service waiting for nothing.
    """
    found = gaps(routes)
    lines: list[str] = []
    if found.unreceived:
        events = ", ".join(f"`{event}`" for event in found.unreceived)
        lines.append(
            f"- **Published, received by no subscription:** {events}. The broker drops messages sent with "
            "them; add the event type to a consumer's `consumes` or stop publishing it."
        )
    if found.unfed:
        consumers = ", ".join(f"`{consumer}`" for consumer in found.unfed)
        lines.append(
            f"- **Consumers no publisher feeds:** {consumers}. No service publishes what they consume and "
            "it is not in `externalEventTypes`."
        )
    return ["### Routing gaps", "", *lines, ""] if lines else []


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


def _mermaid(result: StackResult, routes: Routing) -> str:
    settings = result.stack.settings
    topic = _node("topic", routes.topic)
    # The largest accepted message differs by tier (Standard 256 KB, Premium 1024 KB or as configured):
    # shown on the topic so that a dev/prod difference is visible in each stack's diagram.
    size = f"max message {settings.max_message_size_in_kilobytes:,} KB ({settings.namespace.tier.value})"
    lines = ["flowchart LR", f'  {topic}[("{routes.topic}<br/>{size}")]']
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
    lines += _platform_lines(result, topic)
    return "\n".join(lines)


def _platform_lines(result: StackResult, topic: str) -> list[str]:
    """Private endpoint, private DNS and diagnostics, when the stack has them (from what the program registered)."""
    inputs = {r.type: r.inputs for r in result.run.resources}
    lines: list[str] = []
    endpoint = inputs.get("azure-native:network:PrivateEndpoint")
    if endpoint is not None:
        subnet = str(endpoint.get("subnet", {}).get("id", "")).rsplit("/", 1)[-1]
        pep = _node("pep", str(endpoint.get("privateEndpointName", "private endpoint")))
        lines.append(f'  {pep}{{{{"private endpoint {endpoint.get("privateEndpointName", "")}<br/>subnet {subnet}"}}}}')
        lines.append(f"  {pep} -.->|private link| {topic}")
        zone_group = inputs.get("azure-native:network:PrivateDnsZoneGroup")
        if zone_group is not None:
            created = "azure-native:privatedns:PrivateZone" in inputs
            origin = "created, linked to the VNet" if created else "existing"
            lines.append(f'  dns_zone[("privatelink.servicebus.windows.net<br/>{origin}")] -.-|A record| {pep}')
    diagnostic = inputs.get("azure-native:monitor:DiagnosticSetting")
    if diagnostic is not None:
        workspace = inputs.get("azure-native:operationalinsights:Workspace")
        name = (
            f"{workspace.get('workspaceName', '')} (created)"
            if workspace is not None
            else str(diagnostic.get("workspaceId", "")).rsplit("/", 1)[-1]
        )
        lines.append(f'  {topic} -.->|"diagnostics: allLogs, AllMetrics"| logs[("Log Analytics {name}")]')
    alerts = [r for r in result.run.resources if r.type == "azure-native:monitor:MetricAlert"]
    if alerts:
        lines.append(f'  {topic} -.->|"{len(alerts)} metric alert(s)"| alerts(["action group"])')
    return lines
