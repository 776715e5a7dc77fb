"""``EnvironmentScopes``: the Azure scopes one environment's rights are granted on: its resource group
and its Pulumi state container.

Resources (pulumi-azure-native 3.x): ``resources.ResourceGroup`` (``resource_group_name``,
``location``) and ``storage.BlobContainer`` (``account_name``, ``resource_group_name``,
``container_name``, ``public_access``); www.pulumi.com/registry/packages/azure-native/api-docs/.
Both are protected: the resource group will hold the environment's namespace, the container its
state, and neither may go with a ``pulumi destroy`` of this stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import resources, storage


@dataclass(frozen=True)
class EnvironmentScopesArgs:
    """Inputs of an ``EnvironmentScopes``."""

    subscription_id: pulumi.Input[str]
    """The subscription the environment deploys to (the resource group's)."""

    resource_group_name: str
    """Name of the environment's resource group."""

    create_resource_group: bool
    """Create the resource group here (protected), or only reference an existing one."""

    location: str
    """Azure region of a created resource group."""

    state_account_name: str
    """Name of the existing storage account that holds the Pulumi state."""

    state_account_resource_group: str
    """Resource group of that storage account."""

    state_container: str
    """Name of the environment's state container, created in that account."""

    tags: Mapping[str, str]
    """Tags of a created resource group."""


class EnvironmentScopes(pulumi.ComponentResource):
    """The resource group and state container of one environment."""

    resource_group_id: pulumi.Output[str]
    state_container_id: pulumi.Output[str]
    backend_url: str

    def __init__(self, name: str, args: EnvironmentScopesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-messaging-bootstrap:scopes:EnvironmentScopes", name, None, opts)
        protected = pulumi.ResourceOptions(parent=self, protect=True)
        if args.create_resource_group:
            group = resources.ResourceGroup(
                f"{name}-resource-group",
                resource_group_name=args.resource_group_name,
                location=args.location,
                tags=dict(args.tags),
                opts=protected,
            )
            self.resource_group_id = group.id
        else:
            self.resource_group_id = pulumi.Output.concat(
                "/subscriptions/", args.subscription_id, "/resourceGroups/", args.resource_group_name
            )
        container = storage.BlobContainer(
            f"{name}-state-container",
            account_name=args.state_account_name,
            resource_group_name=args.state_account_resource_group,
            container_name=args.state_container,
            public_access=storage.PublicAccess.NONE,
            opts=protected,
        )
        self.state_container_id = container.id
        # The DIY backend URL of an Azure Blob container (www.pulumi.com/docs/iac/concepts/state-and-backends/,
        # "Azure Blob Storage"), as README bootstrap step 2 logs in with.
        self.backend_url = f"azblob://{args.state_container}?storage_account={args.state_account_name}"
        self.register_outputs(
            {
                "resourceGroupId": self.resource_group_id,
                "stateContainerId": self.state_container_id,
                "backendUrl": self.backend_url,
            }
        )
