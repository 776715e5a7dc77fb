"""The example service with fakes of azure-servicebus's sender, receiver and lock renewer (no network)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.servicebus import ServiceBusMessage

from components.contract import env_lines
from examples.ml_service.__main__ import main
from examples.ml_service.contract import ContractError, ServiceContract
from examples.ml_service.messaging import (
    Outcome,
    PoisonMessageError,
    TransientError,
    consume,
    publish,
)
from tests.invariants import run_stack_file
from tests.support import IDENTITY_STACK_FILE, REPO


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    """The training service's contract, as the program exports it under the mock runtime."""
    contract: dict[str, Any] = run_stack_file(REPO, IDENTITY_STACK_FILE).run.outputs["services"]["training"]
    return contract


@pytest.fixture
def contract(document: dict[str, Any]) -> ServiceContract:
    return ServiceContract.from_document(document)


@dataclass
class FakeSender:
    sent: list[ServiceBusMessage] = field(default_factory=list)

    def send_messages(self, message: ServiceBusMessage) -> None:
        self.sent.append(message)


@dataclass
class FakeMessage:
    subject: str | None
    raw: bytes
    delivery_count: int | None = 1

    @property
    def body(self) -> Iterator[bytes]:
        return iter([self.raw])  # azure-servicebus yields a data body in sections


@dataclass
class FakeReceiver:
    waiting: list[FakeMessage]
    settled: list[tuple[str, FakeMessage, dict[str, Any]]] = field(default_factory=list)

    def receive_messages(
        self, max_message_count: int | None = 1, max_wait_time: float | None = None
    ) -> list[FakeMessage]:
        batch, self.waiting = self.waiting[: max_message_count or 1], self.waiting[max_message_count or 1 :]
        return batch

    def complete_message(self, message: FakeMessage) -> None:
        self.settled.append(("complete", message, {}))

    def abandon_message(self, message: FakeMessage) -> None:
        self.settled.append(("abandon", message, {}))

    def dead_letter_message(
        self, message: FakeMessage, reason: str | None = None, error_description: str | None = None
    ) -> None:
        self.settled.append(("dead-letter", message, {"reason": reason, "description": error_description}))


@dataclass
class FakeRenewer:
    registered: list[tuple[Any, Any, float | None]] = field(default_factory=list)

    def register(self, receiver: Any, renewable: Any, max_lock_renewal_duration: float | None = None) -> None:
        self.registered.append((receiver, renewable, max_lock_renewal_duration))


def test_contract_reads_the_same_from_json_and_env(document: dict[str, Any], contract: ServiceContract) -> None:
    environ = dict(line.split("=", 1) for line in env_lines(document))
    assert ServiceContract.from_env(environ) == contract
    assert contract.receives == {"data.ingested", "data.reprocess"}
    assert contract.client_id is not None


def test_contract_of_another_version_is_refused(document: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "contract.json"
    path.write_text(json.dumps({**document, "version": 2}))
    with pytest.raises(ContractError, match="version 2"):
        ServiceContract.load({"SERVICEBUS_CONTRACT_FILE": str(path)})


def test_publish_sets_the_subject_and_refuses_other_event_types(contract: ServiceContract) -> None:
    sender = FakeSender()
    publish(sender, contract, "model.trained", {"model": "m-1"})
    (message,) = sender.sent
    assert message.subject == "model.trained"
    assert message.content_type == "application/json"
    assert json.loads(b"".join(message.body)) == {"model": "m-1"}
    with pytest.raises(ValueError, match=r"may not publish 'data\.ingested'"):
        publish(sender, contract, "data.ingested", {})
    with pytest.raises(ValueError, match="does not fit"):
        publish(sender, contract, "model.trained", {"blob": "x" * contract.max_message_size_kb * 1024})


def test_consume_settles_each_message_the_right_way(contract: ServiceContract) -> None:
    good = FakeMessage("data.ingested", b'{"dataset": "d-1"}')
    flaky = FakeMessage("data.ingested", b'{"dataset": "flaky"}')
    poison = FakeMessage("data.ingested", b'{"dataset": "broken"}')
    garbage = FakeMessage("data.ingested", b"not json")
    stranger = FakeMessage("prediction.created", b"{}")
    receiver = FakeReceiver([good, flaky, poison, garbage, stranger])
    renewer = FakeRenewer()
    seen: list[tuple[str, Any]] = []

    def handler(event_type: str, payload: Any) -> None:
        seen.append((event_type, payload))
        if payload["dataset"] == "flaky":
            raise TransientError("feature store timed out")
        if payload["dataset"] == "broken":
            raise PoisonMessageError("dataset d-broken has no schema")

    outcomes = consume(receiver, renewer, contract, handler, max_messages=10, max_job_seconds=7200)
    assert outcomes == [
        Outcome.COMPLETED,
        Outcome.ABANDONED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
        Outcome.DEAD_LETTERED,
    ]
    assert [(kind, message) for kind, message, _ in receiver.settled] == [
        ("complete", good),
        ("abandon", flaky),
        ("dead-letter", poison),
        ("dead-letter", garbage),
        ("dead-letter", stranger),
    ]
    reasons = [details["reason"] for kind, _, details in receiver.settled if kind == "dead-letter"]
    assert reasons == ["PoisonMessage", "MalformedBody", "UnexpectedSubject"]
    assert receiver.settled[2][2]["description"] == "dataset d-broken has no schema"
    # The handler never sees a message outside the contract or one it cannot decode.
    assert [payload["dataset"] for _, payload in seen] == ["d-1", "flaky", "broken"]
    # Every lock is renewed for the long job before work starts.
    assert [(m, duration) for _, m, duration in renewer.registered] == [
        (m, 7200) for m in (good, flaky, poison, garbage, stranger)
    ]


def test_main_refuses_a_missing_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["consume"], {}) == 2
    assert "SERVICEBUS_CONTRACT_VERSION" in capsys.readouterr().err
