"""Tiers: Premium where isolation matters, no Basic under topics, valid Premium capacity.

Source: Microsoft "Service Bus Premium and Standard messaging tiers" and the tier table in
docs/azure-facts.md (Basic has no topics; Premium has 1, 2, 4, 8, 16 MUs).
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from sbpolicies.common import (
    Meta,
    in_namespace,
    is_type,
    label,
    resource_policy,
    schema,
    show,
    stack_policy,
    value_at,
)

PARTITIONS_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/enable-partitions-premium"
TIERS_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging"
# Published US list price seen in secondary sources, 2024-2025 (docs/azure-facts.md, "List prices
# (estimates only)"): an estimate.
PREMIUM_MONTHLY_ESTIMATE_USD = 677


def _tier(args: ResourceValidationArgs) -> str | None:
    tier = value_at(args.props, "sku", "name")
    return str(tier) if tier is not None else None


PREMIUM_REQUIRED = Meta(
    name="servicebus-tier-premium",
    setting="namespace.tier",
    description="Namespaces in production run on the Premium tier.",
    severity=Severity.MEDIUM,
    remediation="Set namespace.tier: Premium (and capacity) in the stack file.",
    source="Microsoft Service Bus tiers: Premium gives dedicated capacity, private link, CMK, geo-DR",
    url=TIERS_DOC,
)


def check_premium_required(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    tier = _tier(args)
    if tier != "Premium":
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(f"{who} uses tier {tier or '(not set)'}; required: Premium.", None)


PREMIUM_COST = Meta(
    name="servicebus-premium-cost",
    setting="namespace.tier",
    description="Premium outside production is flagged for its cost.",
    severity=Severity.LOW,
    remediation="Use namespace.tier: Standard outside production unless a Premium feature is needed.",
    source="Service Bus pricing (estimate, see docs/azure-facts.md 'List prices')",
    url="https://azure.microsoft.com/pricing/details/service-bus/",
    enforcement_level=EnforcementLevel.ADVISORY,
)


def check_premium_cost(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace") or _tier(args) != "Premium":
        return
    units = value_at(args.props, "sku", "capacity") or 1
    who = label("Namespace", args.name, args.props, "namespaceName")
    report(
        f"{who} uses Premium with {units} messaging unit(s), an estimated "
        f"${PREMIUM_MONTHLY_ESTIMATE_USD * int(units)}/month at list price; Standard is about $10/month.",
        None,
    )


PREMIUM_CAPACITY = Meta(
    name="servicebus-premium-capacity",
    setting="namespace.capacity",
    description="Premium namespaces request 1, 2, 4, 8 or 16 messaging units per partition.",
    severity=Severity.MEDIUM,
    remediation="Set namespace.capacity to 1, 2, 4, 8 or 16 times namespace.premiumMessagingPartitions.",
    source="Azure REST API SBSku.capacity: {1, 2, 4, 8, 16} multiples of premiumMessagingPartitions",
    url=PARTITIONS_DOC,
)


def check_premium_capacity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace") or _tier(args) != "Premium":
        return
    capacity = value_at(args.props, "sku", "capacity")
    partitions = value_at(args.props, "premiumMessagingPartitions")
    if capacity is None and partitions in (None, 1):
        return  # Azure's default for Premium is 1 messaging unit in 1 partition, which is allowed.
    if not isinstance(partitions, int | float | None) or not isinstance(capacity, int | float | None):
        return  # unknown during preview (numbers arrive as floats over the protocol)
    per_partition = 1 if partitions is None else partitions
    units = 1 if capacity is None else capacity
    allowed = [int(n) * int(per_partition) for n in args.get_config()["allowedUnitsPerPartition"]]
    if per_partition not in (1, 2, 4) or units not in allowed:  # 4.5 == 4 is False: fractions fail too
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(
            f"{who} requests capacity {show(units)} with {show(per_partition)} partition(s); required: "
            f"premiumMessagingPartitions 1, 2 or 4 and capacity one of {allowed}.",
            None,
        )


NO_BASIC_WITH_TOPICS = Meta(
    name="servicebus-no-basic-with-topics",
    setting="namespace.tier",
    description="A namespace that has topics is not on the Basic tier.",
    severity=Severity.HIGH,
    remediation="Set namespace.tier to Standard or Premium; Basic has queues only.",
    source="Microsoft Service Bus tiers: topics and subscriptions need Standard or Premium",
    url=TIERS_DOC,
)


def check_no_basic_with_topics(args: StackValidationArgs, report: ReportViolation) -> None:
    namespaces = [r for r in args.resources if is_type(r.resource_type, "servicebus", "Namespace")]
    topics = [r for r in args.resources if is_type(r.resource_type, "servicebus", "Topic")]
    for namespace in namespaces:
        if value_at(namespace.props, "sku", "name") != "Basic":
            continue
        owned = [t for t in topics if in_namespace(t, namespace)]
        if owned:
            who = label("Namespace", namespace.name, namespace.props, "namespaceName")
            report(f"{who} is Basic but has {len(owned)} topic(s); required: Standard or Premium.", namespace.urn)


POLICIES = [
    resource_policy(PREMIUM_REQUIRED, check_premium_required),
    resource_policy(PREMIUM_COST, check_premium_cost),
    resource_policy(
        PREMIUM_CAPACITY,
        check_premium_capacity,
        schema(
            {
                "allowedUnitsPerPartition": {
                    "type": "array",
                    "items": {"type": "integer", "enum": [1, 2, 4, 8, 16]},
                    "default": [1, 2, 4, 8, 16],
                    "description": "messaging units per partition (capacity / premiumMessagingPartitions)",
                }
            }
        ),
    ),
    stack_policy(NO_BASIC_WITH_TOPICS, check_no_basic_with_topics),
]
