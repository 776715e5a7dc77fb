"""The optional production features of a stack: private networking, diagnostics, alerts, encryption, topic.

Each feature follows the uniform interface of Azure Verified Modules (AVM) for optional features: absent
(or ``null``) means off, a mapping turns it on, and every key inside has a safe default. Dev sets none of
them. Cross-field rules that need the tier or the stack's protection live in ``settings.model``.
The Microsoft Learn page behind each rule is cited next to it; docs/production.md explains the choices.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, model_validator
from pydantic.alias_generators import to_camel

from settings.durations import within
from settings.errors import KeyedError
from settings.naming import RESOURCE_GROUP_NAME_PATTERN, SERVICE_BUS_DNS_SUFFIX

# Duplicate detection window: 20 seconds to 7 days, 10 minutes by default
# (https://learn.microsoft.com/azure/service-bus-messaging/duplicate-detection).
MIN_DUPLICATE_WINDOW = timedelta(seconds=20)
MAX_DUPLICATE_WINDOW = timedelta(days=7)
DEFAULT_DUPLICATE_WINDOW = timedelta(minutes=10)
# Premium large messages: maxMessageSizeInKilobytes 1024 (default) to 102400; Standard is fixed at 256 KB
# (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging#large-messages-support,
# https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
STANDARD_MAX_MESSAGE_KB = 256
PREMIUM_DEFAULT_MAX_MESSAGE_KB = 1024
PREMIUM_MAX_MESSAGE_KB = 102_400
# Log Analytics interactive retention: 30 to 730 days
# (https://learn.microsoft.com/azure/azure-monitor/logs/data-retention-configure).
MIN_RETENTION_DAYS = 30
MAX_RETENTION_DAYS = 730
# autoDeleteOnIdle: at least 5 minutes (https://learn.microsoft.com/azure/service-bus-messaging/message-expiration).
MIN_AUTO_DELETE_ON_IDLE = timedelta(minutes=5)

# The zone Azure's private DNS integration uses for Service Bus in the public cloud
# (https://learn.microsoft.com/azure/private-link/private-endpoint-dns#integration).
SERVICE_BUS_PRIVATE_DNS_ZONE = f"privatelink.{SERVICE_BUS_DNS_SUFFIX}"

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_NAME = r"[^/\s<>]+"
_EXAMPLE_PREFIX = "/subscriptions/<subscription-id>/resourceGroups/<group>/providers/"


def _arm_id(provider_path: str, what: str, example_tail: str) -> AfterValidator:
    """A resource ID of one type; placeholders (``<...>``) and other types fail with one readable line."""
    compiled = re.compile(
        rf"/subscriptions/{_GUID}/resourceGroups/{RESOURCE_GROUP_NAME_PATTERN}/providers/{provider_path}",
        flags=re.IGNORECASE,
    )

    def check(value: str) -> str:
        if "<" in value or ">" in value:
            raise ValueError(f"is a placeholder ({value[:40]}...): replace it with the resource ID of your {what}")
        if not compiled.fullmatch(value):
            raise ValueError(
                f"{value[:80]!r} is not the resource ID of a {what}; expected {_EXAMPLE_PREFIX}{example_tail}"
            )
        return value

    return AfterValidator(check)


SubnetId = Annotated[
    str,
    _arm_id(
        rf"Microsoft\.Network/virtualNetworks/{_NAME}/subnets/{_NAME}",
        "subnet",
        "Microsoft.Network/virtualNetworks/<vnet>/subnets/<subnet>",
    ),
]
PrivateDnsZoneId = Annotated[
    str,
    _arm_id(
        rf"Microsoft\.Network/privateDnsZones/{re.escape(SERVICE_BUS_PRIVATE_DNS_ZONE)}",
        f"private DNS zone named {SERVICE_BUS_PRIVATE_DNS_ZONE}",
        f"Microsoft.Network/privateDnsZones/{SERVICE_BUS_PRIVATE_DNS_ZONE}",
    ),
]
WorkspaceId = Annotated[
    str,
    _arm_id(
        rf"Microsoft\.OperationalInsights/workspaces/{_NAME}",
        "Log Analytics workspace",
        "Microsoft.OperationalInsights/workspaces/<workspace>",
    ),
]
ActionGroupId = Annotated[
    str,
    _arm_id(rf"Microsoft\.Insights/actionGroups/{_NAME}", "action group", "Microsoft.Insights/actionGroups/<group>"),
]
UserAssignedIdentityId = Annotated[
    str,
    _arm_id(
        rf"Microsoft\.ManagedIdentity/userAssignedIdentities/{_NAME}",
        "user-assigned managed identity",
        "Microsoft.ManagedIdentity/userAssignedIdentities/<identity>",
    ),
]

_KEY_URI = re.compile(
    r"(?P<vault>https://[a-zA-Z0-9-]{3,24}\.vault\.azure\.net)/keys/(?P<name>[a-zA-Z0-9-]{1,127})"
    r"(?:/(?P<version>[0-9a-fA-F]{32}))?/?"
)


def _key_uri(value: str) -> str:
    if not _KEY_URI.fullmatch(value):
        raise ValueError(
            f"{value[:80]!r} is not a Key Vault key URI; expected https://<vault>.vault.azure.net/keys/<key> "
            "(optionally /<32-hex-digit version>)"
        )
    return value


def _ipv4_rule(value: str) -> str:
    try:
        ipaddress.IPv4Network(value, strict=True)
    except ValueError as error:
        raise ValueError(f"{value!r} is not an IPv4 address or CIDR range such as 203.0.113.0/24 ({error})") from None
    return value


KeyUri = Annotated[str, AfterValidator(_key_uri)]
IpRule = Annotated[str, AfterValidator(_ipv4_rule)]


DuplicateWindow = Annotated[
    timedelta, within(MIN_DUPLICATE_WINDOW, MAX_DUPLICATE_WINDOW, "the duplicate detection window")
]
AutoDeleteOnIdle = Annotated[timedelta, within(MIN_AUTO_DELETE_ON_IDLE, None, "autoDeleteOnIdle")]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, use_enum_values=False
    )


class PrivateNetworkingSettings(_Model):
    """A private endpoint for the namespace in an existing subnet, with its private DNS (Premium only)."""

    subnet_id: SubnetId = Field(
        description="Resource ID of the existing subnet the private endpoint's network interface goes into."
    )
    private_dns_zone_id: PrivateDnsZoneId | None = Field(
        default=None,
        description=(
            f"Resource ID of an existing {SERVICE_BUS_PRIVATE_DNS_ZONE} zone (typically in a hub); by default the "
            "component creates the zone in the stack's resource group and links it to the subnet's virtual network."
        ),
    )

    @property
    def virtual_network_id(self) -> str:
        """The subnet's virtual network: the ID up to ``/subnets/``."""
        return self.subnet_id[: self.subnet_id.lower().rindex("/subnets/")]


