"""The CrossGuard pack the Pulumi engine starts; it only assembles the rules from ``sbpolicies``."""

from pulumi_policy import EnforcementLevel, PolicyPack

from sbpolicies import ALL_POLICIES

PolicyPack(
    name="ml-messaging-servicebus",
    description="Naming, tier, security, reliability, routing and governance rules for Azure Service Bus.",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=ALL_POLICIES,
)
