"""Reliability: no silently dropped messages, bounded retries, lock durations Azure accepts.

Zone redundancy is deliberately not required: Microsoft's reliability guide (Dec 2025) says every
tier is zone-redundant automatically in regions with zones and that the ``zoneRedundant`` property
is deprecated (it may read false even when zones are used). See policies/README.md.
Source for the limits: Microsoft "Service Bus quotas" (lockDuration max PT5M, maxDeliveryCount
default 10) as summarised in docs/azure-facts.md.
"""

from __future__ import annotations

from datetime import timedelta

from pulumi_policy import PolicyResource, ReportViolation, ResourceValidationArgs, Severity, StackValidationArgs

from sbpolicies.common import (
    Meta,
    in_namespace,
    is_type,
    known_value,
    label,
    namespaces,
    of_type,
    parse_duration,
    points_at_namespace,
    quietly,
    resource_policy,
    schema,
    show,
    stack_policy,
    value_at,
)

DEAD_LETTER_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-dead-letter-queues"
QUOTAS_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas"
AZURE_MAX_LOCK = timedelta(minutes=5)
AZURE_DEFAULT_DELIVERY_COUNT = 10


def _subscription(args: ResourceValidationArgs) -> str | None:
    if not is_type(args.resource_type, "servicebus", "Subscription"):
        return None
    return label("Subscription", args.name, args.props, "subscriptionName")


DEAD_LETTERING = Meta(
    name="servicebus-subscription-dead-lettering",
    setting="services[].delivery.deadLetteringOnMessageExpiration",
    description="Subscriptions dead-letter expired messages instead of dropping them.",
    severity=Severity.MEDIUM,
    remediation="Keep delivery.deadLetteringOnMessageExpiration: true (the default) for the service.",
    source="Microsoft 'Service Bus dead-letter queues' (expired messages are dropped unless enabled)",
    url=DEAD_LETTER_DOC,
)


