"""The real program, run for each stack under Pulumi's mock runtime: what would be created.

The invariants (tests/invariants.py) run over every shipped stack and every fixture stack; the exact
numbers and shapes run on the fixture stacks only, so editing ``stacks/`` never breaks them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from components.messaging import role_assignment_name
from components.roles import ServiceBusRole
from preflight.mockrun import ProgramRun, RecordedResource
from settings.loader import settings_from_config
from tests.invariants import (
    LOCK,
    NAMESPACE,
    RESOURCE_GROUP,
    ROLE_ASSIGNMENT,
    RULE,
    SAS_RULE,
    STACK_INVARIANTS,
    SUBSCRIPTION,
    TOPIC,
    StackRun,
    assert_stack_invariants,
    azure_name,
    no_two_role_assignments_share_scope_principal_and_role,
    only,
    role_assignment_names_derive_from_scope_principal_and_role,
    role_of,
    routed_event_types,
    run_stack_file,
    topics_are_partitioned_exactly_when_the_namespace_is,
)
from tests.support import (
    FIXTURE_STACKS,
    FIXTURE_STACKS_DIR,
    REPO,
    SHIPPED_STACKS,
    STACKS_DIR,
    engine_config,
    raw_services,
    run_stack,
    stack_config,
)

STACK_FILES = [("shipped", STACKS_DIR, stack) for stack in SHIPPED_STACKS] + [
    ("fixture", FIXTURE_STACKS_DIR, stack) for stack in FIXTURE_STACKS
]


def fixture_stack_run(stack: str, **overrides: Any) -> StackRun:
    """A fixture stack, optionally changed, with the settings its expectations derive from."""
    config = engine_config(stack, **overrides)
    settings = settings_from_config(config, "ml-messaging", f"stacks/Pulumi.{stack}.yaml")
    return StackRun(settings, run_stack(stack, **overrides))


@pytest.fixture(scope="module", params=STACK_FILES, ids=[f"{kind}-{stack}" for kind, _, stack in STACK_FILES])
def stack(request: pytest.FixtureRequest) -> StackRun:
    _, stacks_dir, name = request.param
    return run_stack_file(REPO, stacks_dir / f"Pulumi.{name}.yaml")


@pytest.fixture(scope="module")
def dev() -> ProgramRun:
    return run_stack("dev")


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_stack("prod")


@pytest.mark.parametrize("invariant", STACK_INVARIANTS, ids=lambda invariant: invariant.__name__)
def test_every_stack_holds_the_invariant(stack: StackRun, invariant: Callable[[StackRun], None]) -> None:
    invariant(stack)


# --- exact shapes, on the fixture stacks ------------------------------------------------------


def test_tier_follows_the_environment(dev: ProgramRun, prod: ProgramRun) -> None:
    assert only(dev, NAMESPACE).inputs["sku"] == {"name": "Standard", "tier": "Standard"}
    assert only(prod, NAMESPACE).inputs["sku"] == {"name": "Premium", "tier": "Premium", "capacity": 1}
    assert only(prod, NAMESPACE).inputs["premiumMessagingPartitions"] == 1


def test_namespace_security_posture(dev: ProgramRun, prod: ProgramRun) -> None:
    assert only(dev, NAMESPACE).inputs["disableLocalAuth"] is True
    prod_ns = only(prod, NAMESPACE).inputs
    assert prod_ns["disableLocalAuth"] is True
    assert prod_ns["minimumTlsVersion"] == "1.2"


def test_fixture_subscriptions_are_the_four_consumers(dev: ProgramRun, prod: ProgramRun) -> None:
    for run in (dev, prod):
        assert sorted(azure_name(s) for s in run.of_type(SUBSCRIPTION)) == [
            "sbts-inference",
            "sbts-preprocessing",
            "sbts-result-processing",
            "sbts-training",
        ]
        assert routed_event_types(run, "sbts-training") == ["data.preprocessed"]
        assert run.of_type(RULE) == []


def test_a_service_consuming_several_event_types_gets_one_rule_each() -> None:
    services = raw_services("prod")
    services[3] = {**services[3], "consumes": ["prediction.created", "model.trained"]}
    changed = fixture_stack_run("prod", services=services)
    assert routed_event_types(changed.run, "sbts-result-processing") == ["model.trained", "prediction.created"]
    (extra,) = changed.run.of_type(RULE)
    assert extra.inputs["ruleName"] == "evt-model.trained"
    assert_stack_invariants(changed)


def test_prod_grants_seven_roles_to_its_four_identities(prod: ProgramRun) -> None:
    assignments = prod.of_type(ROLE_ASSIGNMENT)
    assert len(assignments) == 7
    principals = {s["principalId"] for s in raw_services("prod")}
    assert {a.inputs["principalId"] for a in assignments} == principals
    roles = sorted(role_of(a).name for a in assignments)
    assert roles == ["DATA_RECEIVER"] * 4 + ["DATA_SENDER"] * 3
    topic_id = only(prod, "azure-native:servicebus:Topic").id
    assert sum(a.inputs["scope"] == topic_id for a in assignments) == 3
    assert all(role_of(a) is not ServiceBusRole.DATA_OWNER for a in assignments)


def test_dev_grants_the_developers_group_one_sender_grant_and_a_receiver_per_subscription(dev: ProgramRun) -> None:
    assignments = dev.of_type(ROLE_ASSIGNMENT)
    assert {a.inputs["principalType"] for a in assignments} == {"Group"}
    assert {a.inputs["principalId"] for a in assignments} == {"9d2f6c1e-3b4a-4e5f-8a7b-0c1d2e3f4a5b"}
    roles = sorted(role_of(a).name for a in assignments)
    assert roles == ["DATA_RECEIVER"] * 4 + ["DATA_SENDER"]


def test_names_follow_the_caf_pattern(dev: ProgramRun, prod: ProgramRun) -> None:
    for run in (dev, prod):
        assert azure_name(only(run, NAMESPACE)) == f"sbns-mlpipe-{run.stack}-weu-001"
        assert azure_name(only(run, RESOURCE_GROUP)) == f"rg-mlpipe-{run.stack}-weu-001"
        assert azure_name(only(run, "azure-native:servicebus:Topic")) == "sbt-mlpipe-events"


def test_prod_namespace_is_protected_and_locked(prod: ProgramRun) -> None:
    namespace = only(prod, NAMESPACE)
    assert namespace.protect is True
    lock = only(prod, LOCK)
    assert lock.inputs["level"] == "CanNotDelete"
    assert lock.inputs["scope"] == namespace.id
    assert namespace.urn in lock.property_dependencies["scope"]


def test_dev_has_no_deletion_protection(dev: ProgramRun) -> None:
    assert only(dev, NAMESPACE).protect is False
    assert dev.of_type(LOCK) == []


def test_prod_exports_no_connection_strings(prod: ProgramRun) -> None:
    assert "sasConnectionStrings" not in prod.outputs
    assert prod.of_type(SAS_RULE) == []


def test_outputs_name_the_fixture_resources(dev: ProgramRun) -> None:
    assert dev.outputs["messaging"] == {
        "resourceGroup": "rg-mlpipe-dev-weu-001",
        "namespace": "sbns-mlpipe-dev-weu-001",
        "endpoint": "sbns-mlpipe-dev-weu-001.servicebus.windows.net",
        "topic": "sbt-mlpipe-events",
        "subscriptions": {
            "preprocessing": "sbts-preprocessing",
            "training": "sbts-training",
            "inference": "sbts-inference",
            "result-processing": "sbts-result-processing",
        },
    }


def test_an_existing_resource_group_is_used_instead_of_creating_one() -> None:
    changed = fixture_stack_run("dev", resourceGroupName="rg-shared-platform")
    assert changed.run.of_type(RESOURCE_GROUP) == []
    assert only(changed.run, NAMESPACE).inputs["resourceGroupName"] == "rg-shared-platform"
    assert_stack_invariants(changed)


def test_subscription_delivery_settings_come_from_config(prod: ProgramRun) -> None:
    by_name = {azure_name(s): s.inputs for s in prod.of_type(SUBSCRIPTION)}
    assert by_name["sbts-training"]["lockDuration"] == "PT5M"
    assert by_name["sbts-training"]["maxDeliveryCount"] == 5
    assert by_name["sbts-inference"]["lockDuration"] == "PT1M"
    assert by_name["sbts-inference"]["defaultMessageTimeToLive"] == "P14D"
    assert all(s["deadLetteringOnMessageExpiration"] is True for s in by_name.values())


def test_stack_config_project_matches_pulumi_yaml() -> None:
    assert stack_config("dev").project == "ml-messaging"


# --- role assignments: one per (scope, principal, role), named from those three ----------------

# The fixture prod stack's identities: preprocessing's, and inference's (it publishes and consumes).
PREPROCESSING_PRINCIPAL = "3f1c2a4e-0b6d-4c8e-9a57-2d1e6f0b9c11"
INFERENCE_PRINCIPAL = "c2b8e7f1-9d34-4a6e-b1f0-5e7a3c2d1f33"
INFERENCE = 2  # its index in the fixture prod stack's services


def grants(run: ProgramRun, role: ServiceBusRole, principal: str | None = None) -> list[RecordedResource]:
    """A run's assignments of one role, optionally to one principal."""
    return [
        a
        for a in run.of_type(ROLE_ASSIGNMENT)
        if role_of(a) is role and (principal is None or a.inputs["principalId"] == principal)
    ]


