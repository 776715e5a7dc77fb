"""The Azure Service Bus emulator's ``Config.json`` for a stack: the same topic, subscriptions and filters.

Source of the format and its limits: github.com/Azure/azure-service-bus-emulator-installer (commit
40fb40fb48a8, 2026-06-12), ``ServiceBus-Emulator/Schema/Config-schema.json`` (vendored as
``preflight/emulator-config.schema.json``, see docs/local-development.md for the one adaptation) and the
sample ``ServiceBus-Emulator/Config/Config.json``; the connection string and the SQL Edge dependency:
its ``README.md`` and ``Docker-Compose-Template/docker-compose-default.yml``; known limitations:
Microsoft Learn, "Overview of the Azure Service Bus emulator"
(https://learn.microsoft.com/azure/service-bus-messaging/overview-emulator).

The emulator accepts narrower values than Azure for some settings; those are clamped into its range
and each clamp is reported as a difference, like every feature it lacks. Routing is never changed:
the same correlation filters on the subject reach the same subscriptions.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema

from settings.durations import iso8601
from settings.model import ServiceSettings, StackSettings

SCHEMA_PATH = Path(__file__).with_name("emulator-config.schema.json")
# Config-schema.json: Namespaces[].Name is an enum of this one value.
EMULATOR_NAMESPACE = "sbemulatorns"
# Config-schema.json limits (descriptions and minimum/maximum), where narrower than Azure's.
EMULATOR_LOCK_DURATION = (timedelta(minutes=1), timedelta(minutes=5))  # subscription LockDuration
EMULATOR_MESSAGE_TTL = (timedelta(minutes=5), timedelta(hours=1))  # DefaultMessageTimeToLive
EMULATOR_DUPLICATE_WINDOW = (timedelta(seconds=5), timedelta(minutes=5))  # DuplicateDetectionHistoryTimeWindow
EMULATOR_MAX_DELIVERY_COUNT = 10  # MaxDeliveryCount maximum
EMULATOR_MAX_SUBSCRIPTIONS_PER_TOPIC = 50  # Topics[].Subscriptions maxItems
EMULATOR_MAX_RULES = 1000  # Rules maxItems ("Maximum Rules per topic is 1000")


class EmulatorConfigError(ValueError):
    """The stack cannot be represented in the emulator's configuration."""


@dataclass(frozen=True)
class EmulatorConfig:
    """The emulator's configuration and how it differs from what Azure gets."""

    config: dict[str, Any]
    differences: tuple[str, ...]

    def text(self) -> str:
        """The file's content (JSON, no comments: the emulator parses JSON)."""
        return json.dumps(self.config, indent=2) + "\n"


def _clamp(value: timedelta, bounds: tuple[timedelta, timedelta]) -> timedelta:
    return min(max(value, bounds[0]), bounds[1])


