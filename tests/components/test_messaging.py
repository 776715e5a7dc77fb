"""The real program, run for each stack under Pulumi's mock runtime: what would be created."""

from __future__ import annotations

from typing import Any

import pytest

from components.naming import (
    NAMESPACE_NAME,
    RESOURCE_GROUP_NAME,
    SUBSCRIPTION_NAME,
    TOPIC_NAME,
    namespace_name_problem,
)
from components.roles import ServiceBusRole
from preflight.mockrun import ProgramRun, RecordedResource
from tests.support import SHIPPED_STACKS, azure_name, raw_services, run_stack, stack_config

SB = "azure-native:servicebus"


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def run(request: pytest.FixtureRequest) -> ProgramRun:
    return run_stack(request.param)


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_stack("dev")


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_stack("prod")


def consumers_of(stack: str) -> dict[str, list[str]]:
    return {s["name"]: list(s["consumes"]) for s in raw_services(stack) if s.get("consumes")}


def only(run: ProgramRun, type_: str) -> RecordedResource:
    (resource,) = run.of_type(type_)
    return resource


def test_tier_follows_the_environment(dev: ProgramRun, prod: ProgramRun) -> None:
    assert only(dev, f"{SB}:Namespace").inputs["sku"] == {"name": "Standard", "tier": "Standard"}
    assert only(prod, f"{SB}:Namespace").inputs["sku"] == {
        "name": "Premium",
        "tier": "Premium",
        "capacity": 1,
    }
    assert only(prod, f"{SB}:Namespace").inputs["premiumMessagingPartitions"] == 1


def test_namespace_security_posture(dev: ProgramRun, prod: ProgramRun) -> None:
    assert only(dev, f"{SB}:Namespace").inputs["disableLocalAuth"] is False
    prod_ns = only(prod, f"{SB}:Namespace").inputs
    assert prod_ns["disableLocalAuth"] is True
    assert prod_ns["minimumTlsVersion"] == "1.2"


def test_one_subscription_per_consumer_each_with_its_default_rule_replaced(run: ProgramRun) -> None:
    consumers = consumers_of(run.stack)
    subscriptions = {azure_name(s) for s in run.of_type(f"{SB}:Subscription")}
    assert subscriptions == {f"sbts-{name}" for name in consumers}
    default_rules = run.of_type(f"{SB}:DefaultRule")
    assert sorted(r.inputs["subscriptionName"] for r in default_rules) == sorted(subscriptions)


def routed_event_types(run: ProgramRun, subscription: str) -> list[str]:
    rules = [
        r
        for r in run.resources
        if r.type in (f"{SB}:DefaultRule", f"{SB}:Rule") and r.inputs["subscriptionName"] == subscription
    ]
    for rule in rules:
        assert rule.inputs["filterType"] == "CorrelationFilter"
        matched_on = set(rule.inputs["correlationFilter"]) - {"requiresPreprocessing"}
        assert matched_on == {"label"}
    return sorted(rule.inputs["correlationFilter"]["label"] for rule in rules)


def test_each_subscription_receives_exactly_the_event_types_its_service_consumes(run: ProgramRun) -> None:
    for service, consumed in consumers_of(run.stack).items():
        assert routed_event_types(run, f"sbts-{service}") == sorted(consumed)


def test_a_service_consuming_several_event_types_gets_one_rule_each() -> None:
    services = raw_services("prod")
    services[3] = {**services[3], "consumes": ["prediction.created", "model.trained"]}
    run = run_stack("prod", services=services)
    assert routed_event_types(run, "sbts-result-processing") == ["model.trained", "prediction.created"]
    (extra,) = run.of_type(f"{SB}:Rule")
    assert extra.inputs["ruleName"] == "evt-model.trained"


def role_of(assignment: RecordedResource) -> ServiceBusRole:
    return ServiceBusRole(str(assignment.inputs["roleDefinitionId"]).rsplit("/", 1)[1])


def test_rbac_is_least_privilege_at_the_narrowest_scope(prod: ProgramRun) -> None:
    topic_id = only(prod, f"{SB}:Topic").id
    subscription_ids = {azure_name(s): s.id for s in prod.of_type(f"{SB}:Subscription")}
    assignments = prod.of_type("azure-native:authorization:RoleAssignment")
    principals = {s["name"]: s["principalId"] for s in raw_services("prod")}
    expected: set[tuple[str, ServiceBusRole, str | None]] = set()
    for service in raw_services("prod"):
        if service.get("publishes"):
            expected.add((service["principalId"], ServiceBusRole.DATA_SENDER, topic_id))
        if service.get("consumes"):
            expected.add(
                (
                    service["principalId"],
                    ServiceBusRole.DATA_RECEIVER,
                    subscription_ids[f"sbts-{service['name']}"],
                )
            )
    actual = {(a.inputs["principalId"], role_of(a), a.inputs["scope"]) for a in assignments}
    assert actual == expected
    assert len(assignments) == len(expected) == 7
    assert all(a.inputs["principalType"] == "ServicePrincipal" for a in assignments)
    assert set(principals.values()) == {a.inputs["principalId"] for a in assignments}


def test_no_role_is_ever_granted_on_the_namespace(run: ProgramRun) -> None:
    namespace_id = only(run, f"{SB}:Namespace").id
    for assignment in run.of_type("azure-native:authorization:RoleAssignment"):
        assert assignment.inputs["scope"] != namespace_id
        assert role_of(assignment) is not ServiceBusRole.DATA_OWNER


