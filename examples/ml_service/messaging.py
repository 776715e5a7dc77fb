"""Publish with the right subject; receive and settle each message exactly once.

Settlement (Microsoft Learn, "Message transfers, locks, and settlement",
https://learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement, and
"Service Bus dead-letter queues"): complete when done; abandon on a transient failure, so the broker
redelivers it (each delivery counts, and after the subscription's maxDeliveryCount the broker
dead-letters it itself); dead-letter at once, with a reason and a description, a message that can
never succeed (a poison message). Long jobs keep their lock with an AutoLockRenewer: a lock lasts the
subscription's lockDuration (at most 5 minutes) and a training job takes longer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from azure.servicebus import ServiceBusMessage

from examples.ml_service.contract import ServiceContract

log = logging.getLogger(__name__)
# Dead-letter descriptions are for people reading the dead-letter queue, not a place for whole payloads.
MAX_DESCRIPTION = 512


class TransientError(Exception):
    """A failure that may pass (a dependency down, a timeout): abandon, the broker redelivers."""


class PoisonMessageError(Exception):
    """A message that can never be processed (invalid content): dead-letter it now."""


class Outcome(StrEnum):
    """How a message was settled."""

    COMPLETED = "completed"
    ABANDONED = "abandoned"
    DEAD_LETTERED = "dead-lettered"


class Sender(Protocol):
    """What publishing needs of azure-servicebus's ServiceBusSender."""

    def send_messages(self, message: ServiceBusMessage) -> None: ...


class ReceivedMessage(Protocol):
    """What settling needs of azure-servicebus's ServiceBusReceivedMessage."""

    @property
    def subject(self) -> str | None: ...

    @property
    def body(self) -> Any: ...

    @property
    def delivery_count(self) -> int | None: ...


M = TypeVar("M", bound=ReceivedMessage)


class Receiver(Protocol[M]):
    """What consuming needs of azure-servicebus's ServiceBusReceiver (peek-lock mode)."""

    def receive_messages(self, max_message_count: int | None = ..., max_wait_time: float | None = ...) -> list[M]: ...

    def complete_message(self, message: M) -> None: ...

    def abandon_message(self, message: M) -> None: ...

    def dead_letter_message(
        self, message: M, reason: str | None = ..., error_description: str | None = ...
    ) -> None: ...


class LockRenewer(Protocol):
    """What long jobs need of azure-servicebus's AutoLockRenewer."""

    def register(self, receiver: Any, renewable: Any, max_lock_renewal_duration: float | None = ...) -> None: ...


Handler = Callable[[str, Any], None]
"""Processes one event: (event type, decoded JSON payload). Raises TransientError or PoisonMessageError."""


def publish(sender: Sender, contract: ServiceContract, event_type: str, payload: Mapping[str, Any]) -> None:
    """Send one event: the event type is the message subject, the subscriptions' filters route on it."""
    if event_type not in contract.publishes:
        allowed = ", ".join(sorted(contract.publishes)) or "nothing"
        raise ValueError(f"{contract.service} may not publish {event_type!r}; its contract allows {allowed}")
    body = json.dumps(payload, separators=(",", ":")).encode()
    # The whole message (body and headers) must fit; leave headroom for the headers.
    if len(body) > contract.max_message_size_kb * 1024 - 1024:
        raise ValueError(f"payload of {len(body):,} bytes does not fit the topic's {contract.max_message_size_kb} KB")
    sender.send_messages(ServiceBusMessage(body, subject=event_type, content_type="application/json"))


def _body(message: ReceivedMessage) -> bytes:
    body = message.body
    # azure-servicebus returns a data body as an iterator of byte sections.
    return body if isinstance(body, bytes) else b"".join(bytes(part) for part in body)


def settle(receiver: Receiver[M], message: M, contract: ServiceContract, handler: Handler) -> Outcome:
    """Process one message and settle it: complete, abandon (transient) or dead-letter (poison)."""
    subject = message.subject or ""
    if subject not in contract.receives:
        return _dead_letter(receiver, message, "UnexpectedSubject", f"subject {subject!r} is not in the contract")
    try:
        payload = json.loads(_body(message))
    except ValueError as error:
        return _dead_letter(receiver, message, "MalformedBody", f"not JSON: {error}")
    try:
        handler(subject, payload)
    except PoisonMessageError as error:
        return _dead_letter(receiver, message, "PoisonMessage", str(error))
    except TransientError as error:
        log.warning("abandoning %s (delivery %s): %s", subject, message.delivery_count, error)
        receiver.abandon_message(message)
        return Outcome.ABANDONED
    receiver.complete_message(message)
    return Outcome.COMPLETED


def _dead_letter(receiver: Receiver[M], message: M, reason: str, description: str) -> Outcome:
    log.error("dead-lettering %s: %s: %s", message.subject, reason, description)
    receiver.dead_letter_message(message, reason=reason, error_description=description[:MAX_DESCRIPTION])
    return Outcome.DEAD_LETTERED


def consume(
    receiver: Receiver[M],
    renewer: LockRenewer,
    contract: ServiceContract,
    handler: Handler,
    *,
    max_messages: int = 10,
    max_wait_seconds: float = 5,
    max_job_seconds: float = 3600,
) -> list[Outcome]:
    """Receive one batch and settle every message, renewing each lock for up to ``max_job_seconds``."""
    outcomes: list[Outcome] = []
    batch: Iterable[M] = receiver.receive_messages(max_message_count=max_messages, max_wait_time=max_wait_seconds)
    for message in batch:
        # Registered before the work starts: a job longer than lockDuration would otherwise lose its
        # lock, and the message would be delivered again while it still runs.
        renewer.register(receiver, message, max_lock_renewal_duration=max_job_seconds)
        outcomes.append(settle(receiver, message, contract, handler))
    return outcomes
