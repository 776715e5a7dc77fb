"""Every rule, through the real pack over the Analyzer protocol: it passes a compliant stack, blocks
a noncompliant one at the configured level, handles a missing property and an unknown value."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from preflight.analyzer import AnalyzedResource, PolicyPackProcess
from tests.policy_support import (
    UNKNOWN,
    Mutation,
    Resources,
    added,
    change,
    configured_level,
    extra_resource,
    hits,
    judge,
)

SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
# The fixture prod stack's training service publishes as this principal: its sender grant's logical name.
TRAINING_SENDER = "ml-pipeline-sender-7a9e5d20-4c1b-4f3a-8e62-1b0c9d8f7e22"
DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"
ROLE_PREFIX = "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/"


def same(resources: Resources) -> Resources:
    return resources


def first_of(resources: Resources, type_suffix: str) -> AnalyzedResource:
    return next(r for r in resources if r.type.endswith(f":{type_suffix}"))


def namespace_rule(name: str, rule: str | None) -> Mutation:
    def add(resources: Resources) -> Resources:
        namespace = first_of(resources, "Namespace")
        properties: dict[str, object] = {"namespaceName": "sbns-mlpipe-prod-weu-001", "rights": ["Send"]}
        if rule is not None:
            properties["authorizationRuleName"] = rule
        return added(
            resources,
            extra_resource(
                namespace,
                "azure-native:servicebus:NamespaceAuthorizationRule",
                name,
                properties,
                namespaceName=[namespace.urn],
            ),
        )

    return add


def owner_on_namespace(scope: str) -> Mutation:
    def add(resources: Resources) -> Resources:
        namespace = first_of(resources, "Namespace")
        return added(
            resources,
            extra_resource(
                namespace,
                "azure-native:authorization:RoleAssignment",
                "ml-pipeline-admin",
                {"principalId": "x", "roleDefinitionId": ROLE_PREFIX + DATA_OWNER, "scope": scope},
                scope=[namespace.urn],
            ),
        )

    return add


def without_default_rule(service: str) -> Mutation:
    return lambda rs: change(rs, "DefaultRule", f"ml-pipeline-{service}-default-rule", drop=True)


def network_rule_set(resources: Resources) -> Resources:
    namespace = first_of(resources, "Namespace")
    return added(
        resources,
        extra_resource(
            namespace,
            "azure-native:servicebus:NamespaceNetworkRuleSet",
            "ml-pipeline-network",
            {"namespaceName": UNKNOWN, "defaultAction": "Deny", "ipRules": [{"ipMask": "10.0.0.0/8"}]},
            namespaceName=[namespace.urn],
        ),
    )


def compose(*steps: Mutation) -> Mutation:
    def run(resources: Resources) -> Resources:
        for step in steps:
            resources = step(resources)
        return resources

    return run


@dataclass(frozen=True)
class Case:
    policy: str
    bad: Mutation
    fragment: str
    missing: Mutation
    missing_violates: bool
    unknown: Mutation
    good: Mutation = same
    stack: str = "prod"
    extra_bad: tuple[tuple[str, Mutation, str], ...] = field(default=())


def ns(**updates: Any) -> Mutation:
    return lambda rs: change(rs, "Namespace", **updates)


def sub(name: str = "ml-pipeline-training-subscription", **updates: Any) -> Mutation:
    return lambda rs: change(rs, "Subscription", name, **updates)


CASES = [
    Case(
        "servicebus-namespace-name",
        ns(namespaceName="ns-mlpipe-prod"),
        "does not match the required pattern",
        ns(namespaceName=...),
        True,
        ns(namespaceName=UNKNOWN),
        extra_bad=(
            ("reserved suffix", ns(namespaceName="sbns-mlpipe-prod-weu-001-sb"), "must not end with '-sb'"),
            ("too long", ns(namespaceName="sbns-" + "x" * 50), "Azure allows 6-50"),
            ("wrong environment", ns(namespaceName="sbns-mlpipe-dev-weu-001"), "required pattern"),
        ),
    ),
    Case(
        "servicebus-entity-names",
        sub(subscriptionName="training"),
        "must start with 'sbts-'",
        lambda rs: change(rs, "Topic", topicName=...),
        True,
        sub(subscriptionName=UNKNOWN),
        extra_bad=(
            ("bad characters", sub(subscriptionName="sbts-train!ng"), "characters Azure does not allow"),
            ("too long", sub(subscriptionName="sbts-" + "t" * 50), "Azure allows 1-50"),
        ),
    ),
    Case(
        "servicebus-tier-premium",
        ns(sku={"name": "Standard", "tier": "Standard"}),
        "uses tier Standard; required: Premium",
        ns(sku=...),
        True,
        ns(sku__name=UNKNOWN),
    ),
    Case(
        "servicebus-premium-cost",
        ns(sku={"name": "Premium", "tier": "Premium", "capacity": 2}),
        "estimated $1354/month",
        ns(sku=...),
        False,
        ns(sku__name=UNKNOWN),
        stack="dev",
    ),
    Case(
        "servicebus-premium-capacity",
        ns(sku__capacity=3),
        "requests capacity 3 with 1 partition(s); required: premiumMessagingPartitions 1, 2 or 4 and capacity one of "
        "[1, 2, 4, 8, 16]",
        ns(sku__capacity=...),
        False,
        ns(sku__capacity=UNKNOWN),
    ),
    Case(
        "servicebus-no-basic-with-topics",
        ns(sku={"name": "Basic", "tier": "Basic"}),
        "is Basic but has 1 topic(s)",
        ns(sku=...),
        False,
        ns(sku=UNKNOWN),
    ),
    Case(
        "servicebus-minimum-tls",
        ns(minimumTlsVersion="1.0"),
        "allows TLS 1.0; required: 1.2 or newer",
        ns(minimumTlsVersion=...),
        True,
        ns(minimumTlsVersion=UNKNOWN),
        extra_bad=(("TLS 1.1", ns(minimumTlsVersion="1.1"), "allows TLS 1.1"),),
    ),
    Case(
        "servicebus-local-auth-disabled",
        ns(disableLocalAuth=False),
        "allows SAS keys (disableLocalAuth=false)",
        ns(disableLocalAuth=...),
        True,
        ns(disableLocalAuth=UNKNOWN),
    ),
    Case(
        "servicebus-no-namespace-sas-rules",
        namespace_rule("ci-rule", "ci-send"),
        "NamespaceAuthorizationRule 'ci-send' grants namespace-wide SAS access",
        namespace_rule("nameless-rule", None),
        True,
        namespace_rule("unknown-rule", UNKNOWN),
        good=namespace_rule("root-rule", "RootManageSharedAccessKey"),
    ),
    Case(
        "servicebus-public-network-access",
        same,
        "publicNetworkAccess=Enabled and no network rule set",
        ns(publicNetworkAccess=...),
        True,
        ns(publicNetworkAccess=UNKNOWN),
        good=ns(publicNetworkAccess="Disabled"),
        extra_bad=(
            (
                "rule set allowing by default",
                compose(network_rule_set, lambda rs: change(rs, "NamespaceNetworkRuleSet", defaultAction="Allow")),
                "no network rule set",
            ),
        ),
    ),
    Case(
        "servicebus-customer-managed-key",
        same,
        "uses keySource Microsoft-managed (default); required: Microsoft.KeyVault",
        ns(encryption=...),
        True,
        ns(encryption=UNKNOWN),
        good=ns(encryption={"keySource": "Microsoft.KeyVault", "keyVaultProperties": [{"keyName": "sb"}]}),
    ),
    Case(
        "servicebus-rbac-least-privilege",
        owner_on_namespace("/subscriptions/0/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/sbns-x"),
        "grants Azure Service Bus Data Owner on a Service Bus scope",
        lambda rs: change(rs, "RoleAssignment", TRAINING_SENDER, roleDefinitionId=...),
        True,
        lambda rs: change(rs, "RoleAssignment", TRAINING_SENDER, scope=UNKNOWN, roleDefinitionId=UNKNOWN),
        extra_bad=(
            (
                "owner found through the scope's dependency while the scope is unknown",
                owner_on_namespace(UNKNOWN),
                "Data Owner",
            ),
            (
                "contributor on the topic",
                lambda rs: change(
                    rs,
                    "RoleAssignment",
                    TRAINING_SENDER,
                    roleDefinitionId=ROLE_PREFIX + "b24988ac-6180-42a0-ab88-20f7382dd24c",
                ),
                "grants Contributor",
            ),
        ),
    ),
    Case(
        "servicebus-subscription-dead-lettering",
        sub(deadLetteringOnMessageExpiration=False),
        "deadLetteringOnMessageExpiration false; required: true",
        sub(deadLetteringOnMessageExpiration=...),
        True,
        sub(deadLetteringOnMessageExpiration=UNKNOWN),
    ),
    Case(
        "servicebus-subscription-max-delivery-count",
        sub(maxDeliveryCount=1000),
        "maxDeliveryCount 1000; required: between 3 and 100",
        sub(maxDeliveryCount=...),
        False,
        sub(maxDeliveryCount=UNKNOWN),
        extra_bad=(("too few retries", sub(maxDeliveryCount=1), "maxDeliveryCount 1"),),
    ),
    Case(
        "servicebus-subscription-lock-duration",
        sub(lockDuration="PT10M"),
        "lockDuration PT10M; required: at most PT5M",
        sub(lockDuration=...),
        False,
        sub(lockDuration=UNKNOWN),
        extra_bad=(("not ISO 8601", sub(lockDuration="5 minutes"), "is not an ISO 8601 duration"),),
    ),
    Case(
        "servicebus-subscription-filter-required",
        without_default_rule("training"),
        "keeps the $Default TrueFilter and would receive every event",
        lambda rs: change(rs, "DefaultRule", "ml-pipeline-training-default-rule", filterType=...),
        True,
        lambda rs: change(rs, "DefaultRule", "ml-pipeline-training-default-rule", subscriptionName=UNKNOWN),
        extra_bad=(
            (
                "empty correlation filter",
                lambda rs: change(
                    rs,
                    "DefaultRule",
                    "ml-pipeline-training-default-rule",
                    correlationFilter={"requiresPreprocessing": True},
                ),
                "matches on nothing",
            ),
            (
                "SQL filter matching everything",
                lambda rs: change(
                    rs,
                    "DefaultRule",
                    "ml-pipeline-training-default-rule",
                    filterType="SqlFilter",
                    sqlFilter={"sqlExpression": "1=1"},
                ),
                "matches every message",
            ),
        ),
    ),
    Case(
        "servicebus-topic-has-subscription",
        lambda rs: [r for r in rs if not r.type.endswith((":Subscription", ":DefaultRule"))],
        "has no subscription; required: at least one",
        lambda rs: change(rs, "Subscription", topicName=...),
        False,
        lambda rs: change(rs, "Topic", topicName=UNKNOWN),
    ),
    Case(
        "required-tags",
        ns(tags={"environment": "prod", "workload": "mlpipe", "costCenter": "cc-1"}),
        "lacks tag(s) owner",
        ns(tags=...),
        True,
        ns(tags=UNKNOWN),
    ),
    Case(
        "environment-tag-matches-stack",
        ns(tags={"environment": "dev", "workload": "mlpipe", "owner": "o", "costCenter": "c"}),
        "is tagged environment=dev, but this policy configuration judges prod",
        ns(tags=...),
        False,
        ns(tags__environment=UNKNOWN),
    ),
    Case(
        "servicebus-namespace-protected",
        ns(protect=False),
        "has protect=false; required: protect=true",
        ns(namespaceName=...),
        False,
        ns(namespaceName=UNKNOWN),
    ),
    Case(
        "servicebus-namespace-delete-lock",
        lambda rs: change(rs, "ManagementLockByScope", drop=True),
        "has no CanNotDelete management lock",
        lambda rs: change(rs, "ManagementLockByScope", level=...),
        True,
        lambda rs: change(rs, "ManagementLockByScope", scope=UNKNOWN),
        extra_bad=(
            (
                "read-only is not a delete lock",
                lambda rs: change(rs, "ManagementLockByScope", level="ReadOnly"),
                "no CanNotDelete",
            ),
        ),
    ),
]
IDS = [case.policy for case in CASES]


@pytest.fixture(scope="module")
def baselines(prod_resources: Resources, dev_resources: Resources) -> dict[str, Resources]:
    return {"prod": prod_resources, "dev": dev_resources}


def test_every_policy_in_the_pack_has_a_case(pack: PolicyPackProcess) -> None:
    assert sorted(IDS) == sorted(p.name for p in pack.info().policies)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compliant_resources_pass(case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]) -> None:
    report = judge(pack, case.good(baselines[case.stack]), case.stack)
    assert hits(report, case.policy) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_noncompliant_resources_fail_at_the_configured_level(
    case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]
) -> None:
    expected_level = configured_level(case.stack, case.policy)
    for what, mutation, fragment in (("main", case.bad, case.fragment), *case.extra_bad):
        found = hits(judge(pack, mutation(baselines[case.stack]), case.stack), case.policy)
        assert found, f"{case.policy}: {what} was not reported"
        assert all(d.enforcement_level == expected_level for d in found), found
        assert any(fragment in d.message for d in found), (what, [d.message for d in found])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_missing_property_is_handled(case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]) -> None:
    found = hits(judge(pack, case.missing(baselines[case.stack]), case.stack), case.policy)
    cant_run = [d for d in found if "can't run policy" in d.message]
    assert cant_run == []
    assert bool(found) is case.missing_violates, [d.message for d in found]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_unknown_value_during_preview_does_not_crash_or_block(
    case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]
) -> None:
    report = judge(pack, case.unknown(baselines[case.stack]), case.stack)
    for diagnostic in hits(report, case.policy):
        assert not diagnostic.blocking, diagnostic
        assert "can't run policy" in diagnostic.message or diagnostic.message.startswith(("Namespace", "Subscription"))
    # The pack kept answering: every other resource was still judged.
    assert judge(pack, baselines[case.stack], case.stack).mandatory == []


def passes_and_fails(
    pack: PolicyPackProcess,
    resources: Resources,
    policy: str,
    override: dict[str, object],
    check: Callable[[Resources], Resources] = same,
) -> tuple[int, int]:
    before = len(hits(judge(pack, check(resources)), policy))
    after = len(hits(judge(pack, check(resources), overrides={policy: override}), policy))
    return before, after


CONFIG_OVERRIDES = [
    ("servicebus-minimum-tls", {"minimumVersion": "1.3"}, same),
    ("servicebus-premium-capacity", {"allowedUnitsPerPartition": [2]}, same),
    ("servicebus-subscription-max-delivery-count", {"minimum": 6}, same),
    ("servicebus-subscription-lock-duration", {"maximum": "PT2M"}, same),
    ("servicebus-entity-names", {"subscriptionPrefix": "sub-"}, same),
    ("required-tags", {"requiredTags": ["environment", "dataClassification"]}, same),
    ("servicebus-namespace-name", {"pattern": "^sb-{environment}$"}, same),
    ("environment-tag-matches-stack", {"environment": "staging"}, same),
    ("servicebus-rbac-least-privilege", {"allowedRoleDefinitionIds": [SENDER]}, same),
]


@pytest.mark.parametrize(("policy", "override", "check"), CONFIG_OVERRIDES, ids=[c[0] for c in CONFIG_OVERRIDES])
def test_config_overrides_change_the_verdict(
    policy: str,
    override: dict[str, object],
    check: Mutation,
    pack: PolicyPackProcess,
    prod_resources: Resources,
) -> None:
    before, after = passes_and_fails(pack, prod_resources, policy, override, check)
    assert (before, after > 0) == (0, True)


def test_enforcement_level_overrides_apply(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    tls_1_0 = change(prod_resources, "Namespace", minimumTlsVersion="1.0")
    assert [d.enforcement_level for d in hits(judge(pack, tls_1_0), "servicebus-minimum-tls")] == ["mandatory"]
    advisory = judge(pack, tls_1_0, overrides={"servicebus-minimum-tls": "advisory"})
    assert [d.enforcement_level for d in hits(advisory, "servicebus-minimum-tls")] == ["advisory"]
    assert hits(judge(pack, tls_1_0, overrides={"servicebus-minimum-tls": "disabled"}), "servicebus-minimum-tls") == []


def test_all_sets_every_level_and_specific_entries_win(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    from preflight.analyzer import PolicyConfig, load_policy_config
    from tests.support import FIXTURE_LAYOUT

    config = load_policy_config(FIXTURE_LAYOUT.policy_config("prod"))
    relaxed = {name: PolicyConfig(None, entry.properties) for name, entry in config.items()}
    relaxed["all"] = PolicyConfig("advisory")
    relaxed["servicebus-minimum-tls"] = PolicyConfig("mandatory", {})
    report = pack.evaluate(change(prod_resources, "Namespace", minimumTlsVersion="1.0", protect=False), relaxed)
    levels = {d.policy_name: d.enforcement_level for d in report.diagnostics}
    assert levels["servicebus-minimum-tls"] == "mandatory"
    assert levels["servicebus-namespace-protected"] == "advisory"


def test_a_deny_by_default_network_rule_set_satisfies_public_network_access(
    pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    assert hits(judge(pack, network_rule_set(prod_resources)), "servicebus-public-network-access") == []


# --- servicebus-premium-capacity: 1, 2, 4, 8 or 16 messaging units per partition ---------------

PREMIUM_CAPACITY = "servicebus-premium-capacity"
# (premiumMessagingPartitions, sku.capacity); None leaves the capacity out of the SKU.
CAPACITY_ACCEPTED = [(4, 4), (4, 8), (4, 16), (4, 32), (4, 64), (2, 2), (2, 32), (1, 1), (1, 16)]
CAPACITY_REFUSED = [(4, 1), (4, 2), (4, 3), (4, 128), (2, 64), (1, 32), (3, 3), (3, 12), (2, None)]


def premium(partitions: int, capacity: int | None) -> Mutation:
    """The prod namespace on Premium with this many partitions and messaging units."""
    sku: dict[str, Any] = {"name": "Premium", "tier": "Premium"}
    if capacity is not None:
        sku["capacity"] = capacity
    return lambda rs: change(rs, "Namespace", sku=sku, premiumMessagingPartitions=partitions)


@pytest.mark.parametrize(("partitions", "capacity"), CAPACITY_ACCEPTED, ids=[f"{p}x{c}" for p, c in CAPACITY_ACCEPTED])
def test_premium_capacity_passes_1_to_16_units_per_partition(
    partitions: int, capacity: int, pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    assert hits(judge(pack, premium(partitions, capacity)(prod_resources)), PREMIUM_CAPACITY) == []


@pytest.mark.parametrize(("partitions", "capacity"), CAPACITY_REFUSED, ids=[f"{p}x{c}" for p, c in CAPACITY_REFUSED])
def test_premium_capacity_blocks_other_counts_and_partitions(
    partitions: int, capacity: int | None, pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    found = hits(judge(pack, premium(partitions, capacity)(prod_resources)), PREMIUM_CAPACITY)
    assert len(found) == 1, [d.message for d in found]
    assert found[0].blocking
    assert found[0].enforcement_level == configured_level("prod", PREMIUM_CAPACITY)
    assert f"requests capacity {capacity or 1} with {partitions} partition(s)" in found[0].message


def test_premium_capacity_blocks_zero_units(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    assert [d.blocking for d in hits(judge(pack, premium(1, 0)(prod_resources)), PREMIUM_CAPACITY)] == [True]
