"""``ServiceBusPipeline``: the namespace, the pipeline topic, one filtered subscription per consumer,
and least-privilege access for every service.

Routing: a new subscription's ``$Default`` rule is a TrueFilter that receives every message on the
topic. Each subscription's ``$Default`` rule is therefore replaced (``servicebus.DefaultRule``) by a
correlation filter on the message subject (``label``) for the service's first event type; each
further event type gets its own correlation rule (rules are OR-ed by the broker). Correlation
filters are cheaper for the broker than SQL filters.

Access: one role assignment per (scope, principal, role), named by a GUID derived from exactly
those three, as Microsoft recommends (learn.microsoft.com/azure/role-based-access-control/troubleshooting:
Azure refuses a second assignment of the same role to the same principal at the same scope with 409
RoleAssignmentExists). Services that share an identity share its grants, and renaming a publishing
service changes nothing in Azure.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
from pulumi_azure_native import authorization, servicebus

from components.identity import ServiceIdentity, ServiceIdentityArgs
from components.monitoring import autoscale, diagnostics, metric_alerts
from components.networking import network_rule_set, private_endpoint
from components.roles import ServiceBusRole, role_definition_id
from settings.durations import iso8601
from settings.features import TopicSettings
from settings.model import (
    DeliverySettings,
    NamespaceSettings,
    PrincipalType,
    ServiceSettings,
    StackSettings,
    Tier,
)
from settings.naming import PipelineNames, fully_qualified_namespace

# Fixed namespace for deterministic role assignment GUIDs (same inputs, same assignment name).
_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("6f1e4d0a-2b7c-4c8e-9f3a-5d6b7c8e9f01")


def role_assignment_name(scope: str, principal_id: str, role: ServiceBusRole) -> str:
    """The assignment's GUID from (scope, principal, role); ARM IDs compare case-insensitively."""
    return str(uuid.uuid5(_ROLE_ASSIGNMENT_NAMESPACE, f"{scope.lower()}|{principal_id.lower()}|{role.value}"))


def namespace_identity(settings: NamespaceSettings) -> servicebus.IdentityArgs | None:
    """The namespace's managed identities: system-assigned when configured (default: when protected), plus the
    customer-managed key's user-assigned identity."""
    key = settings.customer_managed_key
    system = settings.effective_system_assigned_identity
    if key is None:
        return servicebus.IdentityArgs(type=servicebus.ManagedServiceIdentityType.SYSTEM_ASSIGNED) if system else None
    return servicebus.IdentityArgs(
        type=servicebus.ManagedServiceIdentityType.SYSTEM_ASSIGNED_USER_ASSIGNED
        if system
        else servicebus.ManagedServiceIdentityType.USER_ASSIGNED,
        user_assigned_identities=[key.user_assigned_identity_id],
    )


def namespace_encryption(settings: NamespaceSettings) -> servicebus.EncryptionArgs | None:
    """Customer-managed key encryption with infrastructure (double) encryption, or None for Microsoft-managed keys.

    Premium only, through a user-assigned identity that can use the key
    (learn.microsoft.com/azure/service-bus-messaging/configure-customer-managed-key).
    """
    key = settings.customer_managed_key
    if key is None:
        return None
    reference = key.key
    return servicebus.EncryptionArgs(
        key_source=servicebus.KeySource.MICROSOFT_KEY_VAULT,
        key_vault_properties=[
            servicebus.KeyVaultPropertiesArgs(
                key_vault_uri=reference.vault_uri,
                key_name=reference.name,
                key_version=reference.version,
                identity=servicebus.UserAssignedIdentityPropertiesArgs(
                    user_assigned_identity=key.user_assigned_identity_id
                ),
            )
        ],
        require_infrastructure_encryption=True,
    )


