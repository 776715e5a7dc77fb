"""What must hold for any stack and any deploy workflow, whatever the stacks hold.

Every expectation here is derived from the stack's own config, never from the shipped stacks, so the
same checks serve the shipped stacks (``stacks/``), the fixture stacks and the copies of the
repository that the README recipe tests edit. Each function takes what it judges and asserts.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from components.messaging import role_assignment_name
from components.roles import ServiceBusRole
from preflight.mockrun import ProgramRun, RecordedResource, run_program
from preflight.runner import Layout
from settings.features import SERVICE_BUS_PRIVATE_DNS_ZONE
from settings.model import PublicNetworkAccess, StackSettings, Tier, iso8601
from settings.naming import (
    NAMESPACE_NAME,
    RESOURCE_GROUP_NAME,
    SUBSCRIPTION_NAME,
    TOPIC_NAME,
    namespace_name_problem,
)
from settings.stack_file import load_stack_file

SB = "azure-native:servicebus"
NAMESPACE = f"{SB}:Namespace"
TOPIC = f"{SB}:Topic"
SUBSCRIPTION = f"{SB}:Subscription"
DEFAULT_RULE = f"{SB}:DefaultRule"
RULE = f"{SB}:Rule"
SAS_RULE = f"{SB}:TopicAuthorizationRule"
NAMESPACE_SAS_RULE = f"{SB}:NamespaceAuthorizationRule"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
COMPONENT = "ml-messaging:messaging:ServiceBusPipeline"
NETWORK_RULE_SET = f"{SB}:NamespaceNetworkRuleSet"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
DNS_ZONE_GROUP = "azure-native:network:PrivateDnsZoneGroup"
PRIVATE_ZONE = "azure-native:privatedns:PrivateZone"
VNET_LINK = "azure-native:privatedns:VirtualNetworkLink"
DIAGNOSTIC_SETTING = "azure-native:monitor:DiagnosticSetting"
WORKSPACE = "azure-native:operationalinsights:Workspace"
METRIC_ALERT = "azure-native:monitor:MetricAlert"
DEPLOY_STACK_WORKFLOW = "/.github/workflows/deploy-stack.yml"
PRODUCTION_STACK, PRODUCTION_ENVIRONMENT = "prod", "production"


@dataclass(frozen=True)
class StackRun:
    """One stack's validated settings and what the program registered for it under mocks."""

    settings: StackSettings
    run: ProgramRun


def run_stack_file(program_dir: Path, stack_file: Path) -> StackRun:
    """Read a stack file (anywhere) as the CLI does and run ``program_dir``'s program for it."""
    stack = stack_file.name.removeprefix("Pulumi.").removesuffix(".yaml")
    config, settings = load_stack_file(stack_file, Layout(program_dir).project_file)
    run = run_program(program_dir, config.project, stack, config.for_offline_run(), sorted(config.secret_keys))
    return StackRun(settings, run)


def run_root_stack(root: Path, stack: str) -> StackRun:
    """Run a repository's (or a copy's) program for one of its own stacks."""
    return run_stack_file(root, Layout(root).stack_file(stack))


def only(run: ProgramRun, type_: str) -> RecordedResource:
    """The one resource of a type; fails when there are none or several."""
    (resource,) = run.of_type(type_)
    return resource


def azure_name(resource: RecordedResource) -> str:
    """The Azure name the mocks gave a resource (the engine's ``name`` output)."""
    return str(resource.outputs["name"])


def role_of(assignment: RecordedResource) -> ServiceBusRole:
    """The built-in role a role assignment grants."""
    return ServiceBusRole(str(assignment.inputs["roleDefinitionId"]).rsplit("/", 1)[1])


def consumed_event_types(settings: StackSettings) -> dict[str, list[str]]:
    """Consuming service name -> the event types it consumes, sorted."""
    return {service.name: sorted(service.consumes) for service in settings.consumers}


def routed_event_types(run: ProgramRun, subscription: str) -> list[str]:
    """The message subjects a subscription's rules let through, sorted; every rule must be a
    correlation filter on the subject (``label``) alone."""
    rules = [
        r for r in run.resources if r.type in (DEFAULT_RULE, RULE) and r.inputs["subscriptionName"] == subscription
    ]
    for rule in rules:
        assert rule.inputs["filterType"] == "CorrelationFilter", rule.name
        matched_on = set(rule.inputs["correlationFilter"]) - {"requiresPreprocessing"}
        assert matched_on == {"label"}, rule.name
    return sorted(rule.inputs["correlationFilter"]["label"] for rule in rules)


