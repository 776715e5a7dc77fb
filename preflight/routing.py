"""Who publishes what, and which subscription receives which events, as the plan would create it.

One function, ``correlation_matches``, decides whether a correlation filter lets a message through.
The route command, the Markdown report, the emulator checks and the tests all route with it, so an
answer about Azure and an answer about the emulator are computed the same way.

Azure's rule (Microsoft Learn, "Topic filters and actions", Correlation filters,
https://learn.microsoft.com/azure/service-bus-messaging/topic-filters#correlation-filters): a message
matches when, for every property the filter sets, the message's value equals it; string comparison is
case-sensitive; a subscription receives a message when any of its rules matches.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from preflight.mockrun import ProgramRun
from settings.model import StackSettings

_RULE_TYPES = ("azure-native:servicebus:DefaultRule", "azure-native:servicebus:Rule")
# Correlation filter system properties; ARM spells them camelCase (azure-native CorrelationFilterArgs),
# the emulator's Config.json PascalCase. `label` is the message subject.
SYSTEM_PROPERTIES = (
    "contentType",
    "correlationId",
    "label",
    "messageId",
    "replyTo",
    "replyToSessionId",
    "sessionId",
    "to",
)


# Not a match condition: whether the broker preprocesses the filter (azure-native CorrelationFilterArgs).
_NOT_MATCHED = frozenset({"requiresPreprocessing"})


def _camel(key: str) -> str:
    return key[:1].lower() + key[1:]


def correlation_matches(correlation_filter: Mapping[str, Any], message: Mapping[str, Any]) -> bool:
    """Whether a correlation filter (ARM or emulator spelling) lets ``message`` through.

    ``message`` holds system properties by their camelCase names (``label`` is the subject) and user
    properties under ``properties``. A filter that sets nothing is refused: Azure and the emulator
    (``minProperties: 1``) both require at least one property.
    """
    wanted = {
        _camel(key): value
        for key, value in correlation_filter.items()
        if value not in (None, {}, "") and _camel(key) not in _NOT_MATCHED
    }
    if not wanted:
        raise ValueError("a correlation filter must set at least one property")
    user_wanted: Mapping[str, Any] = wanted.pop("properties", None) or {}
    unknown = sorted(set(wanted) - set(SYSTEM_PROPERTIES))
    if unknown:
        raise ValueError(f"not a correlation filter property: {', '.join(unknown)}")
    user: Mapping[str, Any] = message.get("properties") or {}
    return all(message.get(key) == value for key, value in wanted.items()) and all(
        key in user and user[key] == value for key, value in user_wanted.items()
    )


def receivers(filters_by_subscription: Mapping[str, Sequence[Mapping[str, Any]]], subject: str) -> list[str]:
    """The subscriptions whose rules let a message with this subject (and nothing else set) through, sorted."""
    message = {"label": subject}
    return sorted(
        subscription
        for subscription, filters in filters_by_subscription.items()
        if any(correlation_matches(f, message) for f in filters)
    )


def program_filters(run: ProgramRun) -> dict[str, list[dict[str, Any]]]:
    """The correlation filters the program registers, by subscription name (rules are OR-ed by the broker)."""
    filters: dict[str, list[dict[str, Any]]] = {}
    for rule in (r for r in run.resources if r.type in _RULE_TYPES):
        correlation = rule.inputs.get("correlationFilter")
        if isinstance(correlation, dict):
            filters.setdefault(str(rule.inputs.get("subscriptionName")), []).append(dict(correlation))
    return filters


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

    @property
    def published(self) -> tuple[str, ...]:
        """Every event type sent to the topic: by a service or from outside the pipeline, sorted."""
        return tuple(sorted({*self.external, *(e for events in self.publishers.values() for e in events)}))

    @property
    def known_event_types(self) -> tuple[str, ...]:
        """Every event type the stack names, published or consumed, sorted."""
        return tuple(sorted({*self.published, *(e for route in self.routes for e in route.event_types)}))


def routing(settings: StackSettings, run: ProgramRun) -> Routing:
    """Publishers from the settings; subscriptions and the events their registered filters let through."""
    filters = program_filters(run)
    publishers = {service.name: service.publishes for service in settings.services if service.publishes}
    candidates = sorted(
        {*settings.external_event_types, *(e for s in settings.services for e in (*s.publishes, *s.consumes))}
    )
    routes = []
    for service in settings.consumers:
        subscription = settings.names.subscription(service.name)
        mine = filters.get(subscription, [])
        # Per subscription, not through `receivers`: a stack of hundreds of services stays linear.
        received = tuple(event for event in candidates if any(correlation_matches(f, {"label": event}) for f in mine))
        routes.append(Route(subscription, service.name, received))
    return Routing(settings.names.topic, publishers, settings.external_event_types, tuple(routes))


@dataclass(frozen=True)
class RoutingGaps:
    """What the broker would drop, and who would wait for nothing."""

    unreceived: tuple[str, ...]
    """Published event types no subscription receives: the broker drops messages sent with them."""
    unfed: tuple[str, ...]
    """Consuming services that no publisher (a service or an external event type) feeds."""


def gaps(routes: Routing) -> RoutingGaps:
    """Published events nobody receives, and consumers nobody feeds (external event types count as fed)."""
    received = {event for route in routes.routes for event in route.event_types}
    published = set(routes.published)
    return RoutingGaps(
        unreceived=tuple(event for event in routes.published if event not in received),
        unfed=tuple(route.consumer for route in routes.routes if not published & set(route.event_types)),
    )