class NetworkRulesSettings(_Model):
    """The namespace's firewall (``NamespaceNetworkRuleSet``): trusted services and IP rules."""

    trusted_service_access_enabled: bool = Field(
        default=True,
        description="Let trusted Microsoft services reach the namespace past the firewall (e.g. Event Grid, Monitor).",
    )
    ip_rules: tuple[IpRule, ...] = Field(
        default=(),
        description=(
            "IPv4 addresses or CIDR ranges allowed over the public endpoint (for dev); any rule makes the default "
            "action Deny. Needs publicNetworkAccess Enabled."
        ),
    )


class DiagnosticsSettings(_Model):
    """Every log category and every metric of the namespace, to a Log Analytics workspace."""

    workspace_id: WorkspaceId | None = Field(
        default=None,
        description="Resource ID of an existing Log Analytics workspace; by default one is created in the stack's "
        "resource group.",
    )
    retention_in_days: StrictInt | None = Field(
        default=None,
        ge=MIN_RETENTION_DAYS,
        le=MAX_RETENTION_DAYS,
        description="Retention of a created workspace, 30-730 days (default 30); not allowed with workspaceId.",
    )

    @model_validator(mode="after")
    def _retention_needs_a_created_workspace(self) -> DiagnosticsSettings:
        if self.workspace_id is not None and self.retention_in_days is not None:
            raise KeyedError(
                "retentionInDays",
                "applies only to a workspace the component creates; set retention on your existing workspace instead",
            )
        return self

    @property
    def effective_retention_in_days(self) -> int:
        """Retention of a created workspace."""
        return self.retention_in_days or MIN_RETENTION_DAYS


class AlertRule(_Model):
    """One metric alert: fires when the metric goes above ``threshold``."""

    threshold: float = Field(ge=0, description="The alert fires when the metric is greater than this.")
    severity: StrictInt = Field(ge=0, le=4, description="Azure Monitor severity: 0 (critical) to 4 (verbose).")
    enabled: bool = Field(default=True, description="Whether the alert rule is evaluated.")


class AlertsSettings(_Model):
    """Metric alerts on the namespace and the topic, to an existing action group."""

    action_group_id: ActionGroupId = Field(description="Resource ID of the action group the alerts notify.")
    dead_lettered_messages: AlertRule = Field(
        default=AlertRule(threshold=0, severity=1),
        description="DeadletteredMessages (maximum) on the topic, summed over its subscriptions.",
    )
    active_messages: AlertRule = Field(
        default=AlertRule(threshold=1000, severity=2),
        description="ActiveMessages (maximum) on the topic, summed over its subscriptions: a backlog.",
    )
    throttled_requests: AlertRule = Field(
        default=AlertRule(threshold=0, severity=2), description="ThrottledRequests (total) on the namespace."
    )
    server_errors: AlertRule = Field(
        default=AlertRule(threshold=0, severity=1), description="ServerErrors (total) on the namespace."
    )
    cpu_usage: AlertRule = Field(
        default=AlertRule(threshold=80, severity=2),
        description="NamespaceCpuUsage (maximum, percent); created on Premium only.",
    )
    memory_usage: AlertRule = Field(
        default=AlertRule(threshold=80, severity=2),
        description="NamespaceMemoryUsage (maximum, percent); created on Premium only.",
    )