@dataclass
class _Grant:
    """One role for one principal at one scope, and the services that need it."""

    key: str
    role: ServiceBusRole
    principal_id: pulumi.Input[str]
    principal_type: PrincipalType
    scope: pulumi.Output[str]
    services: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ServiceBusPipelineArgs:
    """Inputs of a ``ServiceBusPipeline``."""

    resource_group_name: pulumi.Input[str]
    """Resource group that holds the namespace (created by the program or pre-existing)."""

    location: str
    """Azure region of the namespace, e.g. ``westeurope``."""

    names: PipelineNames
    """Deterministic CAF names for the namespace, topic and subscriptions."""

    namespace: NamespaceSettings
    """Tier, capacity and security posture of the namespace."""

    services: Sequence[ServiceSettings]
    """The pipeline's services; consumers get a subscription, identities get RBAC."""

    tags: Mapping[str, str]
    """Tags for every taggable resource (environment and workload included)."""

    topic: TopicSettings = field(default_factory=TopicSettings)
    """Duplicate detection and message size of the topic."""

    @classmethod
    def from_settings(cls, settings: StackSettings, resource_group_name: pulumi.Input[str]) -> ServiceBusPipelineArgs:
        """Build the args from a validated stack's settings."""
        return cls(
            resource_group_name=resource_group_name,
            location=settings.location,
            names=settings.names,
            namespace=settings.namespace,
            services=settings.services,
            tags=settings.all_tags,
            topic=settings.topic,
        )


