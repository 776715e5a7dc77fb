"""What one service needs from the bus: its contract, version 1 (``contracts/service-contract.schema.json``).

Built from the stack's settings alone (``offline_contracts``: preflight, before anything exists) and by
the program from its resources (``program_contracts``: the stack output ``services``). Every value but
the client ID of an identity made here is the same offline as in Azure: names are set by the program,
never generated, and the fully qualified namespace is ``<namespace>.servicebus.windows.net``, the host
of the namespace's ``serviceBusEndpoint`` and what azure-servicebus's ``fully_qualified_namespace``
takes. The client ID exists only once Azure has created the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pulumi

from settings.durations import iso8601
from settings.model import ServiceSettings, StackSettings
from settings.naming import fully_qualified_namespace

CONTRACT_VERSION = 1
# Its JSON Schema: contracts/service-contract.schema.json (tests validate every contract against it).


def service_contract(
    settings: StackSettings,
    service: ServiceSettings,
    *,
    namespace: str,
    topic: str,
    subscription: str | None,
    client_id: str | None,
) -> dict[str, Any]:
    """One service's contract from its settings and the Azure names (plain values, JSON-ready)."""
    delivery = service.delivery
    return {
        "version": CONTRACT_VERSION,
        "stack": settings.environment,
        "service": service.name,
        "fullyQualifiedNamespace": fully_qualified_namespace(namespace),
        "topic": topic,
        "subscription": subscription,
        "publishes": list(service.publishes),
        "receives": list(service.consumes),
        "identity": {
            "createdHere": service.managed_identity is not None,
            "clientId": client_id,
        },
        "delivery": (
            {
                "lockDuration": iso8601(delivery.lock_duration),
                "lockDurationSeconds": int(delivery.lock_duration.total_seconds()),
                "maxDeliveryCount": delivery.max_delivery_count,
            }
            if service.consumes
            else None
        ),
        "maxMessageSizeInKilobytes": settings.max_message_size_in_kilobytes,
    }


def offline_contracts(
    settings: StackSettings, client_ids: Mapping[str, str | None] | None = None
) -> dict[str, dict[str, Any]]:
    """Every service's contract from the settings; ``client_ids`` (e.g. from stack outputs) fills what Azure assigns."""
    names = settings.names
    known = client_ids or {}
    return {
        service.name: service_contract(
            settings,
            service,
            namespace=names.namespace,
            topic=names.topic,
            subscription=names.subscription(service.name) if service.consumes else None,
            client_id=known.get(service.name),
        )
        for service in settings.services
    }


def program_contracts(
    settings: StackSettings,
    namespace: pulumi.Output[str],
    topic: pulumi.Output[str],
    subscriptions: Mapping[str, pulumi.Output[str]],
    client_ids: Mapping[str, pulumi.Output[str]],
) -> dict[str, pulumi.Output[dict[str, Any]]]:
    """Every service's contract from the names and client IDs the program's resources report."""
    contracts: dict[str, pulumi.Output[dict[str, Any]]] = {}
    for service in settings.services:
        parts: list[pulumi.Input[Any]] = [
            namespace,
            topic,
            subscriptions.get(service.name),
            client_ids.get(service.name),
        ]
        contracts[service.name] = pulumi.Output.all(*parts).apply(_from_values(settings, service))
    return contracts


def _from_values(settings: StackSettings, service: ServiceSettings) -> Callable[[list[Any]], dict[str, Any]]:
    """Build one service's contract from resolved (namespace, topic, subscription, client ID)."""

    def build(values: list[Any]) -> dict[str, Any]:
        namespace, topic, subscription, client_id = values
        return service_contract(
            settings,
            service,
            namespace=str(namespace),
            topic=str(topic),
            subscription=subscription,
            client_id=client_id,
        )

    return build


def env_lines(contract: Mapping[str, Any]) -> list[str]:
    """The contract as ``KEY=value`` lines for a ``.env`` file (docs/local-development.md lists the keys).

    Lists are comma-separated (event types contain no commas); a value that does not apply (no
    subscription, client ID not known) is left out rather than written empty.
    """
    delivery = contract.get("delivery") or {}
    identity = contract.get("identity") or {}
    pairs: list[tuple[str, Any]] = [
        ("SERVICEBUS_CONTRACT_VERSION", contract["version"]),
        ("SERVICEBUS_SERVICE", contract["service"]),
        ("SERVICEBUS_FULLY_QUALIFIED_NAMESPACE", contract["fullyQualifiedNamespace"]),
        ("SERVICEBUS_TOPIC", contract["topic"]),
        ("SERVICEBUS_SUBSCRIPTION", contract.get("subscription")),
        ("SERVICEBUS_PUBLISHES", ",".join(contract["publishes"])),
        ("SERVICEBUS_RECEIVES", ",".join(contract["receives"])),
        ("SERVICEBUS_LOCK_DURATION_SECONDS", delivery.get("lockDurationSeconds")),
        ("SERVICEBUS_MAX_DELIVERY_COUNT", delivery.get("maxDeliveryCount")),
        ("SERVICEBUS_MAX_MESSAGE_SIZE_KB", contract["maxMessageSizeInKilobytes"]),
        # azure-identity's DefaultAzureCredential and WorkloadIdentityCredential read AZURE_CLIENT_ID.
        ("AZURE_CLIENT_ID", identity.get("clientId")),
    ]
    return [f"{key}={value}" for key, value in pairs if value is not None]
