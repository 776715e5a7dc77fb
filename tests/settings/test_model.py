"""Stack settings: the shipped stacks are valid; malformed config (variations of the fixture stacks) is
rejected with a precise line."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from settings.errors import SettingsError
from settings.loader import settings_from_config
from settings.model import StackSettings, Tier, iso8601
from tests.support import (
    FIXTURE_STACKS,
    SHIPPED_STACKS,
    engine_config,
    raw_services,
    shipped_stack_config,
    stack_config,
)

PROD_FILE = "stacks/Pulumi.prod.yaml"


def validate(stack: str = "prod", **overrides: Any) -> StackSettings:
    return settings_from_config(engine_config(stack, **overrides), "ml-messaging", PROD_FILE)


def rejection(**overrides: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        validate(**overrides)
    return str(caught.value)


def test_at_least_one_stack_is_shipped() -> None:
    # Without one, the tests parametrized over the shipped stacks would pass by running nothing.
    assert SHIPPED_STACKS


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_are_valid(stack: str) -> None:
    config = shipped_stack_config(stack)
    settings = settings_from_config(config.for_engine(), config.project, f"stacks/Pulumi.{stack}.yaml")
    assert settings.environment == stack
    services = config.values[f"{config.project}:services"]
    assert [service.name for service in settings.services] == [service["name"] for service in services]
    assert [service.name for service in settings.consumers] == [s["name"] for s in services if s.get("consumes")]


@pytest.mark.parametrize("stack", FIXTURE_STACKS)
def test_fixture_stacks_are_valid_with_four_consumers(stack: str) -> None:
    settings = validate(stack)
    assert settings.environment == stack
    assert len(settings.consumers) == 4


def test_dev_is_standard_and_prod_is_premium_with_one_unit() -> None:
    dev, prod = validate("dev"), validate("prod")
    assert dev.namespace.tier is Tier.STANDARD
    assert dev.namespace.effective_capacity is None
    assert prod.namespace.tier is Tier.PREMIUM
    assert prod.namespace.effective_capacity == 1
    assert prod.namespace.local_auth_enabled is False
    assert prod.namespace.protected is True


def test_delivery_defaults_are_safe() -> None:
    service = validate("prod").services[0]
    assert service.delivery.max_delivery_count == 10
    assert service.delivery.lock_duration == timedelta(minutes=1)
    assert service.delivery.dead_lettering_on_message_expiration is True


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=1), "PT1M"),
        (timedelta(days=14), "P14D"),
        (timedelta(hours=1, seconds=5), "PT1H5S"),
        (timedelta(days=1, minutes=30), "P1DT30M"),
    ],
)
def test_durations_render_as_iso8601(value: timedelta, text: str) -> None:
    assert iso8601(value) == text


def services_with(index: int, **changes: Any) -> list[dict[str, Any]]:
    services = raw_services("prod")
    services[index] = {**services[index], **changes}
    return services


def namespace_with(**changes: Any) -> dict[str, Any]:
    return {**stack_config("prod").values["ml-messaging:namespace"], **changes}


# Each case: the override, then the exact key path and a fragment of "what is allowed".
MALFORMED: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "capacity not a valid unit count",
        {"namespace": namespace_with(capacity=3)},
        "ml-messaging:namespace.capacity",
        "3 is not one of 1, 2, 4, 8, 16",
    ),
    (
        "Basic tier",
        {"namespace": namespace_with(tier="Basic")},
        "ml-messaging:namespace.tier",
        "Basic tier has no topics",
    ),
    (
        "unknown tier",
        {"namespace": namespace_with(tier="Gold")},
        "ml-messaging:namespace.tier",
        "is not one of 'Standard', 'Premium'",
    ),
    (
        "capacity on Standard",
        {"namespace": namespace_with(tier="Standard", capacity=2)},
        "ml-messaging:namespace.capacity",
        "only available with tier Premium",
    ),
    (
        "partitions on Standard",
        {"namespace": {"tier": "Standard", "premiumMessagingPartitions": 2}},
        "ml-messaging:namespace.premiumMessagingPartitions",
        "only available with tier Premium",
    ),
    (
        "partitions not dividing capacity",
        {"namespace": namespace_with(capacity=2, premiumMessagingPartitions=4)},
        "ml-messaging:namespace.capacity",
        "2 is not one of 4, 8, 16, 32, 64 (messaging units are 1, 2, 4, 8 or 16 times premiumMessagingPartitions",
    ),
    (
        "capacity 1 with 4 partitions",
        {"namespace": namespace_with(capacity=1, premiumMessagingPartitions=4)},
        "ml-messaging:namespace.capacity",
        "1 is not one of 4, 8, 16, 32, 64",
    ),
    (
        "capacity 3 with 4 partitions",
        {"namespace": namespace_with(capacity=3, premiumMessagingPartitions=4)},
        "ml-messaging:namespace.capacity",
        "3 is not one of 4, 8, 16, 32, 64",
    ),
    (
        "capacity 128 with 4 partitions",
        {"namespace": namespace_with(capacity=128, premiumMessagingPartitions=4)},
        "ml-messaging:namespace.capacity",
        "128 is not one of 4, 8, 16, 32, 64",
    ),
    (
        "capacity 64 with 2 partitions",
        {"namespace": namespace_with(capacity=64, premiumMessagingPartitions=2)},
        "ml-messaging:namespace.capacity",
        "64 is not one of 2, 4, 8, 16, 32 (messaging units are 1, 2, 4, 8 or 16 times premiumMessagingPartitions, "
        "which is 2)",
    ),
    (
        "capacity 32 with 1 partition",
        {"namespace": namespace_with(capacity=32, premiumMessagingPartitions=1)},
        "ml-messaging:namespace.capacity",
        "32 is not one of 1, 2, 4, 8, 16",
    ),
    (
        "capacity 32 with partitions left out",
        {"namespace": namespace_with(capacity=32)},
        "ml-messaging:namespace.capacity",
        "32 is not one of 1, 2, 4, 8, 16",
    ),
    (
        "capacity left out with 2 partitions",
        {"namespace": {"tier": "Premium", "premiumMessagingPartitions": 2}},
        "ml-messaging:namespace.capacity",
        "is not one of 2, 4, 8, 16, 32",
    ),
    (
        "3 partitions with a capacity they divide",
        {"namespace": namespace_with(capacity=12, premiumMessagingPartitions=3)},
        "ml-messaging:namespace.premiumMessagingPartitions",
        "3 is not one of 1, 2, 4",
    ),
    (
        "partitions out of range",
        {"namespace": namespace_with(premiumMessagingPartitions=3)},
        "ml-messaging:namespace.premiumMessagingPartitions",
        "3 is not one of 1, 2, 4",
    ),
    (
        "TLS version unknown",
        {"namespace": namespace_with(minimumTlsVersion="2.0")},
        "ml-messaging:namespace.minimumTlsVersion",
        "is not one of '1.0', '1.1', '1.2', '1.3'",
    ),
    (
        "unknown namespace key",
        {"namespace": namespace_with(zoneRedundant=True)},
        "ml-messaging:namespace.zoneRedundant",
        "unknown key; allowed here: alerts, autoscale, capacity, customerManagedKey, deleteLock, diagnostics",
    ),
    ("missing tier", {"namespace": {"capacity": 1}}, "ml-messaging:namespace.tier", "is required"),
    (
        "unknown top-level key",
        {"colour": "blue"},
        "ml-messaging:colour",
        "unknown key; allowed here: environment",
    ),
    ("environment with capitals", {"environment": "Prod"}, "ml-messaging:environment", "is not valid"),
    ("instance not three digits", {"instance": "1"}, "ml-messaging:instance", "three digits, e.g. '001'"),
    (
        "workload too long for names",
        {"workload": "averyveryverylongworkload"},
        "ml-messaging:workload",
        "2-12 lowercase",
    ),
    (
        "namespace name too long",
        # A real region without a short code, and the longest workload and environment names allowed.
        {"workload": "averylongwor", "environment": "production", "location": "australiasoutheast"},
        "ml-messaging:workload",
        "must be 6-50 characters long",
    ),
    ("missing owner tag", {"tags": {"costCenter": "cc-1"}}, "ml-messaging:tags", "must set owner"),
    ("no services", {"services": []}, "ml-messaging:services", "must have at least 1 item"),
    (
        "duplicate service names",
        {"services": [*raw_services("prod"), raw_services("prod")[0]]},
        "ml-messaging:services",
        "repeated: preprocessing",
    ),
    (
        "service name invalid for a subscription",
        {"services": services_with(0, name="Pre_Processing")},
        "ml-messaging:services[0].name",
        "is not valid",
    ),
    (
        "consumed event nobody publishes",
        {"services": services_with(3, consumes=["prediction.deleted"])},
        "ml-messaging:services[3].consumes",
        "prediction.deleted, which no service publishes",
    ),
    (
        "lock duration above Azure's maximum",
        {"services": services_with(1, delivery={"lockDuration": "PT10M"})},
        "ml-messaging:services[1].delivery.lockDuration",
        "between PT5S and PT5M (got PT10M)",
    ),
    (
        "lock duration not ISO 8601",
        {"services": services_with(1, delivery={"lockDuration": "five minutes"})},
        "ml-messaging:services[1].delivery.lockDuration",
        "must be an ISO 8601 duration such as PT1M",
    ),
    (
        "max delivery count zero",
        {"services": services_with(1, delivery={"maxDeliveryCount": 0})},
        "ml-messaging:services[1].delivery.maxDeliveryCount",
        "greater than or equal to 1",
    ),
    (
        "principal id not a GUID",
        {"services": services_with(2, principalId="not-a-guid")},
        "ml-messaging:services[2].principalId",
        "must be a GUID",
    ),
    (
        "service that neither publishes nor consumes",
        {"services": [*raw_services("prod"), {"name": "idle"}]},
        "ml-messaging:services[4]",
        "must publish or consume",
    ),
    (
        "event type listed twice",
        {"services": services_with(0, publishes=["data.preprocessed", "data.preprocessed"])},
        "ml-messaging:services[0].publishes",
        "more than once",
    ),
    (
        "event type ending in a dot (its rule name would too)",
        {"services": services_with(0, publishes=["b."])},
        "ml-messaging:services[0].publishes[0]",
        "ending with a letter or digit",
    ),
    (
        "consumed event types differing only in case (rule names ignore case)",
        {
            "externalEventTypes": ["data.ingested", "Bc", "bc"],
            "services": services_with(0, consumes=["data.ingested", "Bc", "bc"]),
        },
        "ml-messaging:services[0].consumes",
        "Bc and bc, which differ only in case",
    ),
    (
        "local (SAS) auth enabled",
        {"namespace": namespace_with(localAuthEnabled=True)},
        "ml-messaging:namespace.localAuthEnabled",
        "must be false: local (SAS key) authentication stays disabled in every environment",
    ),
    (
        "structured value of the wrong type",
        {"services": {"name": "x"}},
        "ml-messaging:services",
        "must be a list",
    ),
    (
        "boolean that is not one",
        {"namespace": namespace_with(localAuthEnabled="maybe")},
        "ml-messaging:namespace.localAuthEnabled",
        "must be true or false (got 'maybe')",
    ),
]


@pytest.mark.parametrize(("case", "overrides", "key", "allowed"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_config_is_rejected_naming_file_and_key(
    case: str, overrides: dict[str, Any], key: str, allowed: str
) -> None:
    message = rejection(**overrides)
    lines = message.splitlines()
    assert any(line.startswith(f"{PROD_FILE}: {key}: ") for line in lines), message
    assert allowed.lower() in message.lower(), message


def test_foreign_namespaces_are_allowed_but_unknown_ones_are_not() -> None:
    config = engine_config("prod")
    config["azure-native:location"] = "westeurope"
    assert settings_from_config(config, "ml-messaging", PROD_FILE).location == "westeurope"
    config["ml-mesaging:workload"] = "typo"
    with pytest.raises(SettingsError, match=r"ml-mesaging:workload: unknown config namespace 'ml-mesaging'"):
        settings_from_config(config, "ml-messaging", PROD_FILE)


def test_structured_values_arrive_as_json_text_like_the_engine_sends_them() -> None:
    config = engine_config("prod")
    assert isinstance(config["ml-messaging:namespace"], str)
    assert json.loads(config["ml-messaging:namespace"])["tier"] == "Premium"
    assert validate().namespace.tier is Tier.PREMIUM


# (premiumMessagingPartitions, capacity): 1, 2, 4, 8 or 16 messaging units per partition.
CAPACITIES = [(4, 4), (4, 8), (4, 16), (4, 32), (4, 64), (2, 2), (2, 32), (1, 1), (1, 16), (None, 16)]


@pytest.mark.parametrize(("partitions", "capacity"), CAPACITIES, ids=[f"{p}x{c}" for p, c in CAPACITIES])
def test_capacity_is_1_to_16_units_per_partition(partitions: int | None, capacity: int) -> None:
    namespace = validate(namespace=namespace_with(capacity=capacity, premiumMessagingPartitions=partitions)).namespace
    assert namespace.effective_capacity == capacity
    assert namespace.effective_partitions == (partitions or 1)
    assert capacity in namespace.allowed_capacities


def test_capacity_zero_is_refused() -> None:
    message = rejection(namespace=namespace_with(capacity=0))
    assert f"{PROD_FILE}: ml-messaging:namespace.capacity: " in message


@pytest.mark.parametrize("event", ["b", "b.c", "a-1", "x_y.Z9", "e" * 46])
def test_event_types_that_name_valid_rules_are_accepted(event: str) -> None:
    settings = validate(
        externalEventTypes=["data.ingested", event], services=services_with(0, consumes=["data.ingested", event])
    )
    assert event in settings.services[0].consumes


@pytest.mark.parametrize("event", ["b.", "b-", "b_", "1b", "e" * 47])
def test_event_types_that_would_name_invalid_rules_are_refused(event: str) -> None:
    assert "is not valid: an event type is 1-46 characters" in rejection(externalEventTypes=[event])


def test_published_event_types_may_differ_in_case() -> None:
    """Only consumed event types name rules; a publisher's subjects are plain message labels."""
    settings = validate(services=services_with(0, publishes=["data.preprocessed", "Data.Preprocessed"]))
    assert settings.services[0].publishes == ("data.preprocessed", "Data.Preprocessed")
