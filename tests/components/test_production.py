"""The production features through the real program under the mock runtime: each on and off.

Exact counts run on the fixture stacks only; every variation also holds every stack invariant.
"""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_azure_native import servicebus

from components.messaging import namespace_encryption, namespace_identity
from preflight.mockrun import ProgramRun
from preflight.pricing import Rates, estimate
from settings.errors import SettingsError
from settings.loader import settings_from_config
from tests.invariants import (
    DIAGNOSTIC_SETTING,
    DNS_ZONE_GROUP,
    METRIC_ALERT,
    NAMESPACE,
    NETWORK_RULE_SET,
    PRIVATE_ENDPOINT,
    PRIVATE_ZONE,
    SUBSCRIPTION,
    TOPIC,
    VNET_LINK,
    WORKSPACE,
    StackRun,
    assert_stack_invariants,
    azure_name,
    only,
)
from tests.support import engine_config, raw_services, run_stack, stack_config

NEW_TYPES = (PRIVATE_ENDPOINT, DNS_ZONE_GROUP, PRIVATE_ZONE, VNET_LINK, NETWORK_RULE_SET, DIAGNOSTIC_SETTING, WORKSPACE)
ZERO = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups"
ZONE = f"{ZERO}/rg-hub/providers/Microsoft.Network/privateDnsZones/privatelink.servicebus.windows.net"
ACTION_GROUP = f"{ZERO}/rg-mon/providers/Microsoft.Insights/actionGroups/ag-dev"
IDENTITY = f"{ZERO}/rg-sec/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk"
KEY = "https://kv-mlpipe-prod.vault.azure.net/keys/cmk-servicebus"


def namespace(stack: str, **changes: Any) -> dict[str, Any]:
    """A fixture stack's namespace settings with keys changed; ``None`` removes a key."""
    merged = {**stack_config(stack).values["ml-messaging:namespace"], **changes}
    return {key: value for key, value in merged.items() if value is not None}


def variant(stack: str, **overrides: Any) -> StackRun:
    """A fixture stack, changed, run and checked against every invariant."""
    settings = settings_from_config(engine_config(stack, **overrides), "ml-messaging", f"stacks/Pulumi.{stack}.yaml")
    changed = StackRun(settings, run_stack(stack, **overrides))
    assert_stack_invariants(changed)
    return changed


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_stack("dev")


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_stack("prod")


def test_dev_has_none_of_the_production_features(dev: ProgramRun) -> None:
    for type_ in (*NEW_TYPES, METRIC_ALERT):
        assert dev.of_type(type_) == [], type_
    ns = only(dev, NAMESPACE).inputs
    assert "identity" not in ns and "encryption" not in ns
    assert ns["publicNetworkAccess"] == "Enabled"
    topic = only(dev, TOPIC).inputs
    assert "requiresDuplicateDetection" not in topic and "maxMessageSizeInKilobytes" not in topic
    for subscription in dev.of_type(SUBSCRIPTION):
        assert subscription.inputs["deadLetteringOnFilterEvaluationExceptions"] is True
        assert "autoDeleteOnIdle" not in subscription.inputs


def test_prod_fixture_has_exactly_the_production_parts(prod: ProgramRun) -> None:
    counts = {type_: len(prod.of_type(type_)) for type_ in (*NEW_TYPES, METRIC_ALERT)}
    assert counts == {
        PRIVATE_ENDPOINT: 1,
        DNS_ZONE_GROUP: 1,
        PRIVATE_ZONE: 1,
        VNET_LINK: 1,
        NETWORK_RULE_SET: 1,
        DIAGNOSTIC_SETTING: 1,
        WORKSPACE: 0,  # the fixture names an existing workspace
        METRIC_ALERT: 6,  # Premium: CPU and memory too
    }
    ns = only(prod, NAMESPACE).inputs
    assert ns["publicNetworkAccess"] == "Disabled"
    assert ns["identity"] == {"type": "SystemAssigned"}
    rule_set = only(prod, NETWORK_RULE_SET).inputs
    assert (rule_set["publicNetworkAccess"], rule_set["defaultAction"]) == ("Disabled", "Deny")
    assert rule_set["trustedServiceAccessEnabled"] is True
    assert azure_name(only(prod, PRIVATE_ENDPOINT)) == "pep-sbns-mlpipe-prod-weu-001"
    assert azure_name(only(prod, PRIVATE_ZONE)) == "privatelink.servicebus.windows.net"
    assert only(prod, PRIVATE_ZONE).inputs["location"] == "Global"
    assert only(prod, VNET_LINK).inputs["virtualNetwork"]["id"].endswith("/virtualNetworks/vnet-prod")
    assert azure_name(only(prod, DIAGNOSTIC_SETTING)) == "diag-sbns-mlpipe-prod-weu-001"
    topic = only(prod, TOPIC).inputs
    assert topic["requiresDuplicateDetection"] is True
    assert topic["duplicateDetectionHistoryTimeWindow"] == "PT10M"


