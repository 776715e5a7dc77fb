"""Every rule, through the real pack over the Analyzer protocol: it passes a compliant stack, blocks
a noncompliant one at the configured level, handles a missing property and an unknown value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from preflight.engine.driver import evaluate
from preflight.engine.levels import EnforcementLevel
from preflight.engine.pack import PolicyPackProcess
from preflight.engine.resources import EngineResource
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


def first_of(resources: Resources, type_suffix: str) -> EngineResource:
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


NS_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-mlpipe-prod-weu-001/providers/"
    "Microsoft.ServiceBus/namespaces/sbns-mlpipe-prod-weu-001"
)
UAI_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-mlpipe-prod-weu-001/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-mlpipe-prod"
)
CMK = {
    "keySource": "Microsoft.KeyVault",
    "keyVaultProperties": [
        {"keyName": "sb", "keyVaultUri": "https://kv.vault.azure.net", "identity": {"userAssignedIdentity": UAI_ID}}
    ],
    "requireInfrastructureEncryption": True,
}


FIXTURE_SUBSCRIPTIONS = ("sbts-preprocessing", "sbts-training", "sbts-inference", "sbts-result-processing")


def subscription_criteria(metric: str, subscriptions: tuple[str, ...]) -> dict[str, Any]:
    """Alert criteria whose EntityName dimension lists subscriptions rather than the topic (which
    EntityName cannot name: its values are queues and topics)."""
    criteria: dict[str, Any] = alert("b", metric)["criteria"]
    criteria["allOf"][0]["dimensions"][0]["values"] = list(subscriptions)
    return criteria


def alert(name: str, metric: str, entity: str = "sbt-mlpipe-events") -> dict[str, Any]:
    return {
        "scopes": [NS_ID],
        "enabled": True,
        "severity": 2,
        "actions": [
            {"actionGroupId": "/subscriptions/0/resourceGroups/rg/providers/microsoft.insights/actionGroups/ag"}
        ],
        "criteria": {
            "odataType": "Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
            "allOf": [
                {
                    "name": name,
                    "metricName": metric,
                    "operator": "GreaterThan",
                    "threshold": 0,
                    "timeAggregation": "Maximum",
                    "dimensions": [{"name": "EntityName", "operator": "Include", "values": [entity]}],
                }
            ],
        },
    }


_PRODUCTION_PARTS = (
    ":PrivateEndpoint",
    ":PrivateDnsZoneGroup",
    ":PrivateZone",
    ":VirtualNetworkLink",
    ":NamespaceNetworkRuleSet",
    ":DiagnosticSetting",
    ":Workspace",
    ":MetricAlert",
    ":AutoscaleSetting",
)


WORKSPACE_ID = "/subscriptions/0/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w"


def production_grade(resources: Resources) -> Resources:
    """The fixture prod stack plus what the production-grade component adds (private endpoint,
    diagnostics, alerts, identity/CMK, geo-replication, autoscale, duplicate detection), built here
    rather than taken from the fixture, so that each rule's bad case removes the only compliant part."""
    resources = [r for r in resources if not r.type.endswith(_PRODUCTION_PARTS)]
    resources = change(
        resources,
        "Namespace",
        publicNetworkAccess="Disabled",
        identity={"type": "UserAssigned", "userAssignedIdentities": [UAI_ID]},
        encryption=CMK,
        geoDataReplication={
            "locations": [
                {"locationName": "westeurope", "roleType": "Primary"},
                {"locationName": "northeurope", "roleType": "Secondary"},
            ]
        },
    )
    resources = change(resources, "Topic", requiresDuplicateDetection=True, duplicateDetectionHistoryTimeWindow="PT10M")
    namespace = first_of(resources, "Namespace")
    extras = [
        extra_resource(
            namespace,
            "azure-native:network:PrivateEndpoint",
            "ml-pipeline-pe",
            {
                "privateLinkServiceConnections": [
                    {"name": "sb", "privateLinkServiceId": NS_ID, "groupIds": ["namespace"]}
                ],
                "subnet": {
                    "id": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/s"
                },
            },
            privateLinkServiceConnections=[namespace.urn],
        ),
        extra_resource(
            namespace,
            "azure-native:monitor:DiagnosticSetting",
            "ml-pipeline-diagnostics",
            {
                "resourceUri": NS_ID,
                "logs": [{"categoryGroup": "allLogs", "enabled": True}],
                "metrics": [{"category": "AllMetrics", "enabled": True}],
                "workspaceId": WORKSPACE_ID,
            },
            resourceUri=[namespace.urn],
        ),
        extra_resource(
            namespace,
            "azure-native:monitor:MetricAlert",
            "ml-pipeline-deadletter-alert",
            alert("deadletter", "DeadletteredMessages"),
            scopes=[namespace.urn],
        ),
        extra_resource(
            namespace,
            "azure-native:monitor:MetricAlert",
            "ml-pipeline-backlog-alert",
            alert("backlog", "ActiveMessages"),
            scopes=[namespace.urn],
        ),
        extra_resource(
            namespace,
            "azure-native:monitor:AutoscaleSetting",
            "ml-pipeline-autoscale",
            {"targetResourceUri": NS_ID, "enabled": True, "profiles": [{"name": "default"}]},
            targetResourceUri=[namespace.urn],
        ),
    ]
    for extra in extras:
        resources = added(resources, extra)
    return resources


