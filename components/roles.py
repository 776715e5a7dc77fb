"""Built-in Azure role definitions this repo assigns (Entra ID RBAC for the Service Bus data plane).

IDs: Microsoft "Azure built-in roles" (see docs/azure-facts.md). Only the
sender and receiver roles are ever assigned; Data Owner is listed so policies and tests can name it.
"""

from __future__ import annotations

from enum import StrEnum

import pulumi


class ServiceBusRole(StrEnum):
    """Built-in role definition GUIDs."""

    DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"
    DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


def role_definition_id(subscription_id: pulumi.Input[str], role: ServiceBusRole) -> pulumi.Output[str]:
    """The ARM ID of a built-in role definition as seen from one subscription."""
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role.value
    )
