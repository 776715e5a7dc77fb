"""The rules of the ml-messaging CrossGuard pack, grouped by concern; ``ALL_POLICIES`` in pack order."""

from pulumi_policy import Policy

from sbpolicies import governance, naming, observability, reliability, routing, security, tiers

ALL_POLICIES: list[Policy] = [
    *naming.POLICIES,
    *tiers.POLICIES,
    *security.POLICIES,
    *reliability.POLICIES,
    *observability.POLICIES,
    *routing.POLICIES,
    *governance.POLICIES,
]