def extra(type_: str, name: str, properties: dict[str, Any], **deps: str) -> Mutation:
    """Add a resource beside the namespace; ``deps`` name a property and the type suffix it depends on."""

    def add(resources: Resources) -> Resources:
        namespace = first_of(resources, "Namespace")
        dependencies = {key: [first_of(resources, suffix).urn] for key, suffix in deps.items()}
        return added(resources, extra_resource(namespace, type_, name, properties, **dependencies))

    return add


def role(name: str, role_id: str, scope_id: str, **deps: str) -> Mutation:
    """A role assignment beside the namespace; ``scope="ResourceGroup"`` makes its scope depend on it."""
    return extra(
        "azure-native:authorization:RoleAssignment",
        name,
        {"principalId": "x", "roleDefinitionId": ROLE_PREFIX + role_id, "scope": scope_id},
        **deps,
    )


def rule(name: str, subscription: str, properties: dict[str, Any]) -> Mutation:
    def add(resources: Resources) -> Resources:
        target = next(r for r in resources if r.name == f"ml-pipeline-{subscription}-subscription")
        return added(
            resources,
            extra_resource(
                target,
                "azure-native:servicebus:Rule",
                name,
                {"ruleName": name, "subscriptionName": f"sbts-{subscription}", **properties},
                subscriptionName=[target.urn],
            ),
        )

    return add


def backlog_alert(values: object, **deps: str) -> Mutation:
    """The production backlog alert rebuilt with these EntityName values and these property dependencies
    (``criteria="Topic"``: the criteria depend on the topic, as when built from its output)."""

    def rebuild(resources: Resources) -> Resources:
        properties = alert("backlog", "ActiveMessages")
        properties["criteria"]["allOf"][0]["dimensions"][0]["values"] = values
        resources = change(resources, "MetricAlert", "ml-pipeline-backlog-alert", drop=True)
        return extra("azure-native:monitor:MetricAlert", "ml-pipeline-backlog-alert", properties, **deps)(resources)

    return rebuild


