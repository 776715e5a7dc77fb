"""Observability: resource logs leave the namespace, and every subscription has its alerts.

Sources: Azure Policy f8d36e2f and PSRule Azure.ServiceBus.AuditLogs (resource logs); Microsoft
"Monitor Azure Service Bus" (DeadletteredMessages and ActiveMessages metrics, split by EntityName).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs

from sbpolicies.common import (
    Meta,
    Targets,
    depends_on,
    known_value,
    label,
    namespaces,
    of_type,
    points_at_namespace,
    quietly,
    references,
    stack_policy,
    value_at,
)

MONITOR_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/monitor-service-bus"
_DESTINATIONS = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")

RESOURCE_LOGS = Meta(
    name="servicebus-resource-logs",
    setting="namespace.diagnostics",
    description="Each namespace sends its resource logs to a destination through a diagnostic setting.",
    severity=Severity.MEDIUM,
    remediation=(
        "Add a monitor.DiagnosticSetting with resourceUri the namespace ID, logs [{categoryGroup: allLogs "
        "(or audit), enabled: true}] and a workspaceId (or storage account / event hub)."
    ),
    source="Azure Policy f8d36e2f; PSRule Azure.ServiceBus.AuditLogs",
    url=MONITOR_DOC,
    anchors=("AzurePolicy:f8d36e2f", "PSRule:Azure.ServiceBus.AuditLogs"),
)


def _logs_enabled(setting: PolicyResource) -> bool:
    logs = value_at(setting.props, "logs") or []
    return any(value_at(entry, "enabled") is True for entry in logs if isinstance(entry, Mapping))


def _has_destination(setting: PolicyResource) -> bool:
    for key in _DESTINATIONS:
        ok, value = known_value(setting.props, key)
        if not ok or value or setting.property_dependencies.get(key):
            return True  # unknown during preview counts: it is being set
    return False


def check_resource_logs(args: StackValidationArgs, report: ReportViolation) -> None:
    settings = of_type(args.resources, "monitor", "DiagnosticSetting")
    for namespace in namespaces(args.resources):
        own = [s for s in settings if points_at_namespace(s, "resourceUri", namespace)]
        if any(quietly(_logs_enabled, s, unknown=True) and _has_destination(s) for s in own):
            continue
        who = label("Namespace", namespace.name, namespace.props, "namespaceName")
        found = "a diagnostic setting with no enabled log or no destination" if own else "no diagnostic setting"
        report(
            f"{who} has {found}; required: a monitor.DiagnosticSetting on the namespace with logs enabled "
            "(categoryGroup allLogs or audit) to a Log Analytics workspace, storage account or event hub.",
            namespace.urn,
        )


SUBSCRIPTION_ALERTS = Meta(
    name="servicebus-subscription-alerts",
    setting="namespace.alerts",
    description="Every subscription is covered by a dead-letter alert and a backlog alert.",
    severity=Severity.MEDIUM,
    remediation=(
        "Add monitor.MetricAlert resources scoped to the namespace, one on DeadletteredMessages and one on "
        "ActiveMessages, each with an EntityName dimension naming the topic (or the subscription), enabled, "
        "with an action group."
    ),
    source="Microsoft 'Monitor Azure Service Bus' (DeadletteredMessages, ActiveMessages, dimension EntityName)",
    url=MONITOR_DOC,
)
_ALERT_METRICS = {"DeadletteredMessages": "dead-letter", "ActiveMessages": "backlog"}


def _criteria(alert: PolicyResource) -> list[Mapping[str, Any]]:
    return [c for c in value_at(alert.props, "criteria", "allOf") or [] if isinstance(c, Mapping)]


def _names_entity(alert: PolicyResource, criterion: Mapping[str, Any], entities: list[PolicyResource]) -> bool:
    """Whether the criterion's EntityName dimension names the topic or the subscription (by value, or by
    property dependency while the names are unknown)."""
    for dimension in value_at(criterion, "dimensions") or []:
        if str(value_at(dimension, "name") or "").lower() != "entityname":
            continue
        ok, values = known_value(dimension, "values")
        if not ok:
            return any(depends_on(alert, "criteria", entity) for entity in entities)
        wanted = set()
        for entity in entities:
            for key in ("subscriptionName", "topicName"):
                if entity.resource_type.endswith(":Subscription") and key == "topicName":
                    continue
                ok, name = known_value(entity.props, key)
                if ok and isinstance(name, str):
                    wanted.add(name.lower())
        if wanted & {str(v).lower() for v in values or []}:
            return True
        if any(depends_on(alert, "criteria", entity) for entity in entities):
            return True
    return False


def _live(alert: PolicyResource) -> bool:
    if value_at(alert.props, "enabled") is False:
        return False
    ok, actions = known_value(alert.props, "actions")
    return not ok or bool(actions)


def _alerts_on(alert: PolicyResource, metric: str, entities: list[PolicyResource]) -> bool:
    """Whether an alert watches ``metric`` for the topic or subscription (unknown values count as yes)."""

    def check() -> bool:
        return _live(alert) and any(
            c.get("metricName") == metric and _names_entity(alert, c, entities) for c in _criteria(alert)
        )

    return quietly(check, unknown=True)


def check_subscription_alerts(args: StackValidationArgs, report: ReportViolation) -> None:
    alerts = of_type(args.resources, "monitor", "MetricAlert")
    # Indexed once: scanning every topic for every subscription was quadratic in the pipeline's size.
    topics = Targets(of_type(args.resources, "servicebus", "Topic"), ("topicName", "name"))
    for namespace in namespaces(args.resources):
        own = [a for a in alerts if points_at_namespace(a, "scopes", namespace)]
        for subscription in of_type(args.resources, "servicebus", "Subscription"):
            if not references(subscription, "namespaceName", namespace, ("namespaceName", "name")):
                continue
            topic = topics.of(subscription, "topicName")
            missing = []
            for metric, what in _ALERT_METRICS.items():
                covered = any(_alerts_on(alert, metric, [subscription, *topic]) for alert in own)
                if not covered:
                    missing.append(f"a {what} alert ({metric})")
            if missing:
                who = label("Subscription", subscription.name, subscription.props, "subscriptionName")
                report(
                    f"{who} lacks {' and '.join(missing)}; required: an enabled monitor.MetricAlert with an "
                    "action group, scoped to the namespace, with an EntityName dimension naming its topic or it.",
                    subscription.urn,
                )


POLICIES = [
    stack_policy(RESOURCE_LOGS, check_resource_logs),
    stack_policy(SUBSCRIPTION_ALERTS, check_subscription_alerts),
]