def test_prod_alerts_use_defaults_and_watch_the_topic(prod: ProgramRun) -> None:
    by_metric = {a.inputs["criteria"]["allOf"][0]["metricName"]: a.inputs for a in prod.of_type(METRIC_ALERT)}
    assert sorted(by_metric) == [
        "ActiveMessages",
        "DeadletteredMessages",
        "NamespaceCpuUsage",
        "NamespaceMemoryUsage",
        "ServerErrors",
        "ThrottledRequests",
    ]
    dead = by_metric["DeadletteredMessages"]
    assert (dead["severity"], dead["criteria"]["allOf"][0]["threshold"]) == (1, 0)
    assert dead["criteria"]["allOf"][0]["dimensions"][0]["values"] == ["sbt-mlpipe-events"]
    assert by_metric["ActiveMessages"]["criteria"]["allOf"][0]["threshold"] == 1000
    assert "dimensions" not in by_metric["ServerErrors"]["criteria"]["allOf"][0]
    assert all(a["location"] == "global" and a["enabled"] is True for a in by_metric.values())


def test_an_existing_private_dns_zone_is_used_instead_of_creating_one() -> None:
    networking = {
        **stack_config("prod").values["ml-messaging:namespace"]["privateNetworking"],
        "privateDnsZoneId": ZONE,
    }
    run = variant("prod", namespace=namespace("prod", privateNetworking=networking)).run
    assert run.of_type(PRIVATE_ZONE) == [] and run.of_type(VNET_LINK) == []
    assert only(run, DNS_ZONE_GROUP).inputs["privateDnsZoneConfigs"][0]["privateDnsZoneId"] == ZONE


def test_private_networking_off_removes_every_networking_part() -> None:
    run = variant("prod", namespace=namespace("prod", privateNetworking=None, publicNetworkAccess="Enabled")).run
    for type_ in (PRIVATE_ENDPOINT, DNS_ZONE_GROUP, PRIVATE_ZONE, VNET_LINK, NETWORK_RULE_SET):
        assert run.of_type(type_) == [], type_


def test_ip_rules_in_dev_make_a_deny_by_default_firewall_on_the_public_endpoint() -> None:
    rules = {"ipRules": ["203.0.113.7", "198.51.100.0/24"], "trustedServiceAccessEnabled": False}
    run = variant("dev", namespace=namespace("dev", networkRules=rules)).run
    rule_set = only(run, NETWORK_RULE_SET).inputs
    assert rule_set["publicNetworkAccess"] == "Enabled" == only(run, NAMESPACE).inputs["publicNetworkAccess"]
    assert rule_set["defaultAction"] == "Deny"
    assert rule_set["ipRules"] == [
        {"ipMask": "203.0.113.7", "action": "Allow"},
        {"ipMask": "198.51.100.0/24", "action": "Allow"},
    ]
    assert rule_set["trustedServiceAccessEnabled"] is False


def test_a_trusted_services_only_firewall_allows_by_default() -> None:
    run = variant("dev", namespace=namespace("dev", networkRules={})).run
    assert only(run, NETWORK_RULE_SET).inputs["defaultAction"] == "Allow"


def test_diagnostics_without_a_workspace_create_one_with_the_configured_retention() -> None:
    run = variant("dev", namespace=namespace("dev", diagnostics={"retentionInDays": 90})).run
    workspace = only(run, WORKSPACE)
    assert azure_name(workspace) == "log-mlpipe-dev-weu-001"
    assert workspace.inputs["retentionInDays"] == 90
    assert workspace.inputs["sku"] == {"name": "PerGB2018"}
    assert only(run, DIAGNOSTIC_SETTING).inputs["workspaceId"] == workspace.id