def drop(type_suffix: str, name: str | None = None) -> Mutation:
    return lambda rs: change(rs, type_suffix, name, drop=True)


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
        ns(publicNetworkAccess="Enabled"),
        "publicNetworkAccess=Enabled and no network rule set",
        ns(publicNetworkAccess=...),
        True,
        ns(publicNetworkAccess=UNKNOWN),
        extra_bad=(
            (
                "rule set allowing by default",
                compose(
                    ns(publicNetworkAccess="Enabled"),
                    network_rule_set,
                    lambda rs: change(rs, "NamespaceNetworkRuleSet", defaultAction="Allow"),
                ),
                "no network rule set",
            ),
            (
                "rule set allowing 0.0.0.0/0",
                compose(
                    network_rule_set,
                    lambda rs: change(
                        rs, "NamespaceNetworkRuleSet", ipRules=[{"ipMask": "0.0.0.0/0", "action": "Allow"}]
                    ),
                ),
                "allows 0.0.0.0/0, every address",
            ),
            (
                "rule set re-enabling public access behind a Disabled namespace",
                compose(
                    network_rule_set, lambda rs: change(rs, "NamespaceNetworkRuleSet", publicNetworkAccess="Enabled")
                ),
                "re-opens it",
            ),
        ),
    ),
    Case(
        "servicebus-customer-managed-key",
        ns(encryption=...),
        "uses keySource Microsoft-managed (default); required: Microsoft.KeyVault",
        ns(encryption=...),
        True,
        ns(encryption=UNKNOWN),
        extra_bad=(
            ("no key", ns(encryption={"keySource": "Microsoft.KeyVault"}), "no keyVaultProperties"),
            ("no identity", ns(identity=...), "not among the namespace's user-assigned identities"),
            ("key without its vault", ns(encryption__keyVaultProperties=[{"keyName": "sb"}]), "lacks keyVaultUri"),
            (
                "no user-assigned key identity and no system-assigned identity",
                ns(encryption__keyVaultProperties=[{"keyName": "sb", "keyVaultUri": "https://kv.vault.azure.net"}]),
                "no system-assigned one",
            ),
        ),
    ),
    Case(
        "servicebus-double-encryption",
        ns(encryption__requireInfrastructureEncryption=False),
        "uses a customer-managed key without requireInfrastructureEncryption",
        ns(encryption__requireInfrastructureEncryption=...),
        True,
        ns(encryption__requireInfrastructureEncryption=UNKNOWN),
    ),
    Case(
        "servicebus-managed-identity",
        ns(identity={"type": "None"}),
        "has no managed identity (identity.type None)",
        ns(identity=...),
        True,
        ns(identity__type=UNKNOWN),
    ),
    Case(
        "servicebus-private-endpoint",
        drop("PrivateEndpoint"),
        "has no private endpoint with group 'namespace'",
        lambda rs: change(rs, "PrivateEndpoint", privateLinkServiceConnections=...),
        True,
        lambda rs: change(rs, "PrivateEndpoint", privateLinkServiceConnections=UNKNOWN),
        extra_bad=(
            (
                "endpoint for another group",
                lambda rs: change(
                    rs,
                    "PrivateEndpoint",
                    privateLinkServiceConnections=[{"privateLinkServiceId": NS_ID, "groupIds": ["topic"]}],
                ),
                "has no private endpoint",
            ),
        ),
    ),
    Case(
        "servicebus-sas-no-manage",
        extra(
            "azure-native:servicebus:TopicAuthorizationRule",
            "ml-pipeline-topic-admin",
            {"authorizationRuleName": "admin", "rights": ["Listen", "Manage"]},
            topicName="Topic",
        ),
        "TopicAuthorizationRule 'admin' on topic grants Manage",
        extra("azure-native:servicebus:TopicAuthorizationRule", "ml-pipeline-topic-norights", {}),
        False,
        extra("azure-native:servicebus:TopicAuthorizationRule", "ml-pipeline-topic-unknown", {"rights": UNKNOWN}),
        good=extra(
            "azure-native:servicebus:TopicAuthorizationRule",
            "ml-pipeline-topic-send",
            {"authorizationRuleName": "send", "rights": ["Send"]},
        ),
        extra_bad=(
            (
                "queue rule with Manage",
                extra(
                    "azure-native:servicebus:QueueAuthorizationRule",
                    "ml-pipeline-queue-admin",
                    {"authorizationRuleName": "qadmin", "rights": ["Manage", "Send", "Listen"]},
                ),
                "QueueAuthorizationRule 'qadmin' on queue grants Manage",
            ),
        ),
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
                "data receiver on the whole namespace",
                role("ns-receiver", "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", NS_ID),
                "grants Azure Service Bus Data Receiver on a Service Bus scope (the whole namespace)",
            ),
            (
                "data receiver on the topic, not the service's subscription",
                role("topic-receiver", "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0", NS_ID + "/topics/sbt-mlpipe-events"),
                "Data Receiver on a Service Bus scope (a topic)",
            ),
            (
                "owner at resource group scope",
                role(
                    "rg-owner",
                    "8e3af657-a8ff-443c-a75c-2fe8c4bcb635",
                    "/subscriptions/0/resourceGroups/rg-mlpipe-prod-weu-001",
                ),
                "grants Owner at resource group scope",
            ),
            (
                "data sender at Azure subscription scope",
                role("sub-sender", SENDER, "/subscriptions/00000000-0000-0000-0000-000000000000"),
                "grants Azure Service Bus Data Sender at Azure subscription scope",
            ),
            (
                "contributor on the resource group found through the scope's dependency",
                role("rg-contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c", UNKNOWN, scope="ResourceGroup"),
                "grants Contributor at resource group scope",
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
                "extra rule 2 = 2",
                rule(
                    "catch-all", "training", {"filterType": "SqlFilter", "sqlFilter": {"sqlExpression": " ( 2 = 2 ) "}}
                ),
                "its extra rule 'catch-all' makes it receive every event on the topic",
            ),
            (
                "extra rule TRUE",
                rule("catch-all", "training", {"filterType": "SqlFilter", "sqlFilter": {"sqlExpression": "True"}}),
                "matches every message",
            ),
            (
                "extra rule with an empty correlation filter",
                rule("catch-all", "training", {"filterType": "CorrelationFilter", "correlationFilter": {}}),
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
        "servicebus-subscription-filter-dead-lettering",
        sub(deadLetteringOnFilterEvaluationExceptions=False),
        "deadLetteringOnFilterEvaluationExceptions false; required: true",
        sub(deadLetteringOnFilterEvaluationExceptions=...),
        True,
        sub(deadLetteringOnFilterEvaluationExceptions=UNKNOWN),
    ),
    Case(
        "servicebus-auto-delete-on-idle",
        sub(autoDeleteOnIdle="PT1H"),
        "has autoDeleteOnIdle PT1H",
        sub(autoDeleteOnIdle=...),
        False,
        sub(autoDeleteOnIdle=UNKNOWN),
        good=sub(autoDeleteOnIdle="P30D"),
        extra_bad=(("topic deleted after a week", lambda rs: change(rs, "Topic", autoDeleteOnIdle="P7D"), "P7D"),),
    ),
    Case(
        "servicebus-topic-duplicate-detection",
        lambda rs: change(rs, "Topic", requiresDuplicateDetection=False),
        "requiresDuplicateDetection False; required: true",
        lambda rs: change(rs, "Topic", requiresDuplicateDetection=...),
        True,
        lambda rs: change(rs, "Topic", requiresDuplicateDetection=UNKNOWN),
    ),
    Case(
        "servicebus-entity-status-active",
        sub(status="ReceiveDisabled"),
        "has status ReceiveDisabled; required: Active",
        sub(status=...),
        False,
        sub(status=UNKNOWN),
        good=sub(status="Active"),
        extra_bad=(("disabled topic", lambda rs: change(rs, "Topic", status="Disabled"), "status Disabled"),),
    ),
    Case(
        "servicebus-premium-autoscale",
        drop("AutoscaleSetting"),
        "no enabled autoscale setting",
        lambda rs: change(rs, "AutoscaleSetting", enabled=...),
        False,
        lambda rs: change(rs, "AutoscaleSetting", targetResourceUri=UNKNOWN),
        extra_bad=(
            ("disabled autoscale", lambda rs: change(rs, "AutoscaleSetting", enabled=False), "no enabled autoscale"),
        ),
    ),
    Case(
        "servicebus-geo-replication",
        ns(geoDataReplication={"locations": [{"locationName": "westeurope", "roleType": "Primary"}]}),
        "has neither geo-replication",
        ns(geoDataReplication=...),
        True,
        ns(geoDataReplication=UNKNOWN),
        good=compose(
            ns(geoDataReplication=...),
            extra(
                "azure-native:servicebus:DisasterRecoveryConfig",
                "ml-pipeline-dr",
                {"alias": "sbns-mlpipe-prod", "namespaceName": UNKNOWN, "partnerNamespace": NS_ID + "-dr"},
                namespaceName="Namespace",
            ),
        ),
    ),
    Case(
        "servicebus-payload-size-parity",
        lambda rs: change(rs, "Topic", maxMessageSizeInKilobytes=1024),
        "accepts messages of 1024 KB",
        lambda rs: change(rs, "Topic", maxMessageSizeInKilobytes=...),
        False,
        lambda rs: change(rs, "Topic", maxMessageSizeInKilobytes=UNKNOWN),
        good=lambda rs: change(rs, "Topic", maxMessageSizeInKilobytes=256),
    ),
    Case(
        "servicebus-resource-logs",
        drop("DiagnosticSetting"),
        "has no diagnostic setting",
        lambda rs: change(rs, "DiagnosticSetting", workspaceId=...),
        True,
        lambda rs: change(rs, "DiagnosticSetting", resourceUri=UNKNOWN, workspaceId=UNKNOWN),
        extra_bad=(
            (
                "logs disabled",
                lambda rs: change(rs, "DiagnosticSetting", logs=[{"categoryGroup": "allLogs", "enabled": False}]),
                "no enabled log or no destination",
            ),
        ),
    ),
    Case(
        "servicebus-subscription-alerts",
        drop("MetricAlert", "ml-pipeline-deadletter-alert"),
        "lacks a dead-letter alert (DeadletteredMessages)",
        lambda rs: change(rs, "MetricAlert", "ml-pipeline-backlog-alert", actions=...),
        True,
        lambda rs: change(rs, "MetricAlert", "ml-pipeline-backlog-alert", criteria=UNKNOWN, scopes=UNKNOWN),
        extra_bad=(
            (
                # EntityName takes queue and topic names only (Microsoft's monitoring data reference).
                "backlog alert naming the subscriptions instead of the topic",
                lambda rs: change(
                    rs,
                    "MetricAlert",
                    "ml-pipeline-backlog-alert",
                    criteria=subscription_criteria("ActiveMessages", FIXTURE_SUBSCRIPTIONS),
                ),
                "lacks a backlog alert (ActiveMessages)",
            ),
            (
                # Known values decide: a dependency on the topic does not make a wrong name cover it.
                "backlog alert depending on the topic but naming another",
                backlog_alert(["sbt-other"], criteria="Topic"),
                "lacks a backlog alert (ActiveMessages)",
            ),
            (
                "backlog alert on another topic",
                lambda rs: change(
                    rs,
                    "MetricAlert",
                    "ml-pipeline-backlog-alert",
                    criteria=alert("b", "ActiveMessages", "sbt-other")["criteria"],
                ),
                "lacks a backlog alert (ActiveMessages)",
            ),
            (
                "disabled alert",
                lambda rs: change(rs, "MetricAlert", "ml-pipeline-deadletter-alert", enabled=False),
                "lacks a dead-letter alert",
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
    return {"prod": production_grade(prod_resources), "dev": dev_resources}


def test_every_policy_in_the_pack_has_a_case(pack: PolicyPackProcess) -> None:
    assert sorted(IDS) == sorted(p.name for p in pack.info().policies)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_compliant_resources_pass(case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]) -> None:
    report = judge(pack, case.good(baselines[case.stack]), case.stack, only=case.policy)
    assert hits(report, case.policy) == []


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_noncompliant_resources_fail_at_the_configured_level(
    case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]
) -> None:
    expected_level = configured_level(case.stack, case.policy)
    for what, mutation, fragment in (("main", case.bad, case.fragment), *case.extra_bad):
        found = hits(judge(pack, mutation(baselines[case.stack]), case.stack, only=case.policy), case.policy)
        assert found, f"{case.policy}: {what} was not reported"
        assert all(d.enforcement_level == expected_level for d in found), found
        assert any(fragment in d.message for d in found), (what, [d.message for d in found])


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_a_missing_property_is_handled(case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]) -> None:
    found = hits(judge(pack, case.missing(baselines[case.stack]), case.stack, only=case.policy), case.policy)
    cant_run = [d for d in found if "can't run policy" in d.message]
    assert cant_run == []
    assert bool(found) is case.missing_violates, [d.message for d in found]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_an_unknown_value_during_preview_does_not_crash_or_block(
    case: Case, pack: PolicyPackProcess, baselines: dict[str, Resources]
) -> None:
    report = judge(pack, case.unknown(baselines[case.stack]), case.stack, only=case.policy)
    for diagnostic in hits(report, case.policy):
        assert not diagnostic.blocking, diagnostic
        assert "can't run policy" in diagnostic.message or diagnostic.message.startswith(("Namespace", "Subscription"))
    # The pack kept answering, and the rule still passes the compliant stack.
    assert judge(pack, baselines[case.stack], case.stack, only=case.policy).mandatory == []


