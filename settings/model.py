"""The schema of a stack's config: one pydantic model, the single source of truth.

Config keys are camelCase (as they appear under ``ml-messaging:`` in ``stacks/Pulumi.<env>.yaml``);
Python attributes are snake_case. Azure's limits and their sources are listed in docs/azure-facts.md.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Literal
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from settings.azure_regions import AS_OF as REGIONS_AS_OF
from settings.azure_regions import AZURE_REGIONS
from settings.durations import iso8601 as iso8601
from settings.durations import within
from settings.errors import KeyedError
from settings.features import (
    PREMIUM_DEFAULT_MAX_MESSAGE_KB,
    STANDARD_MAX_MESSAGE_KB,
    AlertsSettings,
    AutoDeleteOnIdle,
    AutoscaleSettings,
    CustomerManagedKeySettings,
    DiagnosticsSettings,
    GeoReplicationSettings,
    NetworkRulesSettings,
    PrivateNetworkingSettings,
    TopicSettings,
)
from settings.identity import ManagedIdentitySettings
from settings.naming import RESOURCE_GROUP_NAME, PipelineNames, namespace_name_problem

# Subscription limits; sources and what they do not cover: docs/azure-facts.md, "Entity limits".
# lockDuration: default 1 minute, "The maximum value is 5 minutes"
# (https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement#renew-locks).
MAX_LOCK_DURATION = timedelta(minutes=5)
# No Microsoft page found that states a minimum: PT5S is this repo's floor, not a documented Azure one.
MIN_LOCK_DURATION = timedelta(seconds=5)
# defaultMessageTimeToLive: "Range: 1 second - TimeSpan.MaxValue" (retired classic REST API, "Subscription
# Description": https://learn.microsoft.com/previous-versions/azure/reference/hh780763(v=azure.100)).
MIN_MESSAGE_TTL = timedelta(seconds=1)
MAX_MESSAGE_TTL = timedelta(days=10675199)  # TimeSpan.MaxValue in whole days
# maxDeliveryCount: "Default value is 10. Minimum value is 1." (https://learn.microsoft.com/dotnet/api/
# azure.messaging.servicebus.administration.queueproperties.maxdeliverycount); Microsoft states no maximum:
# 2000 is this repo's ceiling.
MAX_DELIVERY_COUNT_CEILING = 2000
# Premium messaging units per partition (Azure REST API SBSku.capacity; docs/azure-facts.md).
UNITS_PER_PARTITION = (1, 2, 4, 8, 16)
# Service Bus quotas (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-quotas).
MAX_SUBSCRIPTIONS_PER_TOPIC = 2000
MAX_CORRELATION_FILTERS_PER_TOPIC = 100_000

REQUIRED_USER_TAGS = ("owner", "costCenter")
PROGRAM_TAGS = ("environment", "workload")
# Azure Resource Manager tag limits (Microsoft Learn, "Use tags to organize your Azure resources",
# Limitations: https://learn.microsoft.com/azure/azure-resource-manager/management/tag-resources#limitations).
MAX_TAGS_PER_RESOURCE = 50
MAX_TAG_NAME_LENGTH = 512
MAX_TAG_VALUE_LENGTH = 256
TAG_NAME_FORBIDDEN = "<>%&\\?/"


class Tier(StrEnum):
    """Service Bus tiers that support topics (Basic has none, so it is not offered)."""

    STANDARD = "Standard"
    PREMIUM = "Premium"


class TlsVersion(StrEnum):
    """Minimum TLS versions Azure accepts; the policy pack blocks anything below 1.2."""

    TLS_1_0 = "1.0"
    TLS_1_1 = "1.1"
    TLS_1_2 = "1.2"
    TLS_1_3 = "1.3"


class PrincipalType(StrEnum):
    """Kinds of Entra principal a role can be assigned to (azure-native ``authorization.PrincipalType``)."""

    SERVICE_PRINCIPAL = "ServicePrincipal"
    USER = "User"
    GROUP = "Group"


class PublicNetworkAccess(StrEnum):
    """Whether the namespace is reachable from public networks."""

    ENABLED = "Enabled"
    DISABLED = "Disabled"
    SECURED_BY_PERIMETER = "SecuredByPerimeter"


def shorten(value: str, limit: int = 60) -> str:
    """``repr(value)``, cut to ``limit`` characters: a message names a value, it does not echo a file."""
    shown = repr(value)
    return shown if len(shown) <= limit else f"{shown[: limit - 4]}...' ({len(value)} characters)"


def listing(items: list[str], limit: int = 10) -> str:
    """``a, b, c`` for at most ``limit`` items, then how many more."""
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _text_rule(pattern: str, rule: str) -> AfterValidator:
    """A text constraint whose error says the rule in words (a bare regex helps nobody)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"{shorten(value)} is not valid: {rule}")
        return value

    return AfterValidator(check)