class _Builder:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.differences: list[str] = []

    def note(self, text: str) -> None:
        self.differences.append(text)

    def duration(self, where: str, value: timedelta, bounds: tuple[timedelta, timedelta]) -> str:
        clamped = _clamp(value, bounds)
        if clamped != value:
            self.note(
                f"{where}: {iso8601(value)} in Azure, {iso8601(clamped)} in the emulator (it accepts "
                f"{iso8601(bounds[0])} to {iso8601(bounds[1])})"
            )
        return iso8601(clamped)

    def subscription(self, service: ServiceSettings) -> dict[str, Any]:
        name = self.settings.names.subscription(service.name)
        delivery = service.delivery
        count = min(delivery.max_delivery_count, EMULATOR_MAX_DELIVERY_COUNT)
        if count != delivery.max_delivery_count:
            self.note(
                f"{name}: maxDeliveryCount {delivery.max_delivery_count} in Azure, {count} in the emulator "
                f"(at most {EMULATOR_MAX_DELIVERY_COUNT})"
            )
        if delivery.auto_delete_on_idle is not None:
            self.note(f"{name}: autoDeleteOnIdle is not configurable in the emulator (never deleted when idle)")
        if delivery.dead_lettering_on_filter_evaluation_exceptions:
            self.note(f"{name}: deadLetteringOnFilterEvaluationExceptions is not configurable in the emulator")
        return {
            "Name": name,
            "Properties": {
                "DeadLetteringOnMessageExpiration": delivery.dead_lettering_on_message_expiration,
                "DefaultMessageTimeToLive": self.duration(
                    f"{name}: defaultMessageTimeToLive", delivery.default_message_time_to_live, EMULATOR_MESSAGE_TTL
                ),
                "LockDuration": self.duration(f"{name}: lockDuration", delivery.lock_duration, EMULATOR_LOCK_DURATION),
                "MaxDeliveryCount": count,
                "ForwardDeadLetteredMessagesTo": "",
                "ForwardTo": "",
                "RequiresSession": False,
            },
            # Azure: the $Default rule holds the first filter, evt-<event> the others; the emulator has no
            # $Default to replace (and refuses the name), so every filter is an evt-<event> rule. Rules are
            # OR-ed either way: the same messages arrive.
            "Rules": [
                {
                    "Name": self.settings.names.rule(event),
                    "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"Label": event}},
                }
                for event in service.consumes
            ],
        }

    def topic(self) -> dict[str, Any]:
        topic = self.settings.topic
        properties: dict[str, Any] = {"RequiresDuplicateDetection": topic.requires_duplicate_detection}
        window = topic.effective_duplicate_window
        if window is not None:
            properties["DuplicateDetectionHistoryTimeWindow"] = self.duration(
                "topic: duplicateDetectionHistoryTimeWindow", window, EMULATOR_DUPLICATE_WINDOW
            )
        return {
            "Name": self.settings.names.topic,
            "Properties": properties,
            "Subscriptions": [self.subscription(service) for service in self.settings.consumers],
        }

    def namespace_notes(self) -> None:
        settings = self.settings
        namespace = settings.namespace
        self.note(
            f"namespace: '{EMULATOR_NAMESPACE}' on localhost instead of {settings.names.fully_qualified_namespace}"
        )
        self.note(
            "authentication: the emulator takes only its fixed SAS connection string (UseDevelopmentEmulator=true), "
            "no Microsoft Entra ID; roles and identities are not checked"
        )
        self.note("persistence: entities and messages are lost when the emulator container restarts")
        size = settings.max_message_size_in_kilobytes
        self.note(
            f"message size: not configurable in the emulator (its Config-schema.json has no such setting); Azure "
            f"takes at most {size:,} KB here: try large messages against Azure"
        )
        if namespace.effective_partitions > 1:
            self.note(f"partitioning: {namespace.effective_partitions} partitions in Azure, none in the emulator")
        missing = [
            key
            for key, value in (
                ("privateNetworking", namespace.private_networking),
                ("networkRules", namespace.effective_network_rules),
                ("diagnostics", namespace.diagnostics),
                ("alerts", namespace.alerts),
                ("customerManagedKey", namespace.customer_managed_key),
                ("autoscale", namespace.autoscale),
                ("geoReplication", namespace.geo_replication),
            )
            if value is not None
        ]
        if missing:
            self.note(f"not emulated: namespace {', '.join(missing)}")

    def build(self) -> EmulatorConfig:
        consumers = self.settings.consumers
        if not consumers:
            raise EmulatorConfigError(
                "services: no service consumes an event type; the emulator needs at least one subscription per topic"
            )
        if len(consumers) > EMULATOR_MAX_SUBSCRIPTIONS_PER_TOPIC:
            raise EmulatorConfigError(
                f"services: {len(consumers)} services consume events; the emulator takes at most "
                f"{EMULATOR_MAX_SUBSCRIPTIONS_PER_TOPIC} subscriptions per topic"
            )
        rules = sum(len(service.consumes) for service in consumers)
        if rules > EMULATOR_MAX_RULES:
            raise EmulatorConfigError(
                f"services: {rules} consumed event types need as many rules; the emulator takes at most "
                f"{EMULATOR_MAX_RULES}"
            )
        self.namespace_notes()
        topic = self.topic()
        config = {
            "UserConfig": {
                "Namespaces": [{"Name": EMULATOR_NAMESPACE, "Queues": [], "Topics": [topic]}],
                "Logging": {"Type": "File"},
            }
        }
        return EmulatorConfig(config, tuple(self.differences))


def emulator_config(settings: StackSettings) -> EmulatorConfig:
    """The emulator's configuration for a stack, checked against the emulator's documented schema."""
    built = _Builder(settings).build()
    problems = sorted(
        jsonschema.Draft7Validator(schema()).iter_errors(built.config), key=lambda error: list(error.absolute_path)
    )
    if problems:
        first = problems[0]
        where = "/".join(str(part) for part in first.absolute_path)
        raise EmulatorConfigError(f"{where}: {first.message} (the emulator's Config-schema.json)")
    return built


def schema() -> dict[str, Any]:
    """The emulator's configuration schema (vendored)."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def emulator_filters(config: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The correlation filters of an emulator configuration, by subscription name."""
    filters: dict[str, list[dict[str, Any]]] = {}
    for namespace in config["UserConfig"]["Namespaces"]:
        for topic in namespace.get("Topics", []):
            for subscription in topic.get("Subscriptions", []):
                rules = filters.setdefault(subscription["Name"], [])
                for rule in subscription.get("Rules", []):
                    properties = rule["Properties"]
                    if properties.get("FilterType") == "Correlation":
                        rules.append(dict(properties["CorrelationFilter"]))
    return filters
