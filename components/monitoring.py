"""Diagnostics and metric alerts for the namespace.

Sources (Microsoft Learn):
- diagnostic settings, the ``allLogs`` category group and ``AllMetrics``:
  https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings
- Service Bus logs (runtime audit logs are Premium only) and metrics, with their dimensions
  (``EntityName`` is the queue or topic; no metric has a subscription dimension):
  https://learn.microsoft.com/azure/service-bus-messaging/monitor-service-bus-reference
- metric alert rules: https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-create-metric-alert-rule
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import monitor, operationalinsights, servicebus

from settings.features import AlertRule, AlertsSettings, AutoscaleSettings, DiagnosticsSettings
from settings.naming import PipelineNames

SERVICE_BUS_METRIC_NAMESPACE = "Microsoft.ServiceBus/namespaces"
# How often each alert is evaluated and over what window (Azure Monitor accepts PT1M-P1D).
EVALUATION_FREQUENCY = "PT5M"
WINDOW_SIZE = "PT15M"


@dataclass(frozen=True)
class AlertSpec:
    """One alert the component knows how to make: which metric, aggregated how, on what."""

    key: str
    metric: str
    aggregation: str
    on_topic: bool
    premium_only: bool
    summary: str


ALERTS: tuple[AlertSpec, ...] = (
    AlertSpec("dead_lettered_messages", "DeadletteredMessages", "Maximum", True, False, "messages were dead-lettered"),
    AlertSpec("active_messages", "ActiveMessages", "Maximum", True, False, "messages are waiting (backlog)"),
    AlertSpec("throttled_requests", "ThrottledRequests", "Total", False, False, "requests were throttled"),
    AlertSpec("server_errors", "ServerErrors", "Total", False, False, "Service Bus returned server errors"),
    AlertSpec("cpu_usage", "NamespaceCpuUsage", "Maximum", False, True, "namespace CPU is high"),
    AlertSpec("memory_usage", "NamespaceMemoryUsage", "Maximum", False, True, "namespace memory is high"),
)


def alerts_for(premium: bool) -> tuple[AlertSpec, ...]:
    """The alerts a namespace of this tier gets (CPU and memory metrics exist on Premium only)."""
    return tuple(spec for spec in ALERTS if premium or not spec.premium_only)


def diagnostics(
    name: str,
    names: PipelineNames,
    settings: DiagnosticsSettings,
    namespace: servicebus.Namespace,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> monitor.DiagnosticSetting:
    """All logs and all metrics of the namespace to the configured (or a created) workspace."""
    workspace_id: pulumi.Input[str]
    if settings.workspace_id is not None:
        workspace_id = settings.workspace_id
    else:
        workspace_id = operationalinsights.Workspace(
            f"{name}-log-analytics",
            workspace_name=names.log_analytics_workspace,
            resource_group_name=resource_group_name,
            location=location,
            sku=operationalinsights.WorkspaceSkuArgs(name=operationalinsights.WorkspaceSkuNameEnum.PER_GB2018),
            retention_in_days=settings.effective_retention_in_days,
            tags=dict(tags),
            opts=opts,
        ).id
    return monitor.DiagnosticSetting(
        f"{name}-diagnostics",
        name=names.diagnostic_setting,
        resource_uri=namespace.id,
        workspace_id=workspace_id,
        # Resource-specific tables (AZMSOperationalLogs, AZMSRunTimeAuditLogs, ...) instead of AzureDiagnostics.
        log_analytics_destination_type="Dedicated",
        logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
        metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
        opts=opts,
    )


def metric_alerts(
    name: str,
    names: PipelineNames,
    settings: AlertsSettings,
    premium: bool,
    namespace: servicebus.Namespace,
    resource_group_name: pulumi.Input[str],
    tags: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> list[monitor.MetricAlert]:
    """One alert rule per metric. Topic-level alerts filter ``EntityName`` on the topic: Service Bus
    metrics have no subscription dimension, so a topic's count sums its subscriptions."""
    made = []
    for spec in alerts_for(premium):
        rule: AlertRule = getattr(settings, spec.key)
        dimensions = (
            [monitor.MetricDimensionArgs(name="EntityName", operator="Include", values=[names.topic])]
            if spec.on_topic
            else None
        )
        where = f"topic {names.topic}" if spec.on_topic else f"namespace {names.namespace}"
        made.append(
            monitor.MetricAlert(
                f"{name}-alert-{spec.key.replace('_', '-')}",
                rule_name=names.metric_alert(spec.metric),
                resource_group_name=resource_group_name,
                location="global",
                description=f"{spec.metric} > {rule.threshold:g} on {where}: {spec.summary} (managed by Pulumi).",
                scopes=[namespace.id],
                target_resource_type=SERVICE_BUS_METRIC_NAMESPACE,
                severity=rule.severity,
                enabled=rule.enabled,
                evaluation_frequency=EVALUATION_FREQUENCY,
                window_size=WINDOW_SIZE,
                auto_mitigate=True,
                criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                    odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                    all_of=[
                        monitor.MetricCriteriaArgs(
                            criterion_type="StaticThresholdCriterion",
                            name=spec.metric,
                            metric_name=spec.metric,
                            metric_namespace=SERVICE_BUS_METRIC_NAMESPACE,
                            operator=monitor.Operator.GREATER_THAN,
                            threshold=rule.threshold,
                            time_aggregation=spec.aggregation,
                            dimensions=dimensions,
                        )
                    ],
                ),
                actions=[monitor.MetricAlertActionArgs(action_group_id=settings.action_group_id)],
                tags=dict(tags),
                opts=opts,
            )
        )
    return made


