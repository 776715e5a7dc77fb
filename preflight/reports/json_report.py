"""The machine-readable report. Its shape is preflight/report.schema.json (documented in docs/preflight.md)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from preflight.change_rules import RULES
from preflight.changes import ChangeKind
from preflight.engine.driver import Diagnostic
from preflight.locate import Location
from preflight.plan import to_create
from preflight.pricing import estimate
from preflight.reports import ReportContext
from preflight.reports.common import location_of
from preflight.runner import StackResult

SCHEMA_VERSION = 1
SECRET = "[secret]"


def render(results: Sequence[StackResult], context: ReportContext) -> str:
    """The JSON report as text."""
    return json.dumps(document(results, context), indent=2, sort_keys=False, default=str) + "\n"


def document(results: Sequence[StackResult], context: ReportContext) -> dict[str, Any]:
    """The JSON report as data."""
    return {
        "schemaVersion": SCHEMA_VERSION,
        "verdict": "pass" if all(r.passed for r in results) else "fail",
        "stacks": [_stack(result, context) for result in results],
    }


def _stack(result: StackResult, context: ReportContext) -> dict[str, Any]:
    run, report = result.run, result.policies
    cost = estimate(result.stack.settings.namespace, context.rates)
    return {
        "stack": result.stack.name,
        "project": run.project,
        "stackFile": result.stack.stack_file,
        "policyConfig": context.layout.relative(result.stack.policy_config),
        "verdict": "pass" if result.passed else "fail",
        "summary": {
            "create": to_create(run),
            "mandatory": len(report.mandatory),
            "advisory": len(report.advisory),
        },
        "policyPack": {"name": report.pack.name, "version": report.pack.version, "policies": len(report.pack.policies)},
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "custom": r.custom,
                "protect": r.protect,
                # Sets in meaning; the SDK sends them in whatever order its awaits finished.
                "dependencies": sorted(r.dependencies),
                "propertyDependencies": {k: sorted(v) for k, v in sorted(r.property_dependencies.items())},
                "provider": r.provider or None,
                "options": {
                    "deleteBeforeReplace": bool(r.options.delete_before_replace),
                    "ignoreChanges": list(r.options.ignore_changes),
                    "additionalSecretOutputs": list(r.options.additional_secret_outputs),
                    "aliases": list(r.aliases),
                },
                "inputs": r.inputs,
            }
            for r in sorted(run.resources, key=lambda r: r.urn)  # registration order varies between runs
        ],
        "diagnostics": [_diagnostic(result, d, context) for d in report.diagnostics],
        **_changes(result, context),
        "outputs": {k: SECRET if k in run.secret_outputs else v for k, v in run.outputs.items()},
        "estimate": {
            "label": "estimate",
            "tier": cost.tier,
            "messagingUnits": cost.units,
            "monthlyUsd": cost.monthly_usd,
            "basis": cost.basis,
            "source": cost.source,
            "asOf": cost.as_of,
        },
    }


def _changes(result: StackResult, context: ReportContext) -> dict[str, Any]:
    """``changes`` (what the update does, resource by resource) when a base was given; nothing otherwise."""
    if result.changes is None:
        return {}
    rules = {rule.name: rule for rule in RULES}
    return {
        "changes": {
            "base": result.changes.base_label,
            "counts": {kind.value: count for kind, count in result.changes.counts().items()},
            "resources": [
                {
                    "kind": change.kind.value,
                    "urn": change.urn,
                    "type": change.type,
                    "name": change.name,
                    "properties": [{"key": p.key, "old": p.old, "new": p.new} for p in change.properties],
                    "replaceKeys": list(change.replace_keys),
                }
                for change in result.changes.changes
                if change.kind is not ChangeKind.SAME
            ],
            "diagnostics": [
                {
                    "rule": d.policy_name,
                    "enforcementLevel": d.enforcement_level,
                    "message": d.message,
                    "description": d.description,
                    "urn": d.urn,
                    "url": rules[d.policy_name].url,
                    "location": _location(location_of(result, d, context.layout)),
                }
                for d in result.change_diagnostics
            ],
        }
    }


def _location(where: Location) -> dict[str, Any]:
    return {"file": where.file, "line": where.line, "key": where.key}


def _diagnostic(result: StackResult, diagnostic: Diagnostic, context: ReportContext) -> dict[str, Any]:
    policy = result.policies.pack.policy(diagnostic.policy_name)
    where = location_of(result, diagnostic, context.layout)
    return {
        "policy": diagnostic.policy_name,
        "enforcementLevel": diagnostic.enforcement_level,
        "severity": diagnostic.severity,
        "message": diagnostic.message,
        "description": diagnostic.description,
        "urn": diagnostic.urn or None,
        "remediation": policy.remediation,
        "source": policy.source,
        "url": policy.url,
        "location": _location(where),
    }