# --- stack invariants -------------------------------------------------------------------------


def each_consumer_has_one_subscription_with_its_default_rule_replaced(stack: StackRun) -> None:
    names = stack.settings.names
    subscriptions = sorted(azure_name(s) for s in stack.run.of_type(SUBSCRIPTION))
    assert subscriptions == sorted(names.subscription(s.name) for s in stack.settings.consumers)
    default_rules = stack.run.of_type(DEFAULT_RULE)
    assert sorted(r.inputs["subscriptionName"] for r in default_rules) == subscriptions


def each_subscription_routes_exactly_what_its_service_consumes(stack: StackRun) -> None:
    names = stack.settings.names
    for service, consumed in consumed_event_types(stack.settings).items():
        assert routed_event_types(stack.run, names.subscription(service)) == consumed, service
    extra_rules = sorted(str(r.inputs["ruleName"]) for r in stack.run.of_type(RULE))
    # The first event type rides on $Default; each further one gets a rule named after it.
    assert extra_rules == sorted(f"evt-{event}" for s in stack.settings.consumers for event in s.consumes[1:])


def expected_role_assignments(stack: StackRun) -> set[tuple[str, ServiceBusRole, str | None]]:
    """(principal, role, scope) for every service with an identity: Data Sender on the topic if it
    publishes, Data Receiver on its own subscription if it consumes."""
    topic_id = only(stack.run, TOPIC).id
    subscription_ids = {azure_name(s): s.id for s in stack.run.of_type(SUBSCRIPTION)}
    expected: set[tuple[str, ServiceBusRole, str | None]] = set()
    for service in stack.settings.services:
        if service.principal_id is None:
            continue
        principal = str(service.principal_id)
        if service.publishes:
            expected.add((principal, ServiceBusRole.DATA_SENDER, topic_id))
        if service.consumes:
            subscription_id = subscription_ids[stack.settings.names.subscription(service.name)]
            expected.add((principal, ServiceBusRole.DATA_RECEIVER, subscription_id))
    return expected


def roles_are_least_privilege_at_the_narrowest_scope(stack: StackRun) -> None:
    assignments = stack.run.of_type(ROLE_ASSIGNMENT)
    actual = [(str(a.inputs["principalId"]), role_of(a), a.inputs["scope"]) for a in assignments]
    assert len(actual) == len(set(actual)), "a role is assigned twice"
    assert set(actual) == expected_role_assignments(stack)
    declared = {str(s.principal_id): s.principal_type.value for s in stack.settings.services if s.principal_id}
    assert all(a.inputs["principalType"] == declared[str(a.inputs["principalId"])] for a in assignments)


def grant_of(assignment: RecordedResource) -> tuple[str, str, str]:
    """What Azure keys a role assignment on: (scope, principal, role definition), compared as ARM
    compares IDs, case-insensitively."""
    inputs = assignment.inputs
    return str(inputs["scope"]).lower(), str(inputs["principalId"]).lower(), str(inputs["roleDefinitionId"]).lower()


def no_two_role_assignments_share_scope_principal_and_role(stack: StackRun) -> None:
    # Azure refuses a second assignment of one grant with 409 RoleAssignmentExists, whatever its name.
    grants = [grant_of(a) for a in stack.run.of_type(ROLE_ASSIGNMENT)]
    repeated = sorted({grant for grant in grants if grants.count(grant) > 1})
    assert repeated == [], f"assigned more than once: {repeated}"


def role_assignment_names_derive_from_scope_principal_and_role(stack: StackRun) -> None:
    for assignment in stack.run.of_type(ROLE_ASSIGNMENT):
        inputs = assignment.inputs
        expected = role_assignment_name(str(inputs["scope"]), str(inputs["principalId"]), role_of(assignment))
        assert inputs["roleAssignmentName"] == expected, assignment.name


def topics_are_partitioned_exactly_when_the_namespace_is(stack: StackRun) -> None:
    # A partitioned Premium namespace refuses non-partitioned entities, and the reverse.
    partitions = only(stack.run, NAMESPACE).inputs.get("premiumMessagingPartitions") or 1
    topics = stack.run.of_type(TOPIC)
    assert topics
    for topic in topics:
        assert (topic.inputs.get("enablePartitioning") is True) is (partitions > 1), (topic.name, partitions)


