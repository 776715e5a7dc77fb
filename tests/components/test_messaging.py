"""The real program, run for each stack under Pulumi's mock runtime: what would be created.

The invariants (tests/invariants.py) run over every shipped stack and every fixture stack; the exact
numbers and shapes run on the fixture stacks only, so editing ``stacks/`` never breaks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from components.roles import ServiceBusRole
from preflight.mockrun import ProgramRun
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
    StackRun,
    assert_stack_invariants,
    azure_name,
    only,
    role_of,
    routed_event_types,
    run_stack_file,
    secret_strings,
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
    assert only(dev, NAMESPACE).inputs["disableLocalAuth"] is False
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


def test_dev_grants_no_role_since_it_has_no_identities(dev: ProgramRun) -> None:
    assert dev.of_type(ROLE_ASSIGNMENT) == []


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


def test_dev_sas_rules_are_least_privilege_and_their_strings_are_secret(dev: ProgramRun) -> None:
    rights = {azure_name(r): sorted(r.inputs["rights"]) for r in dev.of_type(SAS_RULE)}
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