def subscription_id(run: ProgramRun, name: str) -> str | None:
    (subscription,) = [s for s in run.of_type(SUBSCRIPTION) if azure_name(s) == name]
    return subscription.id


def alias_names(resource: RecordedResource) -> list[str]:
    """The logical names in a resource's aliases."""
    return sorted({str(alias).rsplit("::", 1)[1] for alias in resource.aliases})


def test_every_prod_role_assignment_is_named_from_its_scope_principal_and_role(prod: ProgramRun) -> None:
    assignments = prod.of_type(ROLE_ASSIGNMENT)
    assert len(assignments) == 7
    for assignment in assignments:
        inputs = assignment.inputs
        expected = role_assignment_name(inputs["scope"], inputs["principalId"], role_of(assignment))
        assert inputs["roleAssignmentName"] == expected, assignment.name
    assert len({a.inputs["roleAssignmentName"] for a in assignments}) == 7


def test_different_scopes_give_different_names(prod: ProgramRun) -> None:
    scopes = [only(prod, TOPIC).id, *(s.id for s in prod.of_type(SUBSCRIPTION))]
    assert len(scopes) == 5
    for role in (ServiceBusRole.DATA_SENDER, ServiceBusRole.DATA_RECEIVER):
        names = {role_assignment_name(str(scope), PREPROCESSING_PRINCIPAL, role) for scope in scopes}
        assert len(names) == len(scopes), role


