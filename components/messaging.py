"""``ServiceBusPipeline``: the namespace, the pipeline topic, one filtered subscription per consumer,
and least-privilege access for every service.

Routing: a new subscription's ``$Default`` rule is a TrueFilter that receives every message on the
topic. Each subscription's ``$Default`` rule is therefore replaced (``servicebus.DefaultRule``) by a
correlation filter on the message subject (``label``) for the service's first event type; each
further event type gets its own correlation rule (rules are OR-ed by the broker). Correlation
filters are cheaper for the broker than SQL filters.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization, servicebus

from components.naming import PipelineNames
from components.roles import ServiceBusRole, role_definition_id
from settings.model import (
    DeliverySettings,
    NamespaceSettings,
    ServiceSettings,
    StackSettings,
    iso8601,
)

SERVICE_BUS_DNS_SUFFIX = "servicebus.windows.net"
# Fixed namespace for deterministic role assignment GUIDs (same inputs, same assignment name).
_ROLE_ASSIGNMENT_NAMESPACE = uuid.UUID("6f1e4d0a-2b7c-4c8e-9f3a-5d6b7c8e9f01")


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
        )


class ServiceBusPipeline(pulumi.ComponentResource):
    """Azure Service Bus messaging for one decoupled pipeline."""

    namespace_name: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    topic_name: pulumi.Output[str]
    subscriptions: dict[str, pulumi.Output[str]]
    connection_strings: dict[str, pulumi.Output[str]]

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
        if args.namespace.protected:
            self._lock(namespace, child)
        topic = servicebus.Topic(
            f"{name}-topic",
            topic_name=args.names.topic,
            namespace_name=namespace.name,
            resource_group_name=args.resource_group_name,
            opts=child,
        )
        subscription_id = (
            authorization.get_client_config_output(opts=pulumi.InvokeOptions(parent=self)).subscription_id
            if any(service.principal_id for service in args.services)
            else None
        )

        self.namespace_name = namespace.name
        self.endpoint = namespace.name.apply(lambda ns: f"{ns}.{SERVICE_BUS_DNS_SUFFIX}")
        self.topic_name = topic.name
        self.subscriptions = {}
        self.connection_strings = {}
        for service in args.services:
            subscription = self._subscription(service, namespace, topic, child) if service.consumes else None
            if subscription is not None:
                self.subscriptions[service.name] = subscription.name
            if service.principal_id and subscription_id is not None:
                self._role_assignments(service, topic, subscription, subscription_id, child)
            if service.sas_rule:
                self.connection_strings[service.name] = self._sas_rule(service, namespace, topic, child)

        self.register_outputs(
            {
                "namespaceName": self.namespace_name,
                "endpoint": self.endpoint,
                "topicName": self.topic_name,
                "subscriptions": self.subscriptions,
                "connectionStrings": pulumi.Output.secret(self.connection_strings),
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
            disable_local_auth=not settings.local_auth_enabled,
            public_network_access=settings.public_network_access.value,
            tags=dict(self._args.tags),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(protect=settings.protected)),
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
            dead_lettering_on_filter_evaluation_exceptions=True,
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
                rule_name=f"evt-{event_type}",
                filter_type=servicebus.FilterType.CORRELATION_FILTER,
                correlation_filter=servicebus.CorrelationFilterArgs(label=event_type),
                namespace_name=namespace.name,
                resource_group_name=self._args.resource_group_name,
                topic_name=topic.name,
                subscription_name=subscription.name,
                opts=child,
            )
        return subscription

    def _role_assignments(
        self,
        service: ServiceSettings,
        topic: servicebus.Topic,
        subscription: servicebus.Subscription | None,
        subscription_id: pulumi.Output[str],
        child: pulumi.ResourceOptions,
    ) -> None:
        grants: list[tuple[str, ServiceBusRole, pulumi.Output[str]]] = []
        if service.publishes:
            grants.append(("sender", ServiceBusRole.DATA_SENDER, topic.id))
        if subscription is not None:
            grants.append(("receiver", ServiceBusRole.DATA_RECEIVER, subscription.id))
        for suffix, role, scope in grants:
            authorization.RoleAssignment(
                f"{self._name}-{service.name}-{suffix}",
                role_assignment_name=str(
                    uuid.uuid5(
                        _ROLE_ASSIGNMENT_NAMESPACE,
                        f"{self._args.names.namespace}/{service.name}/{service.principal_id}/{role.value}",
                    )
                ),
                principal_id=str(service.principal_id),
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=role_definition_id(subscription_id, role),
                scope=scope,
                description=f"{service.name}: {role.name.replace('_', ' ').title()} (least privilege)",
                opts=child,
            )

    def _sas_rule(
        self,
        service: ServiceSettings,
        namespace: servicebus.Namespace,
        topic: servicebus.Topic,
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        rights = [servicebus.AccessRights.SEND] if service.publishes else []
        if service.consumes:
            rights.append(servicebus.AccessRights.LISTEN)
        rule = servicebus.TopicAuthorizationRule(
            f"{self._name}-{service.name}-sas",
            authorization_rule_name=self._args.names.sas_rule(service.name),
            rights=rights,
            topic_name=topic.name,
            namespace_name=namespace.name,
            resource_group_name=self._args.resource_group_name,
            opts=child,
        )
        keys = servicebus.list_topic_keys_output(
            authorization_rule_name=rule.name,
            namespace_name=namespace.name,
            resource_group_name=self._args.resource_group_name,
            topic_name=topic.name,
            opts=pulumi.InvokeOptions(parent=self),
        )
        return pulumi.Output.secret(keys.primary_connection_string)