def no_role_is_granted_on_the_namespace_and_none_is_data_owner(stack: StackRun) -> None:
    namespace_id = only(stack.run, NAMESPACE).id
    for assignment in stack.run.of_type(ROLE_ASSIGNMENT):
        assert assignment.inputs["scope"] != namespace_id, assignment.name
        assert role_of(assignment) is not ServiceBusRole.DATA_OWNER, assignment.name


def every_name_is_valid_under_azure_rules(stack: StackRun) -> None:
    patterns = {
        NAMESPACE: NAMESPACE_NAME,
        TOPIC: TOPIC_NAME,
        SUBSCRIPTION: SUBSCRIPTION_NAME,
        RULE: SUBSCRIPTION_NAME,
        SAS_RULE: SUBSCRIPTION_NAME,
        RESOURCE_GROUP: RESOURCE_GROUP_NAME,
    }
    named = [r for r in stack.run.resources if r.type in patterns]
    assert named
    for resource in named:
        assert patterns[resource.type].match(azure_name(resource)), (resource.type, azure_name(resource))
    namespace = azure_name(only(stack.run, NAMESPACE))
    assert namespace == stack.settings.names.namespace
    assert namespace_name_problem(namespace) is None
    assert azure_name(only(stack.run, TOPIC)) == stack.settings.names.topic


def the_namespace_follows_the_configured_tier_and_security_posture(stack: StackRun) -> None:
    wanted = stack.settings.namespace
    namespace = only(stack.run, NAMESPACE).inputs
    sku: dict[str, object] = {"name": wanted.tier.value, "tier": wanted.tier.value}
    partitions = None
    if wanted.effective_capacity is not None:  # Premium: messaging units and partitions
        sku["capacity"] = wanted.effective_capacity
        partitions = wanted.effective_partitions
    assert namespace["sku"] == sku
    assert namespace.get("premiumMessagingPartitions") == partitions
    assert namespace["minimumTlsVersion"] == wanted.minimum_tls_version.value
    assert namespace["disableLocalAuth"] is True
    assert namespace["publicNetworkAccess"] == wanted.public_network_access.value


def protection_follows_the_config(stack: StackRun) -> None:
    namespace = only(stack.run, NAMESPACE)
    locks = stack.run.of_type(LOCK)
    assert namespace.protect is stack.settings.namespace.protected
    if not stack.settings.namespace.delete_lock:
        assert locks == []
        return
    (lock,) = locks
    assert lock.inputs["level"] == "CanNotDelete"
    assert lock.inputs["scope"] == namespace.id
    assert namespace.urn in lock.property_dependencies["scope"]


def children_are_parented_to_the_component(stack: StackRun) -> None:
    component = only(stack.run, COMPONENT)
    children = [r for r in stack.run.resources if r.custom and r.type != RESOURCE_GROUP]
    assert children
    assert all(child.parent == component.urn for child in children)
    prefix = f"urn:pulumi:{stack.run.stack}::{stack.run.project}::{COMPONENT}$"
    assert all(child.urn.startswith(prefix) for child in children)