def test_every_name_is_valid_under_azure_rules(run: ProgramRun) -> None:
    checks = {
        f"{SB}:Namespace": NAMESPACE_NAME,
        f"{SB}:Topic": TOPIC_NAME,
        f"{SB}:Subscription": SUBSCRIPTION_NAME,
        f"{SB}:Rule": SUBSCRIPTION_NAME,
        f"{SB}:TopicAuthorizationRule": SUBSCRIPTION_NAME,
        "azure-native:resources:ResourceGroup": RESOURCE_GROUP_NAME,
    }
    seen = 0
    for resource in run.resources:
        pattern = checks.get(resource.type)
        if pattern:
            assert pattern.match(azure_name(resource)), (resource.type, azure_name(resource))
            seen += 1
    namespace = azure_name(only(run, f"{SB}:Namespace"))
    assert namespace_name_problem(namespace) is None
    assert namespace == f"sbns-mlpipe-{run.stack}-weu-001"
    assert seen >= 7


def test_prod_namespace_is_protected_and_locked(prod: ProgramRun) -> None:
    namespace = only(prod, f"{SB}:Namespace")
    assert namespace.protect is True
    lock = only(prod, "azure-native:authorization:ManagementLockByScope")
    assert lock.inputs["level"] == "CanNotDelete"
    assert lock.inputs["scope"] == namespace.id
    assert namespace.urn in lock.property_dependencies["scope"]


def test_dev_has_no_deletion_protection(dev: ProgramRun) -> None:
    assert only(dev, f"{SB}:Namespace").protect is False
    assert dev.of_type("azure-native:authorization:ManagementLockByScope") == []


def test_children_are_parented_to_the_component(run: ProgramRun) -> None:
    component = only(run, "ml-messaging:messaging:ServiceBusPipeline")
    children = [r for r in run.resources if r.type.startswith(SB)]
    assert children
    assert all(child.parent == component.urn for child in children)
    assert all(
        child.urn.startswith(f"urn:pulumi:{run.stack}::ml-messaging::ml-messaging:messaging:ServiceBusPipeline$")
        for child in children
    )


def secret_strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in secret_strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in secret_strings(v)]
    return [value] if isinstance(value, str) and "SharedAccessKey=" in value else []


def test_no_connection_string_is_exported_in_clear(run: ProgramRun) -> None:
    clear = {k: v for k, v in run.outputs.items() if k not in run.secret_outputs}
    assert secret_strings(clear) == []
    assert run.of_type(f"{SB}:NamespaceAuthorizationRule") == []


def test_dev_sas_rules_are_least_privilege_and_their_strings_are_secret(dev: ProgramRun) -> None:
    rights = {azure_name(r): sorted(r.inputs["rights"]) for r in dev.of_type(f"{SB}:TopicAuthorizationRule")}
    assert rights == {
        "sas-preprocessing": ["Listen", "Send"],
        "sas-training": ["Listen", "Send"],
        "sas-inference": ["Listen", "Send"],
        "sas-result-processing": ["Listen"],
    }
    assert "sasConnectionStrings" in dev.secret_outputs
    assert len(secret_strings(dev.outputs["sasConnectionStrings"])) == 4


def test_prod_exports_no_connection_strings(prod: ProgramRun) -> None:
    assert "sasConnectionStrings" not in prod.outputs
    assert prod.of_type(f"{SB}:TopicAuthorizationRule") == []


def test_outputs_are_one_structure_a_service_can_read(run: ProgramRun) -> None:
    messaging = run.outputs["messaging"]
    namespace = f"sbns-mlpipe-{run.stack}-weu-001"
    assert messaging == {
        "resourceGroup": f"rg-mlpipe-{run.stack}-weu-001",
        "namespace": namespace,
        "endpoint": f"{namespace}.servicebus.windows.net",
        "topic": "sbt-mlpipe-events",
        "subscriptions": {name: f"sbts-{name}" for name in consumers_of(run.stack)},
    }


def test_tags_carry_environment_workload_and_the_required_owner_tags(run: ProgramRun) -> None:
    for type_ in (f"{SB}:Namespace", "azure-native:resources:ResourceGroup"):
        tags = only(run, type_).inputs["tags"]
        assert tags["environment"] == run.stack
        assert tags["workload"] == "mlpipe"
        assert {"owner", "costCenter"} <= set(tags)


def test_an_existing_resource_group_is_used_instead_of_creating_one() -> None:
    run = run_stack("dev", resourceGroupName="rg-shared-platform")
    assert run.of_type("azure-native:resources:ResourceGroup") == []
    assert only(run, f"{SB}:Namespace").inputs["resourceGroupName"] == "rg-shared-platform"


def test_subscription_delivery_settings_come_from_config(prod: ProgramRun) -> None:
    by_name = {azure_name(s): s.inputs for s in prod.of_type(f"{SB}:Subscription")}
    assert by_name["sbts-training"]["lockDuration"] == "PT5M"
    assert by_name["sbts-training"]["maxDeliveryCount"] == 5
    assert by_name["sbts-inference"]["lockDuration"] == "PT1M"
    assert by_name["sbts-inference"]["defaultMessageTimeToLive"] == "P14D"
    assert all(s["deadLetteringOnMessageExpiration"] is True for s in by_name.values())


def test_stack_config_project_matches_pulumi_yaml() -> None:
    assert stack_config("dev").project == "ml-messaging"
