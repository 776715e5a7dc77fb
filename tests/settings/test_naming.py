"""Every Azure name the program builds comes from settings.naming."""

from __future__ import annotations

from settings.features import SERVICE_BUS_PRIVATE_DNS_ZONE
from settings.naming import RESOURCE_GROUP_NAME, SUBSCRIPTION_NAME, PipelineNames, fully_qualified_namespace

NAMES = PipelineNames("mlpipe", "prod", "westeurope", "001")


def test_derived_names() -> None:
    assert NAMES.rule("model.trained") == "evt-model.trained"
    assert NAMES.autoscale_setting == "autoscale-sbns-mlpipe-prod-weu-001"
    assert NAMES.fully_qualified_namespace == "sbns-mlpipe-prod-weu-001.servicebus.windows.net"
    assert fully_qualified_namespace("sbns-x") == "sbns-x.servicebus.windows.net"
    assert SERVICE_BUS_PRIVATE_DNS_ZONE == "privatelink.servicebus.windows.net"


def test_the_longest_event_type_makes_a_valid_rule_name() -> None:
    # Rules follow the subscription name rules (docs/azure-facts.md, Names); EventType allows 46 characters.
    assert SUBSCRIPTION_NAME.fullmatch(NAMES.rule("a" * 45 + "9"))
    assert not SUBSCRIPTION_NAME.fullmatch(NAMES.rule("a" * 47))


def test_resource_group_names_do_not_end_with_a_dot() -> None:
    assert RESOURCE_GROUP_NAME.fullmatch("rg-hub.(1)_x")
    assert not RESOURCE_GROUP_NAME.fullmatch("rg-hub.")