def check_dead_lettering(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _require_subscription_flag(args, report, "deadLetteringOnMessageExpiration", "not set (Azure default: false)")


MAX_DELIVERY_COUNT = Meta(
    name="servicebus-subscription-max-delivery-count",
    setting="services[].delivery.maxDeliveryCount",
    description="Subscriptions retry a message a bounded, sensible number of times before dead-lettering it.",
    severity=Severity.MEDIUM,
    remediation="Set delivery.maxDeliveryCount within the configured range (default 3-100).",
    source="Microsoft 'Service Bus quotas' (maxDeliveryCount default 10, minimum 1)",
    url=QUOTAS_DOC,
)


def check_max_delivery_count(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = _subscription(args)
    if who is None:
        return
    config = args.get_config()
    low, high = int(config["minimum"]), int(config["maximum"])
    count = value_at(args.props, "maxDeliveryCount")
    effective = AZURE_DEFAULT_DELIVERY_COUNT if count is None else int(count)
    if not low <= effective <= high:
        report(f"{who} has maxDeliveryCount {effective}; required: between {low} and {high}.", None)


LOCK_DURATION = Meta(
    name="servicebus-subscription-lock-duration",
    setting="services[].delivery.lockDuration",
    description="Subscription lock durations are valid ISO 8601 durations no longer than PT5M.",
    severity=Severity.MEDIUM,
    remediation="Set delivery.lockDuration to an ISO 8601 duration such as PT1M, at most PT5M.",
    source="Microsoft 'Service Bus quotas' (lockDuration default PT1M, maximum PT5M)",
    url=QUOTAS_DOC,
)


def check_lock_duration(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = _subscription(args)
    if who is None:
        return
    text = value_at(args.props, "lockDuration")
    if text is None:
        return  # Azure's default, PT1M, is valid.
    maximum = parse_duration(str(args.get_config()["maximum"])) or AZURE_MAX_LOCK
    duration = parse_duration(str(text))
    if duration is None:
        report(f"{who} has lockDuration '{text}', which is not an ISO 8601 duration; required: e.g. PT1M.", None)
    elif duration > maximum:
        report(f"{who} has lockDuration {text}; required: at most {args.get_config()['maximum']}.", None)


FILTER_DEAD_LETTERING = Meta(
    name="servicebus-subscription-filter-dead-lettering",
    setting="services[].delivery.deadLetteringOnFilterEvaluationExceptions",
    description="Subscriptions dead-letter messages whose filter evaluation fails instead of losing them.",
    severity=Severity.MEDIUM,
    remediation="Set deadLetteringOnFilterEvaluationExceptions: true on the subscription (the component does).",
    source="Microsoft 'Service Bus dead-letter queues' (filter evaluation exceptions)",
    url=DEAD_LETTER_DOC,
)


def check_filter_dead_lettering(args: ResourceValidationArgs, report: ReportViolation) -> None:
    _require_subscription_flag(args, report, "deadLetteringOnFilterEvaluationExceptions", "not set")


def _require_subscription_flag(args: ResourceValidationArgs, report: ReportViolation, key: str, unset: str) -> None:
    """A subscription's boolean property must be true; ``unset`` says what a missing one means."""
    who = _subscription(args)
    if who is None:
        return
    enabled = value_at(args.props, key)
    if enabled is not True:
        found = unset if enabled is None else str(enabled).lower()
        report(f"{who} has {key} {found}; required: true.", None)


AUTO_DELETE = Meta(
    name="servicebus-auto-delete-on-idle",
    setting="services[].delivery.autoDeleteOnIdle",
    description="Topics and subscriptions are not deleted by Azure after a short idle period.",
    severity=Severity.HIGH,
    remediation="Leave autoDeleteOnIdle unset (never) or set it to at least the configured minimum (default P30D).",
    source="Microsoft 'Service Bus quotas' and entity properties (autoDeleteOnIdle minimum 5 minutes)",
    url=QUOTAS_DOC,
)
_ENTITIES = {"Topic": "topicName", "Subscription": "subscriptionName", "Queue": "queueName"}


def _entity(args: ResourceValidationArgs) -> str | None:
    for kind, name_key in _ENTITIES.items():
        if is_type(args.resource_type, "servicebus", kind):
            return label(kind, args.name, args.props, name_key)
    return None


def check_auto_delete(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = _entity(args)
    if who is None:
        return
    text = value_at(args.props, "autoDeleteOnIdle")
    if text is None:
        return  # Azure's default: never deleted
    minimum_text = str(args.get_config()["minimum"])
    minimum = parse_duration(minimum_text) or timedelta(days=30)
    duration = parse_duration(str(text))
    if duration is None or duration < minimum:
        report(
            f"{who} has autoDeleteOnIdle {text}: Azure deletes it, with its messages, after that idle time; "
            f"required: unset or at least {minimum_text}.",
            None,
        )


DUPLICATE_DETECTION = Meta(
    name="servicebus-topic-duplicate-detection",
    setting="topic.requiresDuplicateDetection",
    description="Pipeline topics detect and drop duplicate messages sent within a time window.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set requiresDuplicateDetection: true (and duplicateDetectionHistoryTimeWindow, e.g. PT10M) on the "
        "topic; Azure sets it only at creation, so the topic is replaced (drain it first)."
    ),
    source="Microsoft 'Duplicate detection' (Standard and Premium; set at entity creation)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection",
)


def check_duplicate_detection(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Topic"):
        return
    if value_at(args.props, "requiresDuplicateDetection") is not True:
        who = label("Topic", args.name, args.props, "topicName")
        found = value_at(args.props, "requiresDuplicateDetection")
        report(
            f"{who} has requiresDuplicateDetection {'not set (Azure default: false)' if found is None else found}; "
            "required: true.",
            None,
        )


ENTITY_ACTIVE = Meta(
    name="servicebus-entity-status-active",
    setting="services",
    description="Topics, queues and subscriptions are deployed Active, not disabled or send/receive-disabled.",
    severity=Severity.HIGH,
    remediation="Remove status (Azure's default is Active) or set it to Active on the entity.",
    source="Microsoft 'Service Bus entity status' (Active, Disabled, SendDisabled, ReceiveDisabled)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/entity-suspend",
)


def check_entity_active(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = _entity(args)
    if who is None:
        return
    status = value_at(args.props, "status")
    if status is not None and status != "Active":
        report(f"{who} has status {status}; required: Active (or unset).", None)


AUTOSCALE = Meta(
    name="servicebus-premium-autoscale",
    setting="namespace.autoscale",
    description="Premium namespaces scale their messaging units automatically with load.",
    severity=Severity.LOW,
    remediation=(
        "Add a monitor.AutoscaleSetting with targetResourceUri the namespace ID and a profile scaling "
        "messaging units on NamespaceCpuUsage or NamespaceMemoryUsage."
    ),
    source="APRL d810e3a8 (Enable auto-scale for production workloads on Service Bus namespaces)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/automate-update-messaging-units",
    anchors=("APRL:d810e3a8",),
)


def _scales(setting: PolicyResource, namespace: PolicyResource) -> bool:
    if not points_at_namespace(setting, "targetResourceUri", namespace):
        return False
    ok, enabled = known_value(setting.props, "enabled")
    return not ok or enabled is not False


def check_autoscale(args: StackValidationArgs, report: ReportViolation) -> None:
    settings = of_type(args.resources, "monitor", "AutoscaleSetting")
    for namespace in namespaces(args.resources):
        if known_value(namespace.props, "sku", "name") != (True, "Premium"):
            continue
        if not any(_scales(setting, namespace) for setting in settings):
            who = label("Namespace", namespace.name, namespace.props, "namespaceName")
            report(
                f"{who} is Premium with fixed capacity and no enabled autoscale setting; recommended: a "
                "monitor.AutoscaleSetting targeting the namespace.",
                namespace.urn,
            )


GEO_RESILIENCE = Meta(
    name="servicebus-geo-replication",
    setting="namespace.geoReplication",
    description="Production namespaces are geo-replicated or paired for geo-disaster recovery.",
    severity=Severity.MEDIUM,
    remediation=(
        "On Premium, set geoDataReplication.locations to the primary and at least one secondary region, or "
        "add a servicebus.DisasterRecoveryConfig pairing the namespace with a partnerNamespace."
    ),
    source="PSRule Azure.ServiceBus.GeoReplica; Microsoft 'Service Bus geo-replication' and 'Geo-disaster recovery'",
    url="https://learn.microsoft.com/azure/service-bus-messaging/service-bus-geo-replication",
    anchors=("PSRule:Azure.ServiceBus.GeoReplica",),
)


def _replicated(namespace: PolicyResource) -> bool:
    locations = value_at(namespace.props, "geoDataReplication", "locations") or []
    return len(locations) >= 2


def _paired(config: PolicyResource, namespace: PolicyResource) -> bool:
    if not in_namespace(config, namespace):
        return False
    ok, partner = known_value(config.props, "partnerNamespace")
    return not ok or bool(partner) or bool(config.property_dependencies.get("partnerNamespace"))


def check_geo_resilience(args: StackValidationArgs, report: ReportViolation) -> None:
    configs = of_type(args.resources, "servicebus", "DisasterRecoveryConfig")
    for namespace in namespaces(args.resources):
        if quietly(_replicated, namespace, unknown=True):
            continue
        if any(_paired(config, namespace) for config in configs):
            continue
        who = label("Namespace", namespace.name, namespace.props, "namespaceName")
        report(
            f"{who} has neither geo-replication (geoDataReplication with 2+ locations) nor a geo-DR pairing "
            "(DisasterRecoveryConfig); recommended: one of them (both need Premium).",
            namespace.urn,
        )


PAYLOAD_PARITY = Meta(
    name="servicebus-payload-size-parity",
    setting="topic.maxMessageSizeInKilobytes",
    description="Topics keep messages within 256 KB so the same payloads work on Standard dev and Premium prod.",
    severity=Severity.LOW,
    remediation=(
        "Keep maxMessageSizeInKilobytes at 256 or below, or send large payloads as a claim check (a blob "
        "reference); Standard namespaces cap messages at 256 KB."
    ),
    source="Microsoft 'Service Bus quotas' (Standard 256 KB; Premium up to 100 MB)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging#large-messages-support",
)
STANDARD_MAX_KB = 256


def check_payload_parity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not any(is_type(args.resource_type, "servicebus", kind) for kind in ("Topic", "Queue")):
        return
    size = value_at(args.props, "maxMessageSizeInKilobytes")
    if isinstance(size, int | float) and size > STANDARD_MAX_KB:
        kind = "Topic" if is_type(args.resource_type, "servicebus", "Topic") else "Queue"
        who = label(kind, args.name, args.props, f"{kind.lower()}Name")
        report(
            f"{who} accepts messages of {show(size)} KB, which the Standard dev namespace (256 KB) refuses; "
            "recommended: at most 256 KB, or a claim check for large payloads.",
            None,
        )


POLICIES = [
    resource_policy(DEAD_LETTERING, check_dead_lettering),
    resource_policy(FILTER_DEAD_LETTERING, check_filter_dead_lettering),
    resource_policy(
        MAX_DELIVERY_COUNT,
        check_max_delivery_count,
        schema(
            {
                "minimum": {"type": "integer", "minimum": 1, "default": 3},
                "maximum": {"type": "integer", "minimum": 1, "maximum": 2000, "default": 100},
            }
        ),
    ),
    resource_policy(
        LOCK_DURATION,
        check_lock_duration,
        schema({"maximum": {"type": "string", "pattern": "^PT", "default": "PT5M"}}),
    ),
    resource_policy(
        AUTO_DELETE,
        check_auto_delete,
        schema({"minimum": {"type": "string", "pattern": "^P", "default": "P30D"}}),
    ),
    resource_policy(DUPLICATE_DETECTION, check_duplicate_detection),
    resource_policy(ENTITY_ACTIVE, check_entity_active),
    stack_policy(AUTOSCALE, check_autoscale),
    stack_policy(GEO_RESILIENCE, check_geo_resilience),
    resource_policy(PAYLOAD_PARITY, check_payload_parity),
]
