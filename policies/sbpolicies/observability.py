"""Observability: resource logs leave the namespace, and every subscription has its alerts.

Sources: Azure Policy f8d36e2f and PSRule Azure.ServiceBus.AuditLogs (resource logs); Microsoft
"Monitor Azure Service Bus" and "Azure Service Bus monitoring data reference" (DeadletteredMessages and
ActiveMessages count a queue's or topic's messages, split by the EntityName dimension, whose values are
the namespace's queues and topics: a subscription is not one, so an alert covers a subscription by
naming its topic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs

from sbpolicies.common import (
    Meta,
    Targets,
    depends_on,
    in_namespace,
    known_value,
    label,
    namespaces,
    of_type,
    points_at_namespace,
    quietly,
    stack_policy,
    value_at,
)

MONITOR_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/monitor-service-bus"
MONITOR_REFERENCE = "https://learn.microsoft.com/azure/service-bus-messaging/monitor-service-bus-reference"
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
        "ActiveMessages, each with an EntityName dimension naming the subscription's topic (EntityName "
        "takes queue and topic names, never a subscription's), enabled, with an action group."
    ),
    source=(
        "Microsoft 'Azure Service Bus monitoring data reference' (DeadletteredMessages, ActiveMessages; "
        "dimension EntityName: the namespace's queues and topics)"
    ),
    url=MONITOR_REFERENCE,
)
_ALERT_METRICS = {"DeadletteredMessages": "dead-letter", "ActiveMessages": "backlog"}


def _criteria(alert: PolicyResource) -> list[Mapping[str, Any]]:
    return [c for c in value_at(alert.props, "criteria", "allOf") or [] if isinstance(c, Mapping)]


def _names_topic(alert: PolicyResource, criterion: Mapping[str, Any], topics: list[PolicyResource]) -> bool:
    """Whether the criterion's EntityName dimension names one of ``topics``: by value, or by property
    dependency while the dimension's values or the topic's name are unknown (preview). EntityName takes
    queue and topic names only (Microsoft's monitoring data reference), so a subscription's name never
    counts."""
    for dimension in value_at(criterion, "dimensions") or []:
        if str(value_at(dimension, "name") or "").lower() != "entityname":
            continue
        depends = any(depends_on(alert, "criteria", topic) for topic in topics)
        ok, values = known_value(dimension, "values")
        if not ok:
            return depends
        named = {str(v).lower() for v in values or []}
        for topic in topics:
            ok, name = known_value(topic.props, "topicName")
            if not ok:
                if depends:
                    return True  # the topic's name is not known yet: the dependency is all there is
            elif isinstance(name, str) and name.lower() in named:
                return True
    return False


def _live(alert: PolicyResource) -> bool:
    if value_at(alert.props, "enabled") is False:
        return False
    ok, actions = known_value(alert.props, "actions")
    return not ok or bool(actions)


def _alerts_on(alert: PolicyResource, metric: str, topics: list[PolicyResource]) -> bool:
    """Whether an alert watches ``metric`` for the subscription's topic (unknown values count as yes)."""

    def check() -> bool:
        return _live(alert) and any(
            c.get("metricName") == metric and _names_topic(alert, c, topics) for c in _criteria(alert)
        )

    return quietly(check, unknown=True)


def check_subscription_alerts(args: StackValidationArgs, report: ReportViolation) -> None:
    alerts = of_type(args.resources, "monitor", "MetricAlert")
    # Indexed once: scanning every topic for every subscription was quadratic in the pipeline's size.
    topics = Targets(of_type(args.resources, "servicebus", "Topic"), ("topicName", "name"))
    for namespace in namespaces(args.resources):
        own = [a for a in alerts if points_at_namespace(a, "scopes", namespace)]
        for subscription in of_type(args.resources, "servicebus", "Subscription"):
            if not in_namespace(subscription, namespace):
                continue
            topic = topics.of(subscription, "topicName")
            missing = []
            for metric, what in _ALERT_METRICS.items():
                covered = any(_alerts_on(alert, metric, topic) for alert in own)
                if not covered:
                    missing.append(f"a {what} alert ({metric})")
            if missing:
                who = label("Subscription", subscription.name, subscription.props, "subscriptionName")
                report(
                    f"{who} lacks {' and '.join(missing)}; required: an enabled monitor.MetricAlert with an "
                    "action group, scoped to the namespace, with an EntityName dimension naming its topic.",
                    subscription.urn,
                )


POLICIES = [
    stack_policy(RESOURCE_LOGS, check_resource_logs),
    stack_policy(SUBSCRIPTION_ALERTS, check_subscription_alerts),
]