def passes_and_fails(
    pack: PolicyPackProcess, resources: Resources, policy: str, override: dict[str, object]
) -> tuple[int, int]:
    before = len(hits(judge(pack, resources, only=policy), policy))
    after = len(hits(judge(pack, resources, overrides={policy: override}, only=policy), policy))
    return before, after


CONFIG_OVERRIDES = [
    ("servicebus-minimum-tls", {"minimumVersion": "1.3"}),
    ("servicebus-premium-capacity", {"allowedUnitsPerPartition": [2]}),
    ("servicebus-subscription-max-delivery-count", {"minimum": 6}),
    ("servicebus-subscription-lock-duration", {"maximum": "PT2M"}),
    ("servicebus-entity-names", {"subscriptionPrefix": "sub-"}),
    ("required-tags", {"requiredTags": ["environment", "dataClassification"]}),
    ("servicebus-namespace-name", {"pattern": "^sb-{environment}$"}),
    ("environment-tag-matches-stack", {"environment": "staging"}),
    ("servicebus-rbac-least-privilege", {"allowedRoleDefinitionIds": [SENDER]}),
]


@pytest.mark.parametrize(("policy", "override"), CONFIG_OVERRIDES, ids=[c[0] for c in CONFIG_OVERRIDES])
def test_config_overrides_change_the_verdict(
    policy: str, override: dict[str, object], pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    before, after = passes_and_fails(pack, prod_resources, policy, override)
    assert (before, after > 0) == (0, True)


def test_enforcement_level_overrides_apply(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    tls_1_0 = change(prod_resources, "Namespace", minimumTlsVersion="1.0")
    assert [d.enforcement_level for d in hits(judge(pack, tls_1_0), "servicebus-minimum-tls")] == ["mandatory"]
    advisory = judge(pack, tls_1_0, overrides={"servicebus-minimum-tls": "advisory"})
    assert [d.enforcement_level for d in hits(advisory, "servicebus-minimum-tls")] == ["advisory"]
    assert hits(judge(pack, tls_1_0, overrides={"servicebus-minimum-tls": "disabled"}), "servicebus-minimum-tls") == []


def test_all_sets_every_level_and_specific_entries_win(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    from preflight.engine.policy_config import PolicyConfig, load_policy_config
    from tests.support import FIXTURE_LAYOUT

    config = load_policy_config(FIXTURE_LAYOUT.policy_config("prod"))
    relaxed = {name: PolicyConfig(None, entry.properties) for name, entry in config.items()}
    relaxed["all"] = PolicyConfig(EnforcementLevel.ADVISORY)
    relaxed["servicebus-minimum-tls"] = PolicyConfig(EnforcementLevel.MANDATORY, {})
    report = evaluate(pack, change(prod_resources, "Namespace", minimumTlsVersion="1.0", protect=False), relaxed)
    levels = {d.policy_name: d.enforcement_level for d in report.diagnostics}
    assert levels["servicebus-minimum-tls"] == "mandatory"
    assert levels["servicebus-namespace-protected"] == "advisory"


def test_a_deny_by_default_network_rule_set_satisfies_public_network_access(
    pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    assert hits(judge(pack, network_rule_set(prod_resources)), "servicebus-public-network-access") == []


def test_an_alert_on_the_topic_counts_while_its_entity_name_is_unknown(
    pack: PolicyPackProcess, baselines: dict[str, Resources]
) -> None:
    """During a preview the EntityName values may be unknown; the criteria's dependency on the topic
    then shows which topic the alert watches."""
    resources = backlog_alert(UNKNOWN, criteria="Topic")(baselines["prod"])
    assert hits(judge(pack, resources), "servicebus-subscription-alerts") == []


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
    assert (
        hits(judge(pack, premium(partitions, capacity)(prod_resources), only=PREMIUM_CAPACITY), PREMIUM_CAPACITY) == []
    )


@pytest.mark.parametrize(("partitions", "capacity"), CAPACITY_REFUSED, ids=[f"{p}x{c}" for p, c in CAPACITY_REFUSED])
def test_premium_capacity_blocks_other_counts_and_partitions(
    partitions: int, capacity: int | None, pack: PolicyPackProcess, prod_resources: Resources
) -> None:
    found = hits(judge(pack, premium(partitions, capacity)(prod_resources), only=PREMIUM_CAPACITY), PREMIUM_CAPACITY)
    assert len(found) == 1, [d.message for d in found]
    assert found[0].blocking
    assert found[0].enforcement_level == configured_level("prod", PREMIUM_CAPACITY)
    assert f"requests capacity {capacity or 1} with {partitions} partition(s)" in found[0].message


def test_premium_capacity_blocks_zero_units(pack: PolicyPackProcess, prod_resources: Resources) -> None:
    assert [
        d.blocking for d in hits(judge(pack, premium(1, 0)(prod_resources), only=PREMIUM_CAPACITY), PREMIUM_CAPACITY)
    ] == [True]
