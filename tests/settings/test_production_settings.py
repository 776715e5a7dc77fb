"""The production features' settings: off unless set, and every mistake one line naming the file and key."""

from __future__ import annotations

from typing import Any

import pytest

from settings.errors import SettingsError
from settings.features import TopicSettings
from settings.loader import settings_from_config
from settings.model import StackSettings
from tests.support import engine_config, raw_services, stack_config

ZERO = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups"
SUBNET = f"{ZERO}/rg-net/providers/Microsoft.Network/virtualNetworks/vnet-prod/subnets/snet-pe"
ZONE = f"{ZERO}/rg-hub/providers/Microsoft.Network/privateDnsZones/privatelink.servicebus.windows.net"
WORKSPACE = f"{ZERO}/rg-mon/providers/Microsoft.OperationalInsights/workspaces/log-prod"
ACTION_GROUP = f"{ZERO}/rg-mon/providers/Microsoft.Insights/actionGroups/ag-oncall"
IDENTITY = f"{ZERO}/rg-sec/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk"
KEY = "https://kv-mlpipe-prod.vault.azure.net/keys/cmk-servicebus"


def namespace(stack: str, **changes: Any) -> dict[str, Any]:
    """A fixture stack's namespace settings with keys changed; ``None`` removes a key."""
    merged = {**stack_config(stack).values["ml-messaging:namespace"], **changes}
    return {key: value for key, value in merged.items() if value is not None}


def validate(stack: str, **overrides: Any) -> StackSettings:
    return settings_from_config(engine_config(stack, **overrides), "ml-messaging", f"stacks/Pulumi.{stack}.yaml")


def rejected(stack: str, **overrides: Any) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        validate(stack, **overrides)
    return caught.value.lines


def test_every_feature_is_off_in_dev() -> None:
    settings = validate("dev")
    ns = settings.namespace
    assert ns.private_networking is None and ns.network_rules is None and ns.effective_network_rules is None
    assert ns.diagnostics is None and ns.alerts is None and ns.customer_managed_key is None
    assert ns.effective_system_assigned_identity is False
    assert settings.topic == TopicSettings()
    assert settings.max_message_size_in_kilobytes == 256
    assert all(s.delivery.dead_lettering_on_filter_evaluation_exceptions for s in settings.services)
    assert all(s.delivery.auto_delete_on_idle is None for s in settings.services)


def test_prod_fixture_turns_on_networking_diagnostics_alerts_and_identity() -> None:
    settings = validate("prod")
    ns = settings.namespace
    assert ns.private_networking is not None and ns.private_networking.private_dns_zone_id is None
    assert ns.private_networking.virtual_network_id.endswith("/virtualNetworks/vnet-prod")
    assert ns.effective_network_rules is not None and ns.effective_network_rules.ip_rules == ()
    assert ns.diagnostics is not None and ns.alerts is not None
    assert ns.alerts.dead_lettered_messages.threshold == 0 and ns.alerts.active_messages.threshold == 1000
    assert ns.effective_system_assigned_identity is True  # protected
    assert settings.topic.requires_duplicate_detection is True
    assert settings.topic.effective_duplicate_window is not None


def test_a_customer_managed_key_is_split_into_vault_name_and_version() -> None:
    version = "0123456789abcdef0123456789abcdef"  # pragma: allowlist secret (a made-up key version)
    key = {"keyUri": f"{KEY}/{version}", "userAssignedIdentityId": IDENTITY}
    reference = validate("prod", namespace=namespace("prod", customerManagedKey=key)).namespace.customer_managed_key
    assert reference is not None
    assert reference.key.vault_uri == "https://kv-mlpipe-prod.vault.azure.net"
    assert (reference.key.name, reference.key.version) == ("cmk-servicebus", version)


def _one_line(lines: list[str], stack: str, key: str, fragment: str) -> None:
    (line,) = lines
    assert line.startswith(f"stacks/Pulumi.{stack}.yaml: ml-messaging:{key}: "), line
    assert fragment in line, line
    assert "\n" not in line