def autoscale(
    name: str,
    names: PipelineNames,
    settings: AutoscaleSettings,
    default_capacity: int,
    namespace: servicebus.Namespace,
    resource_group_name: pulumi.Input[str],
    location: str,
    tags: Mapping[str, str],
    child: pulumi.ResourceOptions,
) -> monitor.AutoscaleSetting:
    """Messaging units between the configured bounds, one allowed step at a time on CPU.

    "ServiceAllowedNextValue" lets Service Bus pick the next valid unit count (1, 2, 4, 8, 16 times the
    partitions); NamespaceCpuUsage is the metric Microsoft's example uses
    (https://learn.microsoft.com/azure/service-bus-messaging/automate-update-messaging-units).
    """

    def rule(
        direction: monitor.ScaleDirection, operator: monitor.ComparisonOperationType, threshold: int
    ) -> monitor.ScaleRuleArgs:
        return monitor.ScaleRuleArgs(
            metric_trigger=monitor.MetricTriggerArgs(
                metric_name="NamespaceCpuUsage",
                metric_namespace=SERVICE_BUS_METRIC_NAMESPACE,
                metric_resource_uri=namespace.id,
                operator=operator,
                statistic=monitor.MetricStatisticType.AVERAGE,
                threshold=threshold,
                time_aggregation=monitor.TimeAggregationType.AVERAGE,
                time_grain="PT1M",
                time_window="PT5M",
            ),
            scale_action=monitor.ScaleActionArgs(
                direction=direction, type=monitor.ScaleType.SERVICE_ALLOWED_NEXT_VALUE, value="1", cooldown="PT5M"
            ),
        )

    return monitor.AutoscaleSetting(
        f"{name}-autoscale",
        autoscale_setting_name=names.autoscale_setting,
        resource_group_name=resource_group_name,
        location=location,
        target_resource_uri=namespace.id,
        enabled=True,
        profiles=[
            monitor.AutoscaleProfileArgs(
                name="cpu",
                capacity=monitor.ScaleCapacityArgs(
                    minimum=str(settings.minimum_capacity),
                    maximum=str(settings.maximum_capacity),
                    default=str(default_capacity),
                ),
                rules=[
                    rule(
                        monitor.ScaleDirection.INCREASE,
                        monitor.ComparisonOperationType.GREATER_THAN,
                        settings.scale_out_cpu_percent,
                    ),
                    rule(
                        monitor.ScaleDirection.DECREASE,
                        monitor.ComparisonOperationType.LESS_THAN,
                        settings.scale_in_cpu_percent,
                    ),
                ],
            )
        ],
        tags=dict(tags),
        opts=child,
    )
