"""``DeliveryAccess``: the custom deployer role and every role assignment of the delivery identities.

The whole design in one table (``DeliveryAccess._grants``), each row one assignment:

| identity | role | scope |
|---|---|---|
| preview | Reader | dev and prod resource groups |
| preview | Storage Blob Data Reader | dev and prod state containers |
| deploy-<env> | ml-messaging deployer (custom) | its environment's resource group |
| deploy-<env> | Role Based Access Control Administrator, on condition (*) | its environment's resource group |
| deploy-<env> | Storage Blob Data Contributor | its environment's state container |
| deploy-<env> | Key Vault Crypto User (only if the environment has ``secretsKeyId``) | that key |

(*) it may assign and remove Azure Service Bus Data Sender and Data Receiver only (``roles.py``).
Nothing is granted at subscription scope; the custom role's definition lives in the subscription but
is assignable only at the two resource groups.

Resources (pulumi-azure-native 3.x, ``authorization``): ``RoleDefinition`` (``scope``, ``role_name``,
``role_type``, ``permissions``, ``assignable_scopes``; REST API 2022-05-01-preview) and
``RoleAssignment`` (``scope``, ``principal_id``, ``principal_type``, ``role_definition_id``,
``condition``, ``condition_version``; REST API 2022-04-01); www.pulumi.com/registry/packages/
azure-native/api-docs/authorization/. ``principal_type`` is set because a service principal just
created may not have replicated yet: ARM then accepts the assignment instead of failing with
PrincipalNotFound (learn.microsoft.com/azure/role-based-access-control/role-assignments-template,
"New service principal").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import authorization

from bootstrap.roles import (
    CONDITION_VERSION,
    DEPLOYER_ACTIONS,
    DEPLOYER_NOT_ACTIONS,
    DEPLOYER_ROLE_DESCRIPTION,
    DEPLOYER_ROLE_NAME,
    BuiltInRole,
    constrain_roles_condition,
    role_definition_id,
)
from bootstrap.scopes import EnvironmentScopes


@dataclass(frozen=True)
class DeployerArgs:
    """One environment's deploy identity and what it may reach."""

    principal_id: pulumi.Input[str]
    """Object ID of the environment's deploy service principal."""

    scopes: EnvironmentScopes
    """The environment's resource group and state container."""

    secrets_key_id: str | None
    """The environment's Key Vault key for stack secrets, if its stack has one."""


@dataclass(frozen=True)
class DeliveryAccessArgs:
    """Inputs of a ``DeliveryAccess``."""

    subscription_id: pulumi.Input[str]
    """The subscription that holds the environments (and the custom role's definition)."""

    preview_principal_id: pulumi.Input[str]
    """Object ID of the preview service principal (pull requests and drift on main)."""

    preview_scopes: Mapping[str, EnvironmentScopes]
    """Every environment's scopes, by stack name: the preview identity reads all of them."""

    deployers: Mapping[str, DeployerArgs]
    """The deploy identities by stack name; each reaches its own environment only."""


@dataclass(frozen=True)
class _Grant:
    key: str
    principal_id: pulumi.Input[str]
    role: pulumi.Input[str]
    scope: pulumi.Input[str]
    description: str
    condition: str | None = None


class DeliveryAccess(pulumi.ComponentResource):
    """The deployer role definition and all role assignments of the delivery identities."""

    deployer_role_id: pulumi.Output[str]

    def __init__(self, name: str, args: DeliveryAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-messaging-bootstrap:access:DeliveryAccess", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        deployer_role = authorization.RoleDefinition(
            f"{name}-deployer-role",
            role_name=DEPLOYER_ROLE_NAME,
            description=DEPLOYER_ROLE_DESCRIPTION,
            role_type="CustomRole",
            scope=pulumi.Output.concat("/subscriptions/", args.subscription_id),
            permissions=[
                authorization.PermissionArgs(actions=list(DEPLOYER_ACTIONS), not_actions=list(DEPLOYER_NOT_ACTIONS))
            ],
            assignable_scopes=[deployer.scopes.resource_group_id for deployer in args.deployers.values()],
            opts=child,
        )
        self.deployer_role_id = deployer_role.id
        for grant in self._grants(args, deployer_role.id):
            authorization.RoleAssignment(
                f"{name}-{grant.key}",
                principal_id=grant.principal_id,
                principal_type=authorization.PrincipalType.SERVICE_PRINCIPAL,
                role_definition_id=grant.role,
                scope=grant.scope,
                description=grant.description,
                condition=grant.condition,
                condition_version=CONDITION_VERSION if grant.condition else None,
                opts=child,
            )
        self.register_outputs({"deployerRoleId": self.deployer_role_id})

    @staticmethod
    def _grants(args: DeliveryAccessArgs, deployer_role_id: pulumi.Output[str]) -> list[_Grant]:
        sub = args.subscription_id
        grants: list[_Grant] = []
        for env, scopes in args.preview_scopes.items():
            grants += [
                _Grant(
                    f"preview-reader-{env}",
                    args.preview_principal_id,
                    role_definition_id(sub, BuiltInRole.READER),
                    scopes.resource_group_id,
                    f"Preview and drift: read the {env} resource group",
                ),
                _Grant(
                    f"preview-state-reader-{env}",
                    args.preview_principal_id,
                    role_definition_id(sub, BuiltInRole.STORAGE_BLOB_DATA_READER),
                    scopes.state_container_id,
                    f"Preview and drift: read the {env} Pulumi state",
                ),
            ]
        for env, deployer in args.deployers.items():
            group = deployer.scopes.resource_group_id
            grants += [
                _Grant(
                    f"deploy-{env}-deployer",
                    deployer.principal_id,
                    deployer_role_id,
                    group,
                    f"Deploy {env}: manage resources, never delete the namespace or the resource group",
                ),
                _Grant(
                    f"deploy-{env}-rbac-admin",
                    deployer.principal_id,
                    role_definition_id(sub, BuiltInRole.RBAC_ADMINISTRATOR),
                    group,
                    f"Deploy {env}: assign Azure Service Bus Data Sender/Receiver only",
                    constrain_roles_condition(),
                ),
                _Grant(
                    f"deploy-{env}-state",
                    deployer.principal_id,
                    role_definition_id(sub, BuiltInRole.STORAGE_BLOB_DATA_CONTRIBUTOR),
                    deployer.scopes.state_container_id,
                    f"Deploy {env}: read and write the {env} Pulumi state",
                ),
            ]
            if deployer.secrets_key_id:
                grants.append(
                    _Grant(
                        f"deploy-{env}-secrets",
                        deployer.principal_id,
                        role_definition_id(sub, BuiltInRole.KEY_VAULT_CRYPTO_USER),
                        deployer.secrets_key_id,
                        f"Deploy {env}: decrypt the {env} stack's secrets",
                    )
                )
        return grants