INVALID: list[tuple[str, str, dict[str, Any], str, str]] = [
    (
        "private networking on Standard",
        "dev",
        {"namespace": namespace("dev", privateNetworking={"subnetId": SUBNET}, publicNetworkAccess="Disabled")},
        "namespace.privateNetworking",
        "only available with tier Premium",
    ),
    (
        "private networking with public access",
        "prod",
        {"namespace": namespace("prod", publicNetworkAccess="Enabled")},
        "namespace.publicNetworkAccess",
        "must be Disabled with privateNetworking",
    ),
    (
        "placeholder subnet",
        "prod",
        {"namespace": namespace("prod", privateNetworking={"subnetId": "/subscriptions/<subscription-id>/x"})},
        "namespace.privateNetworking.subnetId",
        "is a placeholder",
    ),
    (
        "a VNet instead of a subnet",
        "prod",
        {"namespace": namespace("prod", privateNetworking={"subnetId": SUBNET.rsplit("/subnets/", 1)[0]})},
        "namespace.privateNetworking.subnetId",
        "is not the resource ID of a subnet",
    ),
    (
        "a subnet in a resource group whose name ends with a dot (Azure refuses it)",
        "prod",
        {"namespace": namespace("prod", privateNetworking={"subnetId": SUBNET.replace("/rg-net/", "/rg-net./")})},
        "namespace.privateNetworking.subnetId",
        "is not the resource ID of a subnet",
    ),
    (
        "a DNS zone with another name",
        "prod",
        {
            "namespace": namespace(
                "prod", privateNetworking={"subnetId": SUBNET, "privateDnsZoneId": ZONE.replace("servicebus", "blob")}
            )
        },
        "namespace.privateNetworking.privateDnsZoneId",
        "privatelink.servicebus.windows.net",
    ),
    (
        "IP rules with public access disabled",
        "prod",
        {"namespace": namespace("prod", networkRules={"ipRules": ["203.0.113.0/24"]})},
        "namespace.networkRules.ipRules",
        "public endpoint only",
    ),
    (
        "a malformed IP rule",
        "dev",
        {"namespace": namespace("dev", networkRules={"ipRules": ["203.0.113.7/24"]})},
        "namespace.networkRules.ipRules[0]",
        "is not an IPv4 address or CIDR range",
    ),
    (
        "retention with an existing workspace",
        "prod",
        {"namespace": namespace("prod", diagnostics={"workspaceId": WORKSPACE, "retentionInDays": 90})},
        "namespace.diagnostics.retentionInDays",
        "applies only to a workspace the component creates",
    ),
    (
        "retention above 730 days",
        "dev",
        {"namespace": namespace("dev", diagnostics={"retentionInDays": 731})},
        "namespace.diagnostics.retentionInDays",
        "730",
    ),
    (
        "an action group ID of another type",
        "prod",
        {"namespace": namespace("prod", alerts={"actionGroupId": WORKSPACE})},
        "namespace.alerts.actionGroupId",
        "is not the resource ID of a action group",
    ),
    (
        "severity 5",
        "prod",
        {
            "namespace": namespace(
                "prod", alerts={"actionGroupId": ACTION_GROUP, "serverErrors": {"threshold": 0, "severity": 5}}
            )
        },
        "namespace.alerts.serverErrors.severity",
        "4",
    ),
    (
        "a customer-managed key on Standard",
        "dev",
        {"namespace": namespace("dev", customerManagedKey={"keyUri": KEY, "userAssignedIdentityId": IDENTITY})},
        "namespace.customerManagedKey",
        "only available with tier Premium",
    ),
    (
        "a key URI that is not a key",
        "prod",
        {
            "namespace": namespace(
                "prod",
                customerManagedKey={"keyUri": KEY.replace("/keys/", "/secrets/"), "userAssignedIdentityId": IDENTITY},
            )
        },
        "namespace.customerManagedKey.keyUri",
        "is not a Key Vault key URI",
    ),
    (
        "no identity on a protected namespace",
        "prod",
        {"namespace": namespace("prod", systemAssignedIdentity=False)},
        "namespace.systemAssignedIdentity",
        "must be true on a protected",
    ),
    (
        "large messages on Standard",
        "dev",
        {"topic": {"maxMessageSizeInKilobytes": 2048}},
        "topic.maxMessageSizeInKilobytes",
        "only available with tier Premium",
    ),
    (
        "a message size above 100 MB",
        "prod",
        {"topic": {"maxMessageSizeInKilobytes": 102401}},
        "topic.maxMessageSizeInKilobytes",
        "102400",
    ),
    (
        "a window without duplicate detection",
        "dev",
        {"topic": {"duplicateDetectionHistoryTimeWindow": "PT5M"}},
        "topic.duplicateDetectionHistoryTimeWindow",
        "needs requiresDuplicateDetection: true",
    ),
    (
        "a window beyond 7 days",
        "dev",
        {"topic": {"requiresDuplicateDetection": True, "duplicateDetectionHistoryTimeWindow": "P8D"}},
        "topic.duplicateDetectionHistoryTimeWindow",
        "must be between PT20S and P7D (got P8D)",
    ),
    (
        "an autoDeleteOnIdle below 5 minutes",
        "dev",
        {"services": [{"name": "idle", "consumes": ["data.ingested"], "delivery": {"autoDeleteOnIdle": "PT1M"}}]},
        "services[0].delivery.autoDeleteOnIdle",
        "autoDeleteOnIdle must be at least PT5M (got PT1M)",
    ),
]


@pytest.mark.parametrize(("case", "stack", "overrides", "key", "fragment"), INVALID, ids=[c[0] for c in INVALID])
def test_each_mistake_is_one_line_naming_the_file_and_key(
    case: str, stack: str, overrides: dict[str, Any], key: str, fragment: str
) -> None:
    _one_line(rejected(stack, **overrides), stack, key, fragment)


def test_auto_delete_on_idle_is_refused_on_a_protected_stack_only() -> None:
    services = raw_services("prod")
    services[1] = {**services[1], "delivery": {**services[1].get("delivery", {}), "autoDeleteOnIdle": "P7D"}}
    _one_line(
        rejected("prod", services=services),
        "prod",
        "services[1].delivery.autoDeleteOnIdle",
        "must not be set on a protected (production) stack",
    )
    dev_services = raw_services("dev")
    dev_services[1] = {**dev_services[1], "delivery": {"autoDeleteOnIdle": "P7D"}}
    assert validate("dev", services=dev_services).services[1].delivery.auto_delete_on_idle is not None


def test_ip_rules_on_a_public_dev_namespace_are_fine() -> None:
    settings = validate("dev", namespace=namespace("dev", networkRules={"ipRules": ["203.0.113.7", "198.51.100.0/24"]}))
    rules = settings.namespace.effective_network_rules
    assert rules is not None and rules.ip_rules == ("203.0.113.7", "198.51.100.0/24")
