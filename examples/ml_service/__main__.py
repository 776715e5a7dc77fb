"""``python -m examples.ml_service publish <event type> '<json>'`` or ``consume``: the example service.

The contract comes from ``SERVICEBUS_CONTRACT_FILE`` or the ``SERVICEBUS_*`` variables
(``python -m preflight contract <stack> <service> --format env``). With ``SERVICEBUS_CONNECTION_STRING``
set it talks to the Service Bus emulator (the only way the emulator authenticates); otherwise to Azure
as ``DefaultAzureCredential`` (a managed identity via ``AZURE_CLIENT_ID``, workload identity on AKS, or
the developer's ``az login``) on the contract's fully qualified namespace.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from azure.identity import DefaultAzureCredential
from azure.servicebus import AutoLockRenewer, ServiceBusClient

from examples.ml_service.contract import ContractError, ServiceContract
from examples.ml_service.messaging import consume, publish


def client(contract: ServiceContract, environ: Mapping[str, str]) -> ServiceBusClient:
    """The emulator's client when its connection string is given, else Azure's with Entra ID."""
    connection = environ.get("SERVICEBUS_CONNECTION_STRING")
    if connection:
        return ServiceBusClient.from_connection_string(connection)
    credential = DefaultAzureCredential(managed_identity_client_id=contract.client_id)
    return ServiceBusClient(contract.fully_qualified_namespace, credential)


def log_event(event_type: str, payload: Any) -> None:
    """The demo handler: a real service trains, scores or stores here."""
    print(f"{event_type}: {json.dumps(payload)}")


def main(argv: Sequence[str], environ: Mapping[str, str]) -> int:
    """Publish one event or consume one batch; 2 when the contract or the input is wrong."""
    cli = argparse.ArgumentParser(prog="python -m examples.ml_service")
    commands = cli.add_subparsers(dest="command", required=True)
    sending = commands.add_parser("publish")
    sending.add_argument("event_type")
    sending.add_argument("payload", help="a JSON object")
    receiving = commands.add_parser("consume")
    receiving.add_argument("--max-messages", type=int, default=10)
    args = cli.parse_args(argv)
    try:
        contract = ServiceContract.load(environ)
    except (ContractError, OSError, ValueError) as error:
        print(f"contract: {error}", file=sys.stderr)
        return 2
    with client(contract, environ) as bus:
        if args.command == "publish":
            with bus.get_topic_sender(contract.topic) as sender:
                publish(sender, contract, args.event_type, json.loads(args.payload))
            return 0
        if contract.subscription is None:
            print(f"contract: {contract.service} consumes nothing (no subscription)", file=sys.stderr)
            return 2
        with (
            bus.get_subscription_receiver(contract.topic, contract.subscription) as receiver,
            AutoLockRenewer() as renewer,
        ):
            for outcome in consume(receiver, renewer, contract, log_event, max_messages=args.max_messages):
                print(outcome.value)
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    raise SystemExit(main(sys.argv[1:], os.environ))