def test_standard_gets_no_cpu_or_memory_alerts_and_thresholds_can_be_set() -> None:
    alerts = {
        "actionGroupId": ACTION_GROUP,
        "activeMessages": {"threshold": 50, "severity": 3},
        "throttledRequests": {"threshold": 10, "severity": 4, "enabled": False},
    }
    run = variant("dev", namespace=namespace("dev", alerts=alerts)).run
    by_metric = {a.inputs["criteria"]["allOf"][0]["metricName"]: a.inputs for a in run.of_type(METRIC_ALERT)}
    assert sorted(by_metric) == ["ActiveMessages", "DeadletteredMessages", "ServerErrors", "ThrottledRequests"]
    active = by_metric["ActiveMessages"]
    assert (active["severity"], active["criteria"]["allOf"][0]["threshold"]) == (3, 50)
    assert by_metric["ThrottledRequests"]["enabled"] is False


def test_a_system_assigned_identity_can_be_asked_for_in_dev_and_is_on_by_default_when_protected() -> None:
    run = variant("dev", namespace=namespace("dev", systemAssignedIdentity=True)).run
    assert only(run, NAMESPACE).inputs["identity"] == {"type": "SystemAssigned"}


def test_a_customer_managed_key_sets_double_encryption_and_the_keys_identity() -> None:
    config = engine_config(
        "prod", namespace=namespace("prod", customerManagedKey={"keyUri": KEY, "userAssignedIdentityId": IDENTITY})
    )
    settings = settings_from_config(config, "ml-messaging", "stacks/Pulumi.prod.yaml").namespace
    identity, encryption = namespace_identity(settings), namespace_encryption(settings)
    assert identity is not None and encryption is not None
    assert identity.type == "SystemAssigned, UserAssigned"
    assert identity.user_assigned_identities == [IDENTITY]
    assert encryption.key_source == "Microsoft.KeyVault"
    assert encryption.require_infrastructure_encryption is True
    (vault,) = encryption.key_vault_properties  # type: ignore[misc]
    assert isinstance(vault, servicebus.KeyVaultPropertiesArgs)
    assert isinstance(vault.identity, servicebus.UserAssignedIdentityPropertiesArgs)
    assert (vault.key_vault_uri, vault.key_name, vault.key_version) == (
        "https://kv-mlpipe-prod.vault.azure.net",
        "cmk-servicebus",
        None,
    )
    assert vault.identity.user_assigned_identity == IDENTITY


def test_topic_and_subscription_settings_come_from_config() -> None:
    services = raw_services("dev")
    services[0] = {
        **services[0],
        "delivery": {"deadLetteringOnFilterEvaluationExceptions": False, "autoDeleteOnIdle": "P7D"},
    }
    run = variant("dev", services=services, topic={"requiresDuplicateDetection": True}).run
    by_name = {azure_name(s): s.inputs for s in run.of_type(SUBSCRIPTION)}
    assert by_name["sbts-preprocessing"]["deadLetteringOnFilterEvaluationExceptions"] is False
    assert by_name["sbts-preprocessing"]["autoDeleteOnIdle"] == "P7D"
    assert by_name["sbts-training"]["deadLetteringOnFilterEvaluationExceptions"] is True
    topic = only(run, TOPIC).inputs
    assert (topic["requiresDuplicateDetection"], topic["duplicateDetectionHistoryTimeWindow"]) == (True, "PT10M")


def test_premium_topics_take_large_messages() -> None:
    run = variant("prod", topic={"maxMessageSizeInKilobytes": 102400}).run
    assert only(run, TOPIC).inputs["maxMessageSizeInKilobytes"] == 102400


def test_the_estimate_prices_each_part_or_says_it_is_not_estimated() -> None:
    rates = Rates()
    prod = settings_from_config(engine_config("prod"), "ml-messaging", "stacks/Pulumi.prod.yaml").namespace
    dev = settings_from_config(engine_config("dev"), "ml-messaging", "stacks/Pulumi.dev.yaml").namespace
    base = rates.premium_per_unit_hourly * 730
    cost = estimate(prod, rates)
    assert cost.monthly_usd == pytest.approx(base + 0.01 * 730 + 0.50 + 6 * 0.10, abs=0.01)
    assert any(part.startswith("private endpoint: $0.01/h") for part in cost.parts)
    assert any("diagnostics" in part and "not estimated" in part for part in cost.parts)
    assert "Azure pricing pages" in cost.basis
    assert estimate(dev, rates).parts == ()
    assert estimate(dev, rates).monthly_usd == pytest.approx(rates.standard_base_hourly * 730, abs=0.01)