def secret_strings(value: Any) -> list[str]:
    """Every connection string (text holding a shared access key) inside a value."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in secret_strings(v)]
    return [value] if isinstance(value, str) and "SharedAccessKey=" in value else []


def entra_only_no_key_exists(stack: StackRun) -> None:
    """Local (SAS) auth is off and no SAS rule exists, so no key can be listed, exported or leaked."""
    run = stack.run
    assert only(run, NAMESPACE).inputs["disableLocalAuth"] is True
    assert run.of_type(SAS_RULE) == [] and run.of_type(NAMESPACE_SAS_RULE) == []
    assert secret_strings(run.outputs) == []
    assert run.secret_outputs == frozenset()


def outputs_are_one_structure_a_service_can_read(stack: StackRun) -> None:
    names = stack.settings.names
    assert stack.run.outputs["messaging"] == {
        "resourceGroup": stack.settings.resource_group_name or names.resource_group,
        "namespace": names.namespace,
        "endpoint": f"{names.namespace}.servicebus.windows.net",
        "topic": names.topic,
        "subscriptions": {s.name: names.subscription(s.name) for s in stack.settings.consumers},
    }


def tags_carry_environment_workload_and_the_configured_tags(stack: StackRun) -> None:
    taggable = [only(stack.run, NAMESPACE), *stack.run.of_type(RESOURCE_GROUP)]
    for type_ in (PRIVATE_ENDPOINT, PRIVATE_ZONE, VNET_LINK, WORKSPACE, METRIC_ALERT):
        taggable += stack.run.of_type(type_)
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert tags == stack.settings.all_tags, resource.name
        assert tags["environment"] == stack.run.stack
        assert {"owner", "costCenter"} <= set(tags)


def a_resource_group_is_created_unless_an_existing_one_is_named(stack: StackRun) -> None:
    groups = stack.run.of_type(RESOURCE_GROUP)
    existing = stack.settings.resource_group_name
    assert len(groups) == (0 if existing else 1)
    assert only(stack.run, NAMESPACE).inputs["resourceGroupName"] == (existing or stack.settings.names.resource_group)


def subscription_delivery_settings_come_from_config(stack: StackRun) -> None:
    by_name = {azure_name(s): s.inputs for s in stack.run.of_type(SUBSCRIPTION)}
    for service in stack.settings.consumers:
        delivery = service.delivery
        inputs = by_name[stack.settings.names.subscription(service.name)]
        assert inputs["lockDuration"] == iso8601(delivery.lock_duration), service.name
        assert inputs["maxDeliveryCount"] == delivery.max_delivery_count, service.name
        assert inputs["defaultMessageTimeToLive"] == iso8601(delivery.default_message_time_to_live), service.name
        assert inputs["deadLetteringOnMessageExpiration"] is delivery.dead_lettering_on_message_expiration
        assert (
            inputs["deadLetteringOnFilterEvaluationExceptions"]
            is delivery.dead_lettering_on_filter_evaluation_exceptions
        )
        expected_idle = iso8601(delivery.auto_delete_on_idle) if delivery.auto_delete_on_idle else None
        assert inputs.get("autoDeleteOnIdle") == expected_idle, service.name
        if stack.settings.namespace.protected:
            assert "autoDeleteOnIdle" not in inputs, service.name


def private_networking_follows_the_config(stack: StackRun) -> None:
    wanted = stack.settings.namespace.private_networking
    namespace = only(stack.run, NAMESPACE)
    endpoints = stack.run.of_type(PRIVATE_ENDPOINT)
    if wanted is None:
        for type_ in (PRIVATE_ENDPOINT, DNS_ZONE_GROUP, PRIVATE_ZONE, VNET_LINK):
            assert stack.run.of_type(type_) == [], type_
        return
    assert namespace.inputs["publicNetworkAccess"] == PublicNetworkAccess.DISABLED.value
    (endpoint,) = endpoints
    assert endpoint.inputs["subnet"]["id"] == wanted.subnet_id
    (connection,) = endpoint.inputs["privateLinkServiceConnections"]
    assert connection["privateLinkServiceId"] == namespace.id
    assert connection["groupIds"] == ["namespace"]
    (group,) = stack.run.of_type(DNS_ZONE_GROUP)
    assert group.inputs["privateEndpointName"] == azure_name(endpoint)
    (zone_config,) = group.inputs["privateDnsZoneConfigs"]
    zones, links = stack.run.of_type(PRIVATE_ZONE), stack.run.of_type(VNET_LINK)
    if wanted.private_dns_zone_id is not None:
        assert zones == [] and links == []
        assert zone_config["privateDnsZoneId"] == wanted.private_dns_zone_id
        return
    (zone,), (link,) = zones, links
    assert azure_name(zone) == SERVICE_BUS_PRIVATE_DNS_ZONE
    assert zone_config["privateDnsZoneId"] == zone.id
    assert link.inputs["privateZoneName"] == SERVICE_BUS_PRIVATE_DNS_ZONE
    assert link.inputs["virtualNetwork"] == {"id": wanted.virtual_network_id}
    assert link.inputs["registrationEnabled"] is False


def the_network_rule_set_agrees_with_the_namespace(stack: StackRun) -> None:
    # azure-native treats the two publicNetworkAccess values as one setting (pulumi/pulumi-azure-native#4825).
    wanted = stack.settings.namespace.effective_network_rules
    rule_sets = stack.run.of_type(NETWORK_RULE_SET)
    if wanted is None:
        assert rule_sets == []
        return
    (rule_set,) = rule_sets
    namespace = only(stack.run, NAMESPACE)
    assert rule_set.inputs["publicNetworkAccess"] == namespace.inputs["publicNetworkAccess"]
    assert rule_set.inputs["trustedServiceAccessEnabled"] is wanted.trusted_service_access_enabled
    assert [rule["ipMask"] for rule in rule_set.inputs.get("ipRules", [])] == list(wanted.ip_rules)
    if wanted.ip_rules or namespace.inputs["publicNetworkAccess"] != "Enabled":
        assert rule_set.inputs["defaultAction"] == "Deny"


def diagnostics_follow_the_config(stack: StackRun) -> None:
    wanted = stack.settings.namespace.diagnostics
    settings, workspaces = stack.run.of_type(DIAGNOSTIC_SETTING), stack.run.of_type(WORKSPACE)
    if wanted is None:
        assert settings == [] and workspaces == []
        return
    (setting,) = settings
    assert setting.inputs["resourceUri"] == only(stack.run, NAMESPACE).id
    assert setting.inputs["logs"] == [{"categoryGroup": "allLogs", "enabled": True}]
    assert setting.inputs["metrics"] == [{"category": "AllMetrics", "enabled": True}]
    if wanted.workspace_id is not None:
        assert workspaces == []
        assert setting.inputs["workspaceId"] == wanted.workspace_id
        return
    (workspace,) = workspaces
    assert setting.inputs["workspaceId"] == workspace.id
    assert workspace.inputs["retentionInDays"] == wanted.effective_retention_in_days


def alerts_follow_the_config(stack: StackRun) -> None:
    wanted = stack.settings.namespace.alerts
    alerts = stack.run.of_type(METRIC_ALERT)
    if wanted is None:
        assert alerts == []
        return
    premium = stack.settings.namespace.tier is Tier.PREMIUM
    expected = {"DeadletteredMessages", "ActiveMessages", "ThrottledRequests", "ServerErrors"}
    if premium:
        expected |= {"NamespaceCpuUsage", "NamespaceMemoryUsage"}
    namespace_id = only(stack.run, NAMESPACE).id
    seen = set()
    for alert in alerts:
        inputs = alert.inputs
        (criterion,) = inputs["criteria"]["allOf"]
        seen.add(criterion["metricName"])
        assert inputs["scopes"] == [namespace_id], alert.name
        assert inputs["actions"] == [{"actionGroupId": wanted.action_group_id}], alert.name
        assert criterion["operator"] == "GreaterThan"
        if criterion["metricName"] in ("DeadletteredMessages", "ActiveMessages"):
            assert criterion["dimensions"] == [
                {"name": "EntityName", "operator": "Include", "values": [stack.settings.names.topic]}
            ]
    assert seen == expected
    assert len(alerts) == len(expected)


def identity_and_encryption_follow_the_config(stack: StackRun) -> None:
    wanted = stack.settings.namespace
    inputs = only(stack.run, NAMESPACE).inputs
    key = wanted.customer_managed_key
    if key is None:
        assert "encryption" not in inputs
        expected = {"type": "SystemAssigned"} if wanted.effective_system_assigned_identity else None
        assert inputs.get("identity") == expected
        return
    encryption = inputs["encryption"]
    assert encryption["keySource"] == "Microsoft.KeyVault"
    assert encryption["requireInfrastructureEncryption"] is True
    (vault,) = encryption["keyVaultProperties"]
    assert vault["identity"] == {"userAssignedIdentity": key.user_assigned_identity_id}
    assert key.user_assigned_identity_id in inputs["identity"]["userAssignedIdentities"]


def topic_settings_follow_the_config(stack: StackRun) -> None:
    wanted = stack.settings.topic
    inputs = only(stack.run, TOPIC).inputs
    assert inputs.get("requiresDuplicateDetection", False) is wanted.requires_duplicate_detection
    window = wanted.effective_duplicate_window
    assert inputs.get("duplicateDetectionHistoryTimeWindow") == (iso8601(window) if window else None)
    assert inputs.get("maxMessageSizeInKilobytes") == wanted.max_message_size_in_kilobytes
    if stack.settings.namespace.tier is not Tier.PREMIUM:
        assert "maxMessageSizeInKilobytes" not in inputs


STACK_INVARIANTS: tuple[Callable[[StackRun], None], ...] = (
    each_consumer_has_one_subscription_with_its_default_rule_replaced,
    each_subscription_routes_exactly_what_its_service_consumes,
    roles_are_least_privilege_at_the_narrowest_scope,
    no_two_role_assignments_share_scope_principal_and_role,
    role_assignment_names_derive_from_scope_principal_and_role,
    no_role_is_granted_on_the_namespace_and_none_is_data_owner,
    every_name_is_valid_under_azure_rules,
    the_namespace_follows_the_configured_tier_and_security_posture,
    protection_follows_the_config,
    children_are_parented_to_the_component,
    entra_only_no_key_exists,
    outputs_are_one_structure_a_service_can_read,
    tags_carry_environment_workload_and_the_configured_tags,
    a_resource_group_is_created_unless_an_existing_one_is_named,
    subscription_delivery_settings_come_from_config,
    topics_are_partitioned_exactly_when_the_namespace_is,
    private_networking_follows_the_config,
    the_network_rule_set_agrees_with_the_namespace,
    diagnostics_follow_the_config,
    alerts_follow_the_config,
    identity_and_encryption_follow_the_config,
    topic_settings_follow_the_config,
)


def assert_stack_invariants(stack: StackRun) -> None:
    """Every stack invariant, for one stack."""
    for invariant in STACK_INVARIANTS:
        invariant(stack)


def assert_every_stack_of_the_root_holds(root: Path) -> list[str]:
    """Run every ``root/stacks/Pulumi.*.yaml`` through the stack invariants; returns the stacks seen."""
    stacks = Layout(root).discover_stacks()
    assert stacks, f"{root}/stacks holds no stack file"
    for stack in stacks:
        assert_stack_invariants(run_root_stack(root, stack))
    return stacks


# --- the deploy workflow ----------------------------------------------------------------------


def load_workflow(path: Path) -> dict[str, Any]:
    """A workflow or action file as data."""
    document: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in document:
        document["on"] = document.pop(True)
    return document


def deploy_workflow(root: Path) -> dict[str, Any]:
    return load_workflow(root / ".github" / "workflows" / "deploy.yml")


def needs_of(job: dict[str, Any]) -> list[str]:
    """A job's ``needs`` as a list (GitHub accepts one name or a list)."""
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def assert_deploy_contract(root: Path) -> None:
    """``deploy.yml`` deploys exactly the stacks in ``root/stacks``, one job per stack named after it,
    in a chain (the first job needs nothing, each later one the previous one), the ``prod`` stack in
    the ``production`` environment, every job through the same reusable workflow with the same
    permissions."""
    deploy = deploy_workflow(root)
    assert deploy["on"]["push"]["branches"] == ["main"]
    jobs: list[tuple[str, dict[str, Any]]] = list(deploy["jobs"].items())
    assert jobs, "deploy.yml deploys nothing"
    deployed = [job["with"]["stack"] for _, job in jobs]
    assert sorted(deployed) == Layout(root).discover_stacks(), "deploy.yml must deploy exactly stacks/"
    for job_id, job in jobs:
        assert job_id == job["with"]["stack"], f"job {job_id} deploys {job['with']['stack']}"
        assert set(job["with"]) == {"stack", "environment"}, job_id
        assert isinstance(job["with"]["environment"], str) and job["with"]["environment"], job_id
    assert needs_of(jobs[0][1]) == [], f"the first deployment ({jobs[0][0]}) must need nothing"
    for (previous, _), (job_id, job) in itertools.pairwise(jobs):
        assert needs_of(job) == [previous], f"{job_id} must need {previous} (deployments form a chain)"
    by_stack = dict(jobs)
    if PRODUCTION_STACK in by_stack:
        assert by_stack[PRODUCTION_STACK]["with"]["environment"] == PRODUCTION_ENVIRONMENT
    first = jobs[0][1]
    assert str(first["uses"]).endswith(DEPLOY_STACK_WORKFLOW), first["uses"]
    for job_id, job in jobs:
        assert job["uses"] == first["uses"], job_id
        assert job["permissions"] == first["permissions"], job_id
