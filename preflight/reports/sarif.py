"""SARIF 2.1.0 for GitHub code scanning: one rule per policy, one result per violation, located at
the stack file line that sets the offending value (else the stack file itself)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from preflight.change_rules import RULES, ChangeRule
from preflight.engine.driver import Diagnostic
from preflight.engine.pack import PolicyInfo
from preflight.reports import ReportContext
from preflight.reports.common import location_of, resource_name
from preflight.runner import StackResult

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# SARIF 2.1.0 section 3.27.17: partialFingerprints, name/version keys; GitHub keeps alerts by them
# (docs.github.com, "SARIF support for code scanning", "Providing data to track code scanning alerts").
FINGERPRINT = "preflightFinding/v1"
# GitHub ranks alerts by `security-severity` (0.0-10.0); these follow its CVSS-like bands.
_SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "2.0", "": "1.0"}


def render(results: Sequence[StackResult], context: ReportContext) -> str:
    """The SARIF log as text."""
    return json.dumps(log(results, context), indent=2) + "\n"


def log(results: Sequence[StackResult], context: ReportContext) -> dict[str, Any]:
    """The SARIF log as data: one run, every stack's results in it."""
    policies: list[PolicyInfo] = list(results[0].policies.pack.policies) if results else []
    rules = [_rule(policy) for policy in policies]
    if any(result.changes is not None for result in results):
        rules += [_change_rule(rule) for rule in RULES]
    index = {rule["id"]: i for i, rule in enumerate(rules)}
    sarif_results = [
        _result(result, diagnostic, index, context)
        for result in results
        for diagnostic in (*result.policies.diagnostics, *result.change_diagnostics)
    ]
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ml-messaging-preflight",
                        "informationUri": "https://www.pulumi.com/docs/iac/using-pulumi/crossguard/",
                        "semanticVersion": results[0].policies.pack.version if results else "0.0.0",
                        "rules": rules,
                    }
                },
                "automationDetails": {"id": "preflight/" + "+".join(r.stack.name for r in results)},
                "results": sarif_results,
            }
        ],
    }


def _rule(policy: PolicyInfo) -> dict[str, Any]:
    level = "error" if policy.enforcement_level == "mandatory" else "warning"
    help_text = f"{policy.remediation}\n\nWhy: {policy.source}"
    rule: dict[str, Any] = {
        "id": policy.name,
        "name": "".join(part.capitalize() for part in policy.name.split("-")),
        "shortDescription": {"text": policy.description},
        "fullDescription": {"text": policy.description},
        "help": {"text": help_text, "markdown": f"{policy.remediation}\n\n**Why:** [{policy.source}]({policy.url})"},
        "defaultConfiguration": {"level": level},
        "properties": {
            "tags": ["pulumi", "crossguard", "azure-service-bus", *policy.tags],
            "precision": "very-high",
            "problem.severity": {"critical": "error", "high": "error", "medium": "warning"}.get(
                policy.severity, "recommendation"
            ),
            "security-severity": _SECURITY_SEVERITY.get(policy.severity, "1.0"),
        },
    }
    if policy.url:
        rule["helpUri"] = policy.url
    return rule


def _change_rule(rule: ChangeRule) -> dict[str, Any]:
    return {
        "id": rule.name,
        "name": "".join(part.capitalize() for part in rule.name.split("-")),
        "shortDescription": {"text": rule.description},
        "fullDescription": {"text": rule.description},
        "help": {
            "text": f"{rule.description}\n\nWhy: {rule.url}",
            "markdown": f"{rule.description} ([why]({rule.url}))",
        },
        "helpUri": rule.url,
        "defaultConfiguration": {"level": "error" if rule.default_level == "mandatory" else "warning"},
        "properties": {"tags": ["pulumi", "change-rule", "azure-service-bus"], "precision": "very-high"},
    }


def fingerprint(stack: str, diagnostic: Diagnostic, key: str | None) -> str:
    """A stable identity for one finding: the same violation gets the same value on every run."""
    identity = "\x1f".join((stack, diagnostic.policy_name, diagnostic.urn, key or ""))
    return hashlib.sha256(identity.encode()).hexdigest()


def _result(
    result: StackResult, diagnostic: Diagnostic, index: dict[str, int], context: ReportContext
) -> dict[str, Any]:
    where = location_of(result, diagnostic, context.layout)
    sarif: dict[str, Any] = {
        "ruleId": diagnostic.policy_name,
        "level": "error" if diagnostic.blocking else "warning",
        "message": {"text": f"[{result.stack.name}] {resource_name(result, diagnostic)}: {diagnostic.message}"},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": where.file, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": where.line},
                },
                "logicalLocations": [
                    {"fullyQualifiedName": diagnostic.urn or result.run.stack_urn, "kind": "resource"}
                ],
            }
        ],
        # Code scanning matches an alert across runs by its fingerprints; these name the finding (stack,
        # rule, resource, config key), not the line, so editing the file above it keeps the same alert.
        "partialFingerprints": {FINGERPRINT: fingerprint(result.stack.name, diagnostic, where.key)},
        "properties": {
            "stack": result.stack.name,
            "enforcementLevel": diagnostic.enforcement_level,
            "configKey": where.key,
        },
    }
    if diagnostic.policy_name in index:
        sarif["ruleIndex"] = index[diagnostic.policy_name]
    return sarif
