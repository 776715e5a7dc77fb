"""The stack policies' indexes answer exactly what ``references`` answers, target by target."""

from __future__ import annotations

import itertools
from typing import Any

from pulumi_policy import PolicyCustomTimeouts, PolicyResource, PolicyResourceOptions
from pulumi_policy.proxy import unknown_checking_proxy

from sbpolicies.common import Referrers, Targets, references
from tests.policy_support import UNKNOWN

NAME_KEYS = ("subscriptionName", "name")


def resource(urn: str, props: dict[str, Any], deps: list[PolicyResource] | None = None) -> PolicyResource:
    """A resource as the SDK hands it to a stack policy; ``deps`` become its subscriptionName dependencies."""
    opts = PolicyResourceOptions(False, [], False, [], PolicyCustomTimeouts(0, 0, 0), [])
    dependencies = {} if deps is None else {"subscriptionName": list(deps)}
    return PolicyResource(
        "azure-native:servicebus:Rule", unknown_checking_proxy(props), urn, urn, opts, None, None, [], dependencies
    )


def test_referrers_and_targets_agree_with_references() -> None:
    # Targets named by either key, in any case, unknown, not a string, or not at all; twins share a name.
    targets = [
        resource("t-a", {"subscriptionName": "Sub-A"}),
        resource("t-b", {"name": "sub-b"}),
        resource("t-twin", {"subscriptionName": "sub-a"}),
        resource("t-unknown", {"subscriptionName": UNKNOWN}),
        resource("t-number", {"subscriptionName": 3}),
        resource("t-none", {}),
    ]
    values: list[Any] = ["sub-a", "SUB-B", UNKNOWN, 3, None, "other"]
    referrers = [
        resource(f"r-{i}", {"subscriptionName": value} if value is not None else {}, deps)
        for i, (value, deps) in enumerate(itertools.product(values, [None, [], [targets[3]], [targets[5], targets[0]]]))
    ]
    by_key = Referrers(referrers, "subscriptionName")
    matched = 0
    named = Targets(targets, NAME_KEYS)
    for target in targets:
        expected = [r for r in referrers if references(r, "subscriptionName", target, NAME_KEYS)]
        assert [r.urn for r in by_key.of(target, NAME_KEYS)] == [r.urn for r in expected], target.urn
        matched += len(expected)
    for referrer in referrers:
        expected = [t for t in targets if references(referrer, "subscriptionName", t, NAME_KEYS)]
        assert [t.urn for t in named.of(referrer, "subscriptionName")] == [t.urn for t in expected], referrer.urn
    assert matched > len(targets)  # by name, by dependency and both, not a vacuous agreement