LockDuration = Annotated[timedelta, within(MIN_LOCK_DURATION, MAX_LOCK_DURATION, "lockDuration")]
MessageTtl = Annotated[timedelta, within(MIN_MESSAGE_TTL, MAX_MESSAGE_TTL, "defaultMessageTimeToLive")]
# Event types travel as the message subject (label) and name the rule `evt-<event>` (PipelineNames.rule):
# 46 characters at most and a letter or digit last, because a rule name has 1-50 characters and ends with
# a letter or digit (docs/azure-facts.md, Names).
EventType = Annotated[
    str,
    _text_rule(
        r"[A-Za-z](?:[A-Za-z0-9._-]{0,44}[A-Za-z0-9])?",
        "an event type is 1-46 characters: letters, digits, '.', '_' and '-', starting with a letter and "
        "ending with a letter or digit",
    ),
]
# A service name becomes part of `sbts-<service>` (subscription: 1-50 chars) and of RBAC names.
ServiceName = Annotated[
    str,
    _text_rule(
        r"[a-z][a-z0-9-]{0,38}[a-z0-9]",
        "a service name is 2-40 characters: lowercase letters, digits and '-', starting with a letter "
        "and ending with a letter or digit",
    ),
]
EnvironmentName = Annotated[
    str, _text_rule(r"[a-z][a-z0-9]{1,9}", "2-10 lowercase letters and digits, starting with a letter")
]
WorkloadName = Annotated[
    str, _text_rule(r"[a-z][a-z0-9]{1,11}", "2-12 lowercase letters and digits, starting with a letter")
]
InstanceNumber = Annotated[str, _text_rule(r"[0-9]{3}", "three digits, e.g. '001'")]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )


class DeliverySettings(_Model):
    """How the broker delivers to one service's subscription. Defaults are the safe choice."""

    max_delivery_count: int = Field(
        default=10,
        ge=1,
        le=MAX_DELIVERY_COUNT_CEILING,
        description="Deliveries before a message is dead-lettered (Azure default 10).",
    )
    lock_duration: LockDuration = Field(
        default=timedelta(minutes=1),
        description="Peek-lock duration, ISO 8601, PT5S to PT5M (Azure's maximum).",
    )
    default_message_time_to_live: MessageTtl = Field(
        default=timedelta(days=14),
        description="How long an undelivered message lives, ISO 8601.",
    )
    dead_lettering_on_message_expiration: bool = Field(
        default=True,
        description="Move expired messages to the dead-letter queue instead of dropping them.",
    )
    dead_lettering_on_filter_evaluation_exceptions: bool = Field(
        default=True,
        description="Dead-letter a message whose rule evaluation fails instead of dropping it.",
    )
    auto_delete_on_idle: AutoDeleteOnIdle | None = Field(
        default=None,
        description=(
            "Delete the subscription, with its messages, after this long idle (ISO 8601, at least PT5M); "
            "never allowed on a protected stack."
        ),
    )