def test_role_assignment_names_ignore_case_but_not_principal_or_role(prod: ProgramRun) -> None:
    scope = str(only(prod, TOPIC).id)
    name = role_assignment_name(scope, PREPROCESSING_PRINCIPAL, ServiceBusRole.DATA_SENDER)
    # ARM compares IDs case-insensitively: the same grant written in capitals has the same name.
    assert role_assignment_name(scope.upper(), PREPROCESSING_PRINCIPAL.upper(), ServiceBusRole.DATA_SENDER) == name
    assert role_assignment_name(scope, INFERENCE_PRINCIPAL, ServiceBusRole.DATA_SENDER) != name
    assert role_assignment_name(scope, PREPROCESSING_PRINCIPAL, ServiceBusRole.DATA_RECEIVER) != name
    assert uuid.UUID(name).version == 5


def test_renaming_a_publisher_changes_nothing_in_its_sender_grant(prod: ProgramRun) -> None:
    services = raw_services("prod")
    services[INFERENCE] = {**services[INFERENCE], "name": "scoring"}
    renamed = fixture_stack_run("prod", services=services)
    (before,) = grants(prod, ServiceBusRole.DATA_SENDER, INFERENCE_PRINCIPAL)
    (after,) = grants(renamed.run, ServiceBusRole.DATA_SENDER, INFERENCE_PRINCIPAL)
    assert after.urn == before.urn
    assert after.inputs["roleAssignmentName"] == before.inputs["roleAssignmentName"]
    assert after.inputs == before.inputs
    # The rename did happen: the service's receiver grant followed its renamed subscription.
    (receiver,) = grants(renamed.run, ServiceBusRole.DATA_RECEIVER, INFERENCE_PRINCIPAL)
    assert receiver.inputs["scope"] == subscription_id(renamed.run, "sbts-scoring")
    assert_stack_invariants(renamed)


@pytest.fixture(scope="module")
def shared_identity() -> StackRun:
    """Prod where training runs as preprocessing's identity: two publishers and two consumers share it."""
    services = raw_services("prod")
    services[1] = {**services[1], "principalId": PREPROCESSING_PRINCIPAL}
    return fixture_stack_run("prod", services=services)


def test_publishers_sharing_an_identity_get_one_sender_grant_on_the_topic(shared_identity: StackRun) -> None:
    run = shared_identity.run
    (sender,) = grants(run, ServiceBusRole.DATA_SENDER, PREPROCESSING_PRINCIPAL)
    assert sender.inputs["scope"] == only(run, TOPIC).id
    # Deployed when each service had its own sender grant: both former names update this one in place.
    assert {"ml-pipeline-preprocessing-sender", "ml-pipeline-training-sender"} <= set(alias_names(sender))
    assert len(grants(run, ServiceBusRole.DATA_SENDER)) == 2  # and inference's own


def test_consumers_sharing_an_identity_keep_one_receiver_grant_each(shared_identity: StackRun) -> None:
    run = shared_identity.run
    receivers = grants(run, ServiceBusRole.DATA_RECEIVER, PREPROCESSING_PRINCIPAL)
    assert sorted(str(r.inputs["scope"]) for r in receivers) == sorted(
        str(subscription_id(run, name)) for name in ("sbts-preprocessing", "sbts-training")
    )
    assert len(grants(run, ServiceBusRole.DATA_RECEIVER)) == 4
    assert len(run.of_type(ROLE_ASSIGNMENT)) == 6