class CustomerManagedKeySettings(_Model):
    """Encryption at rest with a Key Vault key (Premium only), plus infrastructure (double) encryption."""

    key_uri: KeyUri = Field(
        description="Key Vault key URI, https://<vault>.vault.azure.net/keys/<key>[/<version>]; without a version "
        "the namespace follows the key's latest version."
    )
    user_assigned_identity_id: UserAssignedIdentityId = Field(
        description="Resource ID of the user-assigned identity that may use the key (e.g. Key Vault Crypto "
        "Service Encryption User)."
    )

    @property
    def key(self) -> KeyReference:
        """The vault URI, key name and optional version of ``key_uri``."""
        match = _KEY_URI.fullmatch(self.key_uri)
        assert match is not None  # validated
        return KeyReference(match["vault"], match["name"], match["version"])


@dataclass(frozen=True)
class KeyReference:
    """A Key Vault key split the way Service Bus's encryption settings want it."""

    vault_uri: str
    name: str
    version: str | None


class AutoscaleSettings(_Model):
    """Messaging units that follow CPU load (Premium only), with Azure Monitor autoscale.

    Service Bus scales between valid unit counts itself ("ServiceAllowedNextValue" scale actions on
    NamespaceCpuUsage: https://learn.microsoft.com/azure/service-bus-messaging/automate-update-messaging-units).
    """

    minimum_capacity: StrictInt = Field(description="Fewest messaging units (a valid capacity for the partitions).")
    maximum_capacity: StrictInt = Field(description="Most messaging units (a valid capacity for the partitions).")
    scale_out_cpu_percent: StrictInt = Field(
        default=70, ge=1, le=100, description="Average CPU over 5 minutes above which a unit step is added."
    )
    scale_in_cpu_percent: StrictInt = Field(
        default=25, ge=0, le=99, description="Average CPU over 5 minutes below which a unit step is removed."
    )

    @model_validator(mode="after")
    def _ordered(self) -> AutoscaleSettings:
        if self.minimum_capacity > self.maximum_capacity:
            raise ValueError(
                f"minimumCapacity {self.minimum_capacity} must not exceed maximumCapacity {self.maximum_capacity}"
            )
        if self.scale_in_cpu_percent >= self.scale_out_cpu_percent:
            raise ValueError("scaleInCpuPercent must be below scaleOutCpuPercent, or the two rules fight")
        return self


class GeoReplicationSettings(_Model):
    """A replica of the namespace, metadata and messages, in a second region (Premium only).

    https://learn.microsoft.com/azure/service-bus-messaging/service-bus-geo-replication
    """

    secondary_location: str = Field(description="Azure region of the secondary replica (not the primary's).")
    max_replication_lag_duration_in_seconds: StrictInt = Field(
        default=300,
        ge=0,
        description="How far the secondary may lag, in seconds; 0 replicates synchronously (slower sends).",
    )


class TopicSettings(_Model):
    """Settings of the pipeline's one topic."""

    requires_duplicate_detection: bool = Field(
        default=False,
        description=(
            "Drop a message whose MessageId was seen within the window. Create-only: changing it replaces the topic "
            "with all its subscriptions and messages (change rule change-create-only-property)."
        ),
    )
    duplicate_detection_history_time_window: DuplicateWindow | None = Field(
        default=None,
        description="How long MessageIds are remembered, PT20S to P7D (default PT10M); needs "
        "requiresDuplicateDetection.",
    )
    max_message_size_in_kilobytes: StrictInt | None = Field(
        default=None,
        ge=PREMIUM_DEFAULT_MAX_MESSAGE_KB,
        le=PREMIUM_MAX_MESSAGE_KB,
        description="Largest message the topic accepts, 1024-102400 KB (default 1024); Premium only "
        "(Standard: 256 KB).",
    )

    @model_validator(mode="after")
    def _window_needs_detection(self) -> TopicSettings:
        if self.duplicate_detection_history_time_window is not None and not self.requires_duplicate_detection:
            raise KeyedError(
                "duplicateDetectionHistoryTimeWindow", "needs requiresDuplicateDetection: true (it is false)"
            )
        return self

    @property
    def effective_duplicate_window(self) -> timedelta | None:
        """The window to request, when duplicate detection is on."""
        if not self.requires_duplicate_detection:
            return None
        return self.duplicate_detection_history_time_window or DEFAULT_DUPLICATE_WINDOW