class ServiceSettings(_Model):
    """One service of the pipeline: what it publishes, what it consumes, who it runs as."""

    name: ServiceName = Field(description="Service name; its subscription is `sbts-<name>`.")
    publishes: tuple[EventType, ...] = Field(default=(), description="Event types this service publishes to the topic.")
    consumes: tuple[EventType, ...] = Field(
        default=(), description="Event types routed to this service's subscription."
    )
    principal_id: UUID | None = Field(
        default=None,
        description=(
            "Entra object ID the service runs as: its managed identity, or in dev a user or a group of "
            "developers running it locally; gets Data Sender and/or Data Receiver."
        ),
    )
    principal_type: PrincipalType = Field(
        default=PrincipalType.SERVICE_PRINCIPAL,
        description="What principalId is: ServicePrincipal (managed identity), User or Group.",
    )
    managed_identity: ManagedIdentitySettings | None = Field(
        default=None,
        description=(
            "Create the service's user-assigned managed identity in this stack (with federated credentials for the "
            "workload that runs it) and grant it the roles; instead of principalId."
        ),
    )
    delivery: DeliverySettings = Field(
        default_factory=DeliverySettings,
        description="Delivery settings of this service's subscription.",
    )

    @field_validator("publishes", "consumes")
    @classmethod
    def _no_repeats(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        repeated = sorted(event for event, count in Counter(value).items() if count > 1)
        if repeated:
            raise ValueError(f"lists {', '.join(repeated)} more than once")
        if info.field_name == "consumes":
            # Each consumed event type names a rule evt-<event> (every one of them in the emulator), and
            # Azure names ignore case (docs/azure-facts.md, Names): Bc and bc would be the same rule.
            spellings: dict[str, list[str]] = {}
            for event in value:
                spellings.setdefault(event.lower(), []).append(event)
            clashes = [" and ".join(events) for events in spellings.values() if len(events) > 1]
            if clashes:
                raise ValueError(
                    f"lists {'; '.join(clashes)}, which differ only in case: each names a rule evt-<event> and "
                    "Azure names ignore case; use one spelling"
                )
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> ServiceSettings:
        if self.managed_identity is None:
            return self
        if self.principal_id is not None:
            raise KeyedError(
                "managedIdentity",
                "and principalId exclude each other: give principalId for an identity made elsewhere, or "
                "managedIdentity to have this stack create one",
            )
        if self.principal_type is not PrincipalType.SERVICE_PRINCIPAL:
            raise KeyedError(
                "principalType",
                f"must be ServicePrincipal (or left out) with managedIdentity: a managed identity is a service "
                f"principal (it is {self.principal_type})",
            )
        return self

    @property
    def has_identity(self) -> bool:
        """Whether the service gets roles: it names a principal or has one made here."""
        return self.principal_id is not None or self.managed_identity is not None

    @model_validator(mode="after")
    def _does_something(self) -> ServiceSettings:
        if not self.publishes and not self.consumes:
            raise ValueError("a service must publish or consume at least one event type")
        return self


class NamespaceSettings(_Model):
    """The Service Bus namespace: tier, capacity and security posture."""

    tier: Tier = Field(description="Standard or Premium; Basic has no topics.")
    capacity: StrictInt | None = Field(
        default=None,
        ge=1,
        description="Premium messaging units: 1, 2, 4, 8 or 16 times premiumMessagingPartitions; Premium only.",
    )
    premium_messaging_partitions: Literal[1, 2, 4] | None = Field(
        default=None, description="Premium partitions, fixed when the namespace is created; Premium only (default 1)."
    )
    minimum_tls_version: TlsVersion = Field(
        default=TlsVersion.TLS_1_2, description="Lowest TLS version clients may use."
    )
    local_auth_enabled: bool = Field(
        default=False,
        description="Always false: SAS keys stay disabled in every environment; services use Entra ID (RBAC).",
    )
    public_network_access: PublicNetworkAccess = Field(
        default=PublicNetworkAccess.ENABLED,
        description="Public reachability; must be Disabled with privateNetworking.",
    )
    protected: bool = Field(
        default=False,
        description="Pulumi `protect` on the namespace: no update or destroy can delete or replace it.",
    )
    delete_lock: bool = Field(
        default=False,
        description=(
            "A CanNotDelete management lock on the namespace. It also blocks deleting any subscription, rule or "
            "role assignment below it, so removing or renaming a service needs the lock lifted first "
            "(docs/day2.md)."
        ),
    )
    system_assigned_identity: bool | None = Field(
        default=None,
        description="A system-assigned managed identity on the namespace; default: on when protected (and then "
        "required).",
    )
    customer_managed_key: CustomerManagedKeySettings | None = Field(
        default=None,
        description="Encrypt at rest with your Key Vault key and require infrastructure encryption; Premium only.",
    )
    private_networking: PrivateNetworkingSettings | None = Field(
        default=None, description="A private endpoint and private DNS for the namespace; Premium only; off if absent."
    )
    network_rules: NetworkRulesSettings | None = Field(
        default=None,
        description="The namespace firewall (trusted services, IP rules); created with defaults under "
        "privateNetworking.",
    )
    diagnostics: DiagnosticsSettings | None = Field(
        default=None, description="All logs and metrics to a Log Analytics workspace; off if absent."
    )
    alerts: AlertsSettings | None = Field(default=None, description="Metric alerts to an action group; off if absent.")
    autoscale: AutoscaleSettings | None = Field(
        default=None, description="Messaging units that follow CPU load; Premium only; off if absent."
    )
    geo_replication: GeoReplicationSettings | None = Field(
        default=None, description="A replica in a second region; Premium only; off if absent."
    )

    @field_validator("local_auth_enabled")
    @classmethod
    def _entra_only(cls, enabled: bool) -> bool:
        if enabled:
            raise ValueError(
                "must be false: local (SAS key) authentication stays disabled in every environment; give each "
                "service a principalId (its managed identity, or in dev a user or group) instead"
            )
        return enabled

    @field_validator("tier", mode="before")
    @classmethod
    def _explain_basic(cls, value: object) -> object:
        if isinstance(value, str) and value.lower() == "basic":
            raise ValueError("'Basic' is not allowed: the Basic tier has no topics; use Standard or Premium")
        return value

    @model_validator(mode="after")
    def _premium_only_fields(self) -> NamespaceSettings:
        # Private endpoints: "supported with the premium tier"
        # (https://learn.microsoft.com/azure/service-bus-messaging/private-link-service). Customer-managed
        # keys, geo-replication and messaging units: Premium only
        # (https://learn.microsoft.com/azure/service-bus-messaging/service-bus-premium-messaging).
        if self.tier is not Tier.PREMIUM:
            for key, value in (
                ("capacity", self.capacity),
                ("premiumMessagingPartitions", self.premium_messaging_partitions),
                ("privateNetworking", self.private_networking),
                ("customerManagedKey", self.customer_managed_key),
                ("autoscale", self.autoscale),
                ("geoReplication", self.geo_replication),
            ):
                if value is not None:
                    raise KeyedError(key, f"is only available with tier Premium (tier is {self.tier})")
        elif self.effective_capacity not in self.allowed_capacities:
            allowed = ", ".join(str(units) for units in self.allowed_capacities)
            raise KeyedError(
                "capacity",
                f"{self.effective_capacity} is not one of {allowed} (messaging units are 1, 2, 4, 8 or 16 times "
                f"premiumMessagingPartitions, which is {self.effective_partitions})",
            )
        return self

    @model_validator(mode="after")
    def _autoscale_within_valid_units(self) -> NamespaceSettings:
        scale, capacity = self.autoscale, self.effective_capacity
        if scale is None or capacity is None:  # no capacity: Standard, which _premium_only_fields refuses
            return self
        allowed = ", ".join(str(units) for units in self.allowed_capacities)
        for key, units in (("minimumCapacity", scale.minimum_capacity), ("maximumCapacity", scale.maximum_capacity)):
            if units not in self.allowed_capacities:
                raise KeyedError(f"autoscale.{key}", f"{units} is not one of {allowed}")
        if not scale.minimum_capacity <= capacity <= scale.maximum_capacity:
            raise KeyedError(
                "capacity",
                f"{capacity} must lie between autoscale.minimumCapacity {scale.minimum_capacity} "
                f"and autoscale.maximumCapacity {scale.maximum_capacity}",
            )
        return self

    @model_validator(mode="after")
    def _network_access_is_consistent(self) -> NamespaceSettings:
        if self.private_networking is not None and self.public_network_access is not PublicNetworkAccess.DISABLED:
            raise KeyedError(
                "publicNetworkAccess",
                f"must be Disabled with privateNetworking (it is {self.public_network_access}): clients reach the "
                "namespace through its private endpoint only",
            )
        rules = self.network_rules
        if rules is not None and self.public_network_access is PublicNetworkAccess.SECURED_BY_PERIMETER:
            raise KeyedError(
                "networkRules",
                "cannot be combined with publicNetworkAccess SecuredByPerimeter: the rule set's own "
                "publicNetworkAccess takes only Enabled or Disabled, and it must equal the namespace's",
            )
        if rules is not None and rules.ip_rules and self.public_network_access is not PublicNetworkAccess.ENABLED:
            raise KeyedError(
                "networkRules.ipRules",
                "apply to the public endpoint only, which publicNetworkAccess Disabled turns off; remove them",
            )
        return self

    @model_validator(mode="after")
    def _protected_namespaces_have_an_identity(self) -> NamespaceSettings:
        if self.protected and self.system_assigned_identity is False:
            raise KeyedError(
                "systemAssignedIdentity",
                "must be true on a protected (production) namespace: it is how the namespace reaches Key Vault and "
                "other services without secrets",
            )
        return self

    @property
    def effective_system_assigned_identity(self) -> bool:
        """Whether the namespace gets a system-assigned identity: as configured, else when protected."""
        return self.protected if self.system_assigned_identity is None else self.system_assigned_identity

    @property
    def effective_network_rules(self) -> NetworkRulesSettings | None:
        """The firewall to create: as configured, or the default one that private networking brings."""
        if self.network_rules is None and self.private_networking is not None:
            return NetworkRulesSettings()
        return self.network_rules

    @property
    def allowed_capacities(self) -> tuple[int, ...]:
        """Messaging units Azure accepts for this many partitions (Azure REST API, SBSku.capacity)."""
        return tuple(units * self.effective_partitions for units in UNITS_PER_PARTITION)

    @property
    def effective_capacity(self) -> int | None:
        """Messaging units to request: the configured value, 1 on Premium, none on Standard."""
        if self.tier is not Tier.PREMIUM:
            return None
        return 1 if self.capacity is None else self.capacity

    @property
    def effective_partitions(self) -> int:
        """Premium partitions to request (1 unless configured)."""
        return self.premium_messaging_partitions or 1


class StackSettings(_Model):
    """Everything one stack file configures."""

    environment: EnvironmentName = Field(
        description="Environment name, equal to the stack name: dev, staging, prod... (2-10 lowercase letters/digits)."
    )
    location: str = Field(description="Azure region (ARM location name), e.g. westeurope.")
    workload: WorkloadName = Field(
        description="Workload name used in every resource name (2-12 lowercase letters/digits)."
    )
    instance: InstanceNumber = Field(default="001", description="Three-digit instance suffix, e.g. '001'.")
    resource_group_name: str | None = Field(
        default=None,
        description="An existing resource group to deploy into; by default one is created.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Tags for every taggable resource; must include owner and costCenter.",
    )
    namespace: NamespaceSettings = Field(description="The Service Bus namespace.")
    topic: TopicSettings = Field(default_factory=TopicSettings, description="The pipeline's topic.")
    external_event_types: tuple[EventType, ...] = Field(
        default=(), description="Event types published from outside the pipeline."
    )
    services: tuple[ServiceSettings, ...] = Field(min_length=1, description="The pipeline's services.")
    retired_services: tuple[ServiceName, ...] = Field(
        default=(),
        description=(
            "Services removed on purpose: their subscriptions, with any waiting and dead-lettered messages, "
            "may be deleted (the change rule change-subscription-deleted asks for this acknowledgement)."
        ),
    )

    @field_validator("location")
    @classmethod
    def _known_region(cls, location: str) -> str:
        if location not in AZURE_REGIONS:
            close = difflib.get_close_matches(location.lower().replace(" ", ""), sorted(AZURE_REGIONS), n=3)
            suggestion = f"did you mean {' or '.join(close)}? " if close else ""
            raise ValueError(
                f"{location!r} is not an Azure region name; {suggestion}allowed: the lowercase ARM names in "
                f"settings/azure_regions.py (Azure public cloud, as of {REGIONS_AS_OF}), e.g. westeurope"
            )
        return location

    @field_validator("resource_group_name")
    @classmethod
    def _valid_resource_group_name(cls, name: str | None) -> str | None:
        if name is not None and not RESOURCE_GROUP_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not valid: a resource group name is 1-90 characters: letters, digits, '_', '-', "
                "'.', '(' and ')', not ending with '.'"
            )
        return name

    @field_validator("tags")
    @classmethod
    def _required_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        missing = [tag for tag in REQUIRED_USER_TAGS if not tags.get(tag, "").strip()]
        if missing:
            raise ValueError(f"must set {' and '.join(missing)} (required tags)")
        return tags

    @field_validator("tags")
    @classmethod
    def _tags_fit_azure(cls, tags: dict[str, str]) -> dict[str, str]:
        allowed = MAX_TAGS_PER_RESOURCE - len(PROGRAM_TAGS)
        if len(tags) > allowed:
            raise ValueError(
                f"has {len(tags)} tags; at most {allowed} are allowed (Azure takes {MAX_TAGS_PER_RESOURCE} per "
                f"resource and the program adds {' and '.join(PROGRAM_TAGS)})"
            )
        seen: dict[str, str] = {}
        for name, value in tags.items():
            problem = _tag_problem(name, value)
            if problem:
                raise KeyedError(name, problem)
            if name.lower() in seen:
                raise KeyedError(name, f"repeats the tag {seen[name.lower()]!r}: Azure tag names ignore case")
            seen[name.lower()] = name
        return tags

    @model_validator(mode="after")
    def _replica_in_another_region(self) -> StackSettings:
        replica = self.namespace.geo_replication
        if replica is None:
            return self
        if replica.secondary_location not in AZURE_REGIONS:
            raise KeyedError(
                "namespace.geoReplication.secondaryLocation",
                f"{shorten(replica.secondary_location)} is not an Azure region name (settings/azure_regions.py)",
            )
        if replica.secondary_location == self.location:
            raise KeyedError(
                "namespace.geoReplication.secondaryLocation",
                f"must differ from location ({self.location}): a replica in the same region protects nothing",
            )
        return self

    @model_validator(mode="after")
    def _names_fit_azure(self) -> StackSettings:
        problem = namespace_name_problem(self.names.namespace)
        if problem:
            raise KeyedError(
                "workload",
                f"the namespace name '{self.names.namespace}' built from workload, environment, "
                f"location and instance {problem}",
            )
        return self

    @model_validator(mode="after")
    def _unique_services(self) -> StackSettings:
        counts = Counter(service.name.lower() for service in self.services)
        repeated = sorted(name for name, count in counts.items() if count > 1)
        if repeated:
            raise KeyedError("services", f"service names must be unique; repeated: {', '.join(repeated)}")
        return self

    @model_validator(mode="after")
    def _retired_services_are_gone(self) -> StackSettings:
        active = {service.name for service in self.services}
        still_here = sorted(set(self.retired_services) & active)
        if still_here:
            raise KeyedError(
                "retiredServices",
                f"{', '.join(still_here)} still run (listed under services); retire a service only once it is removed",
            )
        return self

    @model_validator(mode="after")
    def _consumed_events_have_a_source(self) -> StackSettings:
        sources = set(self.external_event_types)
        for service in self.services:
            sources.update(service.publishes)
        for index, service in enumerate(self.services):
            orphans = [event for event in service.consumes if event not in sources]
            if orphans:
                raise KeyedError(
                    f"services[{index}].consumes",
                    f"service '{service.name}' consumes {listing(orphans)}, which no service "
                    "publishes; publish it from a service or list it in externalEventTypes",
                )
        return self

    @model_validator(mode="after")
    def _fits_topic_quotas(self) -> StackSettings:
        consumers = len(self.consumers)
        if consumers > MAX_SUBSCRIPTIONS_PER_TOPIC:
            raise KeyedError(
                "services",
                f"{consumers} services consume events; a topic has at most {MAX_SUBSCRIPTIONS_PER_TOPIC:,} "
                "subscriptions (Azure quota)",
            )
        filters = sum(len(service.consumes) for service in self.services)
        if filters > MAX_CORRELATION_FILTERS_PER_TOPIC:
            raise KeyedError(
                "services",
                f"{filters} consumed event types need as many filters; a topic has at most "
                f"{MAX_CORRELATION_FILTERS_PER_TOPIC:,} correlation filters (Azure quota)",
            )
        return self

    @model_validator(mode="after")
    def _no_service_consumes_its_own_events(self) -> StackSettings:
        for index, service in enumerate(self.services):
            loop = [event for event in service.consumes if event in service.publishes]
            if loop:
                raise KeyedError(
                    f"services[{index}].consumes",
                    f"service '{service.name}' consumes {', '.join(loop)}, which it publishes itself: every "
                    "event it sends would come back to it (a loop); publish a new event type for its output",
                )
        return self

    @model_validator(mode="after")
    def _one_type_per_principal(self) -> StackSettings:
        seen: dict[UUID, PrincipalType] = {}
        for index, service in enumerate(self.services):
            if service.principal_id is None:
                continue
            known = seen.setdefault(service.principal_id, service.principal_type)
            if known is not service.principal_type:
                raise KeyedError(
                    f"services[{index}].principalType",
                    f"principal {service.principal_id} is a {known} for another service; one principal has one type",
                )
        return self

    @model_validator(mode="after")
    def _large_messages_need_premium(self) -> StackSettings:
        if self.topic.max_message_size_in_kilobytes is not None and self.namespace.tier is not Tier.PREMIUM:
            raise KeyedError(
                "topic.maxMessageSizeInKilobytes",
                f"is only available with tier Premium: Standard accepts at most {STANDARD_MAX_MESSAGE_KB} KB per "
                "message; remove it",
            )
        return self

    @model_validator(mode="after")
    def _protected_stacks_never_auto_delete(self) -> StackSettings:
        if not self.namespace.protected:
            return self
        for index, service in enumerate(self.services):
            if service.delivery.auto_delete_on_idle is not None:
                raise KeyedError(
                    f"services[{index}].delivery.autoDeleteOnIdle",
                    f"must not be set on a protected (production) stack: service '{service.name}''s subscription "
                    "would be deleted, with its messages, whenever it is idle that long",
                )
        return self

    @property
    def max_message_size_in_kilobytes(self) -> int:
        """The largest message the topic accepts: 256 KB on Standard, the configured size or 1024 KB on Premium."""
        if self.namespace.tier is not Tier.PREMIUM:
            return STANDARD_MAX_MESSAGE_KB
        return self.topic.max_message_size_in_kilobytes or PREMIUM_DEFAULT_MAX_MESSAGE_KB

    @property
    def names(self) -> PipelineNames:
        """The deterministic Azure names of this stack's resources."""
        return PipelineNames(self.workload, self.environment, self.location, self.instance)

    @property
    def consumers(self) -> tuple[ServiceSettings, ...]:
        """Services that consume at least one event type, i.e. that get a subscription."""
        return tuple(service for service in self.services if service.consumes)

    @property
    def all_tags(self) -> dict[str, str]:
        """User tags plus the tags every resource carries by construction."""
        return {**self.tags, "environment": self.environment, "workload": self.workload}


def _tag_problem(name: str, value: str) -> str | None:
    """Why Azure would refuse this tag, or None."""
    if name.lower() in PROGRAM_TAGS:
        return f"is set by the program (to the stack's {name.lower()}); remove it here"
    if not name or len(name) > MAX_TAG_NAME_LENGTH:
        return f"a tag name has 1-{MAX_TAG_NAME_LENGTH} characters (this one has {len(name)})"
    forbidden = sorted({char for char in name if char in TAG_NAME_FORBIDDEN})
    if forbidden:
        return f"a tag name must not contain {' '.join(TAG_NAME_FORBIDDEN)} (found {' '.join(forbidden)})"
    if len(value) > MAX_TAG_VALUE_LENGTH:
        return f"a tag value has at most {MAX_TAG_VALUE_LENGTH} characters (this one has {len(value)})"
    return None
