"""The service contract (contracts/service-contract.schema.json, version 1), read from JSON or the environment.

``python -m preflight contract <stack> <service>`` writes the JSON; ``--format env`` the variables; the
deployed stack has the same document as its output ``services.<name>``. Nothing here parses anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPPORTED_VERSION = 1


class ContractError(ValueError):
    """The contract is missing, of another version, or incomplete."""


@dataclass(frozen=True)
class ServiceContract:
    """What this service may do on the bus."""

    service: str
    fully_qualified_namespace: str
    topic: str
    subscription: str | None
    publishes: frozenset[str]
    receives: frozenset[str]
    client_id: str | None
    lock_duration_seconds: int | None
    max_delivery_count: int | None
    max_message_size_kb: int

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ServiceContract:
        """From the JSON document (one service's contract)."""
        if document.get("version") != SUPPORTED_VERSION:
            raise ContractError(f"contract version {document.get('version')!r}; this code reads {SUPPORTED_VERSION}")
        try:
            delivery = document["delivery"] or {}
            return cls(
                service=document["service"],
                fully_qualified_namespace=document["fullyQualifiedNamespace"],
                topic=document["topic"],
                subscription=document["subscription"],
                publishes=frozenset(document["publishes"]),
                receives=frozenset(document["receives"]),
                client_id=(document["identity"] or {}).get("clientId"),
                lock_duration_seconds=delivery.get("lockDurationSeconds"),
                max_delivery_count=delivery.get("maxDeliveryCount"),
                max_message_size_kb=int(document["maxMessageSizeInKilobytes"]),
            )
        except (KeyError, TypeError) as error:
            raise ContractError(f"contract is missing {error}") from None

    @classmethod
    def from_file(cls, path: Path) -> ServiceContract:
        """From a file written by ``python -m preflight contract <stack> <service>``."""
        return cls.from_document(json.loads(path.read_text(encoding="utf-8")))

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ServiceContract:
        """From the ``SERVICEBUS_*`` variables of ``--format env`` (and ``AZURE_CLIENT_ID`` when set)."""

        def listed(key: str) -> frozenset[str]:
            return frozenset(item for item in environ.get(key, "").split(",") if item)

        def number(key: str) -> int | None:
            return int(environ[key]) if key in environ else None

        if environ.get("SERVICEBUS_CONTRACT_VERSION") != str(SUPPORTED_VERSION):
            raise ContractError(
                f"SERVICEBUS_CONTRACT_VERSION is {environ.get('SERVICEBUS_CONTRACT_VERSION')!r}; "
                f"this code reads {SUPPORTED_VERSION}"
            )
        try:
            return cls(
                service=environ["SERVICEBUS_SERVICE"],
                fully_qualified_namespace=environ["SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"],
                topic=environ["SERVICEBUS_TOPIC"],
                subscription=environ.get("SERVICEBUS_SUBSCRIPTION"),
                publishes=listed("SERVICEBUS_PUBLISHES"),
                receives=listed("SERVICEBUS_RECEIVES"),
                client_id=environ.get("AZURE_CLIENT_ID"),
                lock_duration_seconds=number("SERVICEBUS_LOCK_DURATION_SECONDS"),
                max_delivery_count=number("SERVICEBUS_MAX_DELIVERY_COUNT"),
                max_message_size_kb=int(environ["SERVICEBUS_MAX_MESSAGE_SIZE_KB"]),
            )
        except KeyError as error:
            raise ContractError(f"environment variable {error} is not set") from None

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> ServiceContract:
        """``SERVICEBUS_CONTRACT_FILE`` when set, else the ``SERVICEBUS_*`` variables."""
        path = environ.get("SERVICEBUS_CONTRACT_FILE")
        return cls.from_file(Path(path)) if path else cls.from_env(environ)
