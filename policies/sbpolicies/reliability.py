"""Reliability: no silently dropped messages, bounded retries, lock durations Azure accepts.

Zone redundancy is deliberately not required: Microsoft's reliability guide (Dec 2025) says every
tier is zone-redundant automatically in regions with zones and that the ``zoneRedundant`` property
is deprecated (it may read false even when zones are used). See policies/README.md.
Source for the limits: Microsoft "Service Bus quotas" (lockDuration max PT5M, maxDeliveryCount
default 10) as summarised in docs/azure-facts.md.
"""

from __future__ import annotations

from datetime import timedelta

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from sbpolicies.common import Meta, is_type, label, parse_duration, resource_policy, schema, value_at

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
    description="Subscriptions dead-letter expired messages instead of dropping them.",
    severity=Severity.MEDIUM,
    remediation="Keep delivery.deadLetteringOnMessageExpiration: true (the default) for the service.",
    source="Microsoft 'Service Bus dead-letter queues' (expired messages are dropped unless enabled)",
    url=DEAD_LETTER_DOC,
)


def check_dead_lettering(args: ResourceValidationArgs, report: ReportViolation) -> None:
    who = _subscription(args)
    if who is None:
        return
    enabled = value_at(args.props, "deadLetteringOnMessageExpiration")
    if enabled is not True:
        found = "not set (Azure default: false)" if enabled is None else str(enabled).lower()
        report(f"{who} has deadLetteringOnMessageExpiration {found}; required: true.", None)


MAX_DELIVERY_COUNT = Meta(
    name="servicebus-subscription-max-delivery-count",
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


POLICIES = [
    resource_policy(DEAD_LETTERING, check_dead_lettering),
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
]
