"""Who publishes what, and which subscription receives which events, as the plan would create it."""

from __future__ import annotations

from dataclasses import dataclass

from preflight.mockrun import ProgramRun
from settings.model import StackSettings

_RULE_TYPES = ("azure-native:servicebus:DefaultRule", "azure-native:servicebus:Rule")


@dataclass(frozen=True)
class Route:
    """One subscription: the events its filters let through and the service that reads it."""

    subscription: str
    consumer: str
    event_types: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    """Publishers to the topic, and the topic's filtered subscriptions."""

    topic: str
    publishers: dict[str, tuple[str, ...]]
    external: tuple[str, ...]
    routes: tuple[Route, ...]


def routing(settings: StackSettings, run: ProgramRun) -> Routing:
    """Publishers from the settings; subscriptions and their filters from the registered resources."""
    labels: dict[str, list[str]] = {}
    for rule in (r for r in run.resources if r.type in _RULE_TYPES):
        label = (rule.inputs.get("correlationFilter") or {}).get("label")
        if label:
            labels.setdefault(str(rule.inputs.get("subscriptionName")), []).append(str(label))
    routes = tuple(
        Route(
            settings.names.subscription(service.name),
            service.name,
            tuple(sorted(labels.get(settings.names.subscription(service.name), []))),
        )
        for service in settings.consumers
    )
    publishers = {service.name: service.publishes for service in settings.services if service.publishes}
    return Routing(settings.names.topic, publishers, settings.external_event_types, routes)