def test_a_stack_with_a_shared_identity_holds_every_invariant(shared_identity: StackRun) -> None:
    assert_stack_invariants(shared_identity)


def test_a_shared_identity_written_in_capitals_is_still_granted_once() -> None:
    services = raw_services("prod")
    services[1] = {**services[1], "principalId": PREPROCESSING_PRINCIPAL.upper()}
    changed = fixture_stack_run("prod", services=services)
    assert len(grants(changed.run, ServiceBusRole.DATA_SENDER, PREPROCESSING_PRINCIPAL)) == 1
    assert len(changed.run.of_type(ROLE_ASSIGNMENT)) == 6
    assert_stack_invariants(changed)


# --- partitions: a partitioned namespace gets a partitioned topic ------------------------------


def prod_namespace(**changes: Any) -> dict[str, Any]:
    """The fixture prod stack's namespace settings with some keys changed (``None`` sends null)."""
    return {**stack_config("prod").values["ml-messaging:namespace"], **changes}


@pytest.mark.parametrize(("partitions", "capacity"), [(2, 2), (4, 4), (4, 64)])
def test_a_partitioned_namespace_gets_a_partitioned_topic(partitions: int, capacity: int) -> None:
    changed = fixture_stack_run(
        "prod", namespace=prod_namespace(capacity=capacity, premiumMessagingPartitions=partitions)
    )
    namespace = only(changed.run, NAMESPACE).inputs
    assert namespace["premiumMessagingPartitions"] == partitions
    assert namespace["sku"]["capacity"] == capacity
    assert only(changed.run, TOPIC).inputs["enablePartitioning"] is True
    assert_stack_invariants(changed)


def test_one_partition_or_standard_gives_a_topic_without_partitioning(dev: ProgramRun, prod: ProgramRun) -> None:
    one_explicit_partition = fixture_stack_run(
        "prod", namespace=prod_namespace(capacity=16, premiumMessagingPartitions=1)
    )
    assert only(one_explicit_partition.run, NAMESPACE).inputs["premiumMessagingPartitions"] == 1
    for run in (dev, prod, one_explicit_partition.run):
        assert "enablePartitioning" not in only(run, TOPIC).inputs, run.stack
    assert_stack_invariants(one_explicit_partition)


# --- the invariants above catch the defects they guard against ---------------------------------


def edited(stack: StackRun, type_: str, edit: Callable[[RecordedResource], list[RecordedResource]]) -> StackRun:
    """A copy of a stack run where each resource of one type is replaced by what ``edit`` makes of it."""
    resources = [new for r in stack.run.resources for new in (edit(r) if r.type == type_ else [r])]
    return replace(stack, run=replace(stack.run, resources=tuple(resources)))


def with_inputs(resource: RecordedResource, **changes: Any) -> RecordedResource:
    inputs = {k: v for k, v in {**resource.inputs, **changes}.items() if v is not None}
    return replace(resource, inputs=inputs)


def granted_twice(resource: RecordedResource) -> list[RecordedResource]:
    # The same grant under a second logical and Azure name, written in capitals (ARM ignores case).
    twin = with_inputs(resource, scope=str(resource.inputs["scope"]).upper(), roleAssignmentName=str(uuid.uuid4()))
    return [resource, replace(twin, urn=f"{resource.urn}-twin", name=f"{resource.name}-twin")]


def named_per_service(resource: RecordedResource) -> list[RecordedResource]:
    return [with_inputs(resource, roleAssignmentName=str(uuid.uuid5(uuid.NAMESPACE_URL, resource.name)))]


def unpartitioned(resource: RecordedResource) -> list[RecordedResource]:
    return [with_inputs(resource, enablePartitioning=None)]


@pytest.fixture(scope="module")
def partitioned() -> StackRun:
    return fixture_stack_run("prod", namespace=prod_namespace(capacity=2, premiumMessagingPartitions=2))


def test_the_invariants_catch_a_duplicate_grant_a_per_service_name_and_an_unpartitioned_topic(
    partitioned: StackRun,
) -> None:
    broken: list[tuple[Callable[[StackRun], None], StackRun]] = [
        (no_two_role_assignments_share_scope_principal_and_role, edited(partitioned, ROLE_ASSIGNMENT, granted_twice)),
        (
            role_assignment_names_derive_from_scope_principal_and_role,
            edited(partitioned, ROLE_ASSIGNMENT, named_per_service),
        ),
        (topics_are_partitioned_exactly_when_the_namespace_is, edited(partitioned, TOPIC, unpartitioned)),
    ]
    for invariant, stack in broken:
        invariant(partitioned)
        with pytest.raises(AssertionError):
            invariant(stack)
