"""The Azure roles the bootstrap grants: built-in role IDs, the custom deployer role, the ABAC condition.

Built-in role definition IDs and the Contributor NotActions: Microsoft Learn "Azure built-in roles"
(learn.microsoft.com/azure/role-based-access-control/built-in-roles; source MicrosoftDocs/azure-docs,
articles/role-based-access-control/built-in-roles/privileged.md, general.md, storage.md, security.md,
integration.md). The condition: Learn "Examples to delegate Azure role assignment management with
conditions", "Example: Constrain roles"
(learn.microsoft.com/azure/role-based-access-control/delegate-role-assignments-examples#example-constrain-roles).
"""

from __future__ import annotations

from enum import StrEnum

import pulumi


class BuiltInRole(StrEnum):
    """Built-in role definition GUIDs (the same in every subscription)."""

    READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
    STORAGE_BLOB_DATA_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
    STORAGE_BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
    # Assigns roles and nothing else (roleAssignments/write and /delete, */read, Microsoft.Support/*);
    # unlike User Access Administrator it cannot write locks, policies or role definitions.
    RBAC_ADMINISTRATOR = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
    KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
    SERVICE_BUS_DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    SERVICE_BUS_DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


# The only roles the deploy identities may assign (the main program's ServiceBusPipeline assigns
# exactly these two; components/roles.py).
DELEGABLE_ROLES: tuple[BuiltInRole, ...] = (BuiltInRole.SERVICE_BUS_DATA_SENDER, BuiltInRole.SERVICE_BUS_DATA_RECEIVER)

DEPLOYER_ROLE_NAME = "ml-messaging deployer"
DEPLOYER_ROLE_DESCRIPTION = (
    "Contributor that cannot assign roles, delete Service Bus namespaces or delete resource groups "
    "(managed by the ml-messaging bootstrap stack)"
)
# Contributor's built-in NotActions, verbatim (built-in-roles/privileged.md, "Contributor", ms.date 07/01/2026).
CONTRIBUTOR_NOT_ACTIONS: tuple[str, ...] = (
    "Microsoft.Authorization/*/Delete",
    "Microsoft.Authorization/*/Write",
    "Microsoft.Authorization/elevateAccess/Action",
    "Microsoft.Blueprint/blueprintAssignments/write",
    "Microsoft.Blueprint/blueprintAssignments/delete",
    "Microsoft.Compute/galleries/share/action",
    "Microsoft.Purview/consents/write",
    "Microsoft.Purview/consents/delete",
    "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
    "Microsoft.Subscription/cancel/action",
    "Microsoft.Subscription/enable/action",
)
# What the deployer may not do on top of Contributor's exclusions: prod relies on this and Pulumi
# `protect` instead of a delete lock (docs/day2.md, "Protection in prod").
DEPLOYER_EXTRA_NOT_ACTIONS: tuple[str, ...] = (
    "Microsoft.ServiceBus/namespaces/delete",
    "Microsoft.Resources/subscriptions/resourceGroups/delete",
)
DEPLOYER_ACTIONS: tuple[str, ...] = ("*",)
DEPLOYER_NOT_ACTIONS: tuple[str, ...] = CONTRIBUTOR_NOT_ACTIONS + DEPLOYER_EXTRA_NOT_ACTIONS

# Role assignment conditions are version 2.0 (the only accepted value: REST API Role Assignments -
# Create, properties.conditionVersion).
CONDITION_VERSION = "2.0"


def constrain_roles_condition(roles: tuple[BuiltInRole, ...] = DELEGABLE_ROLES) -> str:
    """The "Constrain roles" condition: add or remove role assignments of ``roles`` only.

    Two sub-conditions, since a write is judged on the request's role (``@Request``) and a delete on
    the existing assignment's role (``@Resource``); every other action passes through
    ``!(ActionMatches{...})``. Layout as in the Learn example.
    """
    guids = "{" + ", ".join(role.value for role in roles) + "}"
    attribute = "Microsoft.Authorization/roleAssignments:RoleDefinitionId"

    def only_these_roles(action: str, source: str) -> str:
        return (
            "(\n"
            " (\n"
            f"  !(ActionMatches{{'Microsoft.Authorization/roleAssignments/{action}'}})\n"
            " )\n"
            " OR\n"
            " (\n"
            f"  @{source}[{attribute}] ForAnyOfAnyValues:GuidEquals {guids}\n"
            " )\n"
            ")"
        )

    return f"{only_these_roles('write', 'Request')}\nAND\n{only_these_roles('delete', 'Resource')}"


def role_definition_id(subscription_id: pulumi.Input[str], role: BuiltInRole) -> pulumi.Output[str]:
    """The ARM ID of a built-in role definition as seen from one subscription."""
    return pulumi.Output.concat(
        "/subscriptions/", subscription_id, "/providers/Microsoft.Authorization/roleDefinitions/", role.value
    )