def test_prod_with_a_customer_managed_key_runs_and_holds_every_invariant() -> None:
    # The program itself, not only its argument builders: the mock runtime answers a user-assigned
    # identity the way ARM does (a map), which the SDK needs to read the namespace back.
    stack = variant(
        "prod", namespace=namespace("prod", customerManagedKey={"keyUri": KEY, "userAssignedIdentityId": IDENTITY})
    )
    encryption = only(stack.run, NAMESPACE).inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.KeyVault" and encryption["requireInfrastructureEncryption"] is True
    assert only(stack.run, NAMESPACE).inputs["identity"]["userAssignedIdentities"] == [IDENTITY]


EVERY_FEATURE = {
    "customerManagedKey": {"keyUri": KEY, "userAssignedIdentityId": IDENTITY},
    "autoscale": {"minimumCapacity": 1, "maximumCapacity": 4},
    "geoReplication": {"secondaryLocation": "northeurope"},
}


def test_autoscale_follows_cpu_between_valid_unit_counts_and_the_namespace_lets_it() -> None:
    stack = variant("prod", namespace=namespace("prod", autoscale={"minimumCapacity": 1, "maximumCapacity": 8}))
    (setting,) = stack.run.of_type("azure-native:monitor:AutoscaleSetting")
    assert setting.inputs["targetResourceUri"] == only(stack.run, NAMESPACE).id
    (profile,) = setting.inputs["profiles"]
    assert profile["capacity"] == {"minimum": "1", "maximum": "8", "default": "1"}
    actions = [
        (r["scaleAction"]["direction"], r["metricTrigger"]["operator"], r["metricTrigger"]["threshold"])
        for r in profile["rules"]
    ]
    assert actions == [("Increase", "GreaterThan", 70), ("Decrease", "LessThan", 25)]
    assert {r["scaleAction"]["type"] for r in profile["rules"]} == {"ServiceAllowedNextValue"}
    assert {r["metricTrigger"]["metricName"] for r in profile["rules"]} == {"NamespaceCpuUsage"}
    assert {r["metricTrigger"]["metricNamespace"] for r in profile["rules"]} == {"Microsoft.ServiceBus/namespaces"}
    assert setting.inputs["autoscaleSettingName"] == "autoscale-sbns-mlpipe-prod-weu-001"
    # Azure moves the capacity; the next update must not move it back.
    assert only(stack.run, NAMESPACE).options.ignore_changes == ("sku.capacity",)


def test_geo_replication_names_the_primary_and_the_secondary_region() -> None:
    stack = variant("prod", namespace=namespace("prod", geoReplication={"secondaryLocation": "northeurope"}))
    replication = only(stack.run, NAMESPACE).inputs["geoDataReplication"]
    assert replication["locations"] == [
        {"locationName": "westeurope", "roleType": "Primary"},
        {"locationName": "northeurope", "roleType": "Secondary"},
    ]
    assert replication["maxReplicationLagDurationInSeconds"] == 300


@pytest.mark.parametrize(
    ("changes", "key", "says"),
    [
        (
            {"autoscale": {"minimumCapacity": 3, "maximumCapacity": 8}},
            "namespace.autoscale.minimumCapacity",
            "3 is not one of 1, 2, 4, 8, 16",
        ),
        ({"autoscale": {"minimumCapacity": 2, "maximumCapacity": 8}}, "namespace.capacity", "must lie between"),
        ({"autoscale": {"minimumCapacity": 8, "maximumCapacity": 2}}, "namespace.autoscale", "must not exceed"),
        (
            {"geoReplication": {"secondaryLocation": "westeurope"}},
            "namespace.geoReplication.secondaryLocation",
            "must differ from location",
        ),
        (
            {"geoReplication": {"secondaryLocation": "moon"}},
            "namespace.geoReplication.secondaryLocation",
            "is not an Azure region",
        ),
    ],
)
def test_recovery_settings_are_validated(changes: dict[str, Any], key: str, says: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings_from_config(
            engine_config("prod", namespace=namespace("prod", **changes)), "ml-messaging", "stacks/Pulumi.prod.yaml"
        )
    (line,) = refused.value.lines
    assert line.startswith(f"stacks/Pulumi.prod.yaml: ml-messaging:{key}: ") and says in line, line


def test_recovery_is_premium_only() -> None:
    with pytest.raises(SettingsError, match=r"ml-messaging:namespace\.autoscale: is only available with tier Premium"):
        settings_from_config(
            engine_config("dev", namespace=namespace("dev", autoscale={"minimumCapacity": 1, "maximumCapacity": 2})),
            "ml-messaging",
            "stacks/Pulumi.dev.yaml",
        )