class ServiceBusPipeline(pulumi.ComponentResource):
    """Azure Service Bus messaging for one decoupled pipeline."""

    namespace_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    topic_name: pulumi.Output[str]
    subscriptions: dict[str, pulumi.Output[str]]
    identities: dict[str, ServiceIdentity]
    """The identities made here, by service (``managedIdentity`` in its settings)."""

    def __init__(
        self,
        name: str,
        args: ServiceBusPipelineArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ml-messaging:messaging:ServiceBusPipeline", name, None, opts)
        self._name = name
        self._args = args
        child = pulumi.ResourceOptions(parent=self)

        namespace = self._namespace(child)
        if args.namespace.delete_lock:
            self._lock(namespace, child)
        self._network(namespace, child)
        self._monitoring(namespace, child)
        topic = self._topic(namespace, child)

        self.namespace_name = namespace.name
        self.endpoint = namespace.name.apply(fully_qualified_namespace)
        self.topic_name = topic.name
        self.subscriptions = {}
        self.identities = {}
        grants: dict[str, _Grant] = {}
        for service in args.services:
            subscription = self._subscription(service, namespace, topic, child) if service.consumes else None
            if subscription is not None:
                self.subscriptions[service.name] = subscription.name
            if service.managed_identity is not None:
                self.identities[service.name] = self._identity(service, child)
            if service.has_identity:
                self._collect_grants(grants, service, topic, subscription)

        if grants:
            subscription_id = authorization.get_client_config_output(
                opts=pulumi.InvokeOptions(parent=self)
            ).subscription_id
            for grant in grants.values():
                self._role_assignment(grant, subscription_id, child)

        self.register_outputs(
            {
                "namespaceName": self.namespace_name,
                "endpoint": self.endpoint,
                "topicName": self.topic_name,
                "subscriptions": self.subscriptions,
                "clientIds": {name: identity.client_id for name, identity in self.identities.items()},
            }
        )

    def _namespace(self, child: pulumi.ResourceOptions) -> servicebus.Namespace:
        settings = self._args.namespace
        return servicebus.Namespace(
            f"{self._name}-namespace",
            namespace_name=self._args.names.namespace,
            resource_group_name=self._args.resource_group_name,
            location=self._args.location,
            sku=servicebus.SBSkuArgs(
                name=servicebus.SkuName(settings.tier.value),
                tier=servicebus.SkuTier(settings.tier.value),
                capacity=settings.effective_capacity,
            ),
            premium_messaging_partitions=(settings.effective_partitions if settings.effective_capacity else None),
            minimum_tls_version=settings.minimum_tls_version.value,
            disable_local_auth=True,  # Entra ID only: no SAS key exists to leak
            public_network_access=settings.public_network_access.value,
            identity=namespace_identity(settings),
            encryption=namespace_encryption(settings),
            geo_data_replication=self._replication(),
            tags=dict(self._args.tags),
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    protect=settings.protected,
                    # With autoscale, Azure moves the capacity; an update must not move it back.
                    ignore_changes=["sku.capacity"] if settings.autoscale else None,
                ),
            ),
        )

    def _replication(self) -> servicebus.GeoDataReplicationPropertiesArgs | None:
        replica = self._args.namespace.geo_replication
        if replica is None:
            return None
        # https://learn.microsoft.com/azure/service-bus-messaging/service-bus-geo-replication
        replica_location = servicebus.NamespaceReplicaLocationArgs
        return servicebus.GeoDataReplicationPropertiesArgs(
            locations=[
                replica_location(location_name=self._args.location, role_type="Primary"),
                replica_location(location_name=replica.secondary_location, role_type="Secondary"),
            ],
            max_replication_lag_duration_in_seconds=replica.max_replication_lag_duration_in_seconds,
        )

    def _network(self, namespace: servicebus.Namespace, child: pulumi.ResourceOptions) -> None:
        settings, args = self._args.namespace, self._args
        rules = settings.effective_network_rules
        if rules is not None:
            network_rule_set(
                self._name, rules, settings.public_network_access.value, namespace, args.resource_group_name, child
            )
        if settings.private_networking is not None:
            private_endpoint(
                self._name,
                args.names,
                settings.private_networking,
                namespace,
                args.resource_group_name,
                args.location,
                args.tags,
                child,
            )

    def _monitoring(self, namespace: servicebus.Namespace, child: pulumi.ResourceOptions) -> None:
        settings, args = self._args.namespace, self._args
        if settings.diagnostics is not None:
            diagnostics(
                self._name,
                args.names,
                settings.diagnostics,
                namespace,
                args.resource_group_name,
                args.location,
                args.tags,
                child,
            )
        capacity = settings.effective_capacity
        if settings.autoscale is not None and capacity is not None:  # autoscale is Premium only: it has a capacity
            autoscale(
                self._name,
                args.names,
                settings.autoscale,
                capacity,
                namespace,
                args.resource_group_name,
                args.location,
                args.tags,
                child,
            )
        if settings.alerts is not None:
            metric_alerts(
                self._name,
                args.names,
                settings.alerts,
                settings.tier is Tier.PREMIUM,
                namespace,
                args.resource_group_name,
                args.tags,
                child,
            )

    def _topic(self, namespace: servicebus.Namespace, child: pulumi.ResourceOptions) -> servicebus.Topic:
        args, topic = self._args, self._args.topic
        window = topic.effective_duplicate_window
        return servicebus.Topic(
            f"{self._name}-topic",
            topic_name=args.names.topic,
            namespace_name=namespace.name,
            resource_group_name=args.resource_group_name,
            # A partitioned namespace refuses non-partitioned entities, and the reverse
            # (learn.microsoft.com/azure/service-bus-messaging/enable-partitions-premium).
            enable_partitioning=True if args.namespace.effective_partitions > 1 else None,
            # Create-only: "can't enable or disable duplicate detection after the queue or topic is created"
            # (learn.microsoft.com/azure/service-bus-messaging/enable-duplicate-detection); sent only when on,
            # so stacks deployed before this setting existed see no change.
            requires_duplicate_detection=True if topic.requires_duplicate_detection else None,
            duplicate_detection_history_time_window=iso8601(window) if window is not None else None,
            # Premium only, 1024-102400 KB (learn.microsoft.com/azure/service-bus-messaging/
            # service-bus-premium-messaging#large-messages-support).
            max_message_size_in_kilobytes=topic.max_message_size_in_kilobytes,
            opts=child,
        )

    def _lock(self, namespace: servicebus.Namespace, child: pulumi.ResourceOptions) -> None:
        authorization.ManagementLockByScope(
            f"{self._name}-namespace-lock",
            lock_name=self._args.names.management_lock,
            level=authorization.LockLevel.CAN_NOT_DELETE,
            scope=namespace.id,
            notes="Protects the pipeline's messaging namespace from deletion (managed by Pulumi).",
            opts=child,
        )

    def _subscription(
        self,
        service: ServiceSettings,
        namespace: servicebus.Namespace,
        topic: servicebus.Topic,
        child: pulumi.ResourceOptions,
    ) -> servicebus.Subscription:
        delivery: DeliverySettings = service.delivery
        prefix = f"{self._name}-{service.name}"
        subscription = servicebus.Subscription(
            f"{prefix}-subscription",
            subscription_name=self._args.names.subscription(service.name),
            topic_name=topic.name,
            namespace_name=namespace.name,
            resource_group_name=self._args.resource_group_name,
            max_delivery_count=delivery.max_delivery_count,
            lock_duration=iso8601(delivery.lock_duration),
            default_message_time_to_live=iso8601(delivery.default_message_time_to_live),
            dead_lettering_on_message_expiration=delivery.dead_lettering_on_message_expiration,
            dead_lettering_on_filter_evaluation_exceptions=delivery.dead_lettering_on_filter_evaluation_exceptions,
            auto_delete_on_idle=iso8601(delivery.auto_delete_on_idle) if delivery.auto_delete_on_idle else None,
            opts=child,
        )
        first, *others = service.consumes
        servicebus.DefaultRule(
            f"{prefix}-default-rule",
            filter_type=servicebus.FilterType.CORRELATION_FILTER,
            correlation_filter=servicebus.CorrelationFilterArgs(label=first),
            namespace_name=namespace.name,
            resource_group_name=self._args.resource_group_name,
            topic_name=topic.name,
            subscription_name=subscription.name,
            opts=child,
        )
        for event_type in others:
            servicebus.Rule(
                f"{prefix}-rule-{event_type}",
                rule_name=self._args.names.rule(event_type),
                filter_type=servicebus.FilterType.CORRELATION_FILTER,
                correlation_filter=servicebus.CorrelationFilterArgs(label=event_type),
                namespace_name=namespace.name,
                resource_group_name=self._args.resource_group_name,
                topic_name=topic.name,
                subscription_name=subscription.name,
                opts=child,
            )
        return subscription

    def _identity(self, service: ServiceSettings, child: pulumi.ResourceOptions) -> ServiceIdentity:
        settings = service.managed_identity
        assert settings is not None  # the caller checked; mypy cannot see it
        return ServiceIdentity(
            f"{self._name}-{service.name}",
            ServiceIdentityArgs(
                identity_name=self._args.names.managed_identity(service.name),
                resource_group_name=self._args.resource_group_name,
                location=self._args.location,
                tags=self._args.tags,
                federated_credentials=settings.federated_credentials,
            ),
            opts=child,
        )

    def _collect_grants(
        self,
        grants: dict[str, _Grant],
        service: ServiceSettings,
        topic: servicebus.Topic,
        subscription: servicebus.Subscription | None,
    ) -> None:
        made = self.identities.get(service.name)
        # A made identity's object ID is known only once Azure creates it; its grants are keyed by service.
        principal: pulumi.Input[str] = made.principal_id if made is not None else str(service.principal_id)
        principal_key = f"id-{service.name}" if made is not None else str(service.principal_id)
        wanted: list[tuple[str, ServiceBusRole, pulumi.Output[str]]] = []
        if service.publishes:
            # One topic: the sender grant belongs to the principal, whichever services use it.
            wanted.append((f"sender-{principal_key}", ServiceBusRole.DATA_SENDER, topic.id))
        if subscription is not None:
            wanted.append((f"{service.name}-receiver", ServiceBusRole.DATA_RECEIVER, subscription.id))
        for key, role, scope in wanted:
            grant = grants.setdefault(key, _Grant(key, role, principal, service.principal_type, scope))
            grant.services.append(service.name)

    def _role_assignment(
        self, grant: _Grant, subscription_id: pulumi.Output[str], child: pulumi.ResourceOptions
    ) -> None:
        role, principal = grant.role, grant.principal_id
        authorization.RoleAssignment(
            f"{self._name}-{grant.key}",
            role_assignment_name=pulumi.Output.all(grant.scope, principal).apply(
                lambda values: role_assignment_name(str(values[0]), str(values[1]), role)
            ),
            principal_id=principal,
            principal_type=authorization.PrincipalType(grant.principal_type.value),
            role_definition_id=role_definition_id(subscription_id, role),
            scope=grant.scope,
            # Stable text: an edit of the services sharing a grant must not touch the assignment.
            description=f"{role.name.replace('_', ' ').title()} for the ML pipeline (least privilege)",
            # Sender grants were once named per service: stacks deployed then update in place.
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    aliases=[pulumi.Alias(name=f"{self._name}-{service}-sender") for service in grant.services]
                    if role is ServiceBusRole.DATA_SENDER
                    else None
                ),
            ),
        )
