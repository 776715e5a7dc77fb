"""``ServiceIdentity``: a service's user-assigned managed identity and its federated credentials.

A service that asks for it (``managedIdentity`` in its settings) runs as an identity this stack makes,
instead of one named by ``principalId``. Its workload signs in without a secret through federated
credentials (for AKS workload identity: the cluster's OIDC issuer and
``system:serviceaccount:<namespace>:<service account>``, settings/identity.py has the sources).

azure-native 3.29.0 types (read from the installed SDK, pulumi_azure_native/managedidentity/):
``azure-native:managedidentity:UserAssignedIdentity`` (inputs ``resourceName``, ``resourceGroupName``,
``location``, ``tags``; outputs ``principalId``, ``clientId``, ``tenantId``) and
``azure-native:managedidentity:FederatedIdentityCredential`` (inputs ``resourceName`` = the identity,
``federatedIdentityCredentialResourceName``, ``issuer``, ``subject``, ``audiences``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
from pulumi_azure_native import managedidentity

from settings.identity import FederatedCredentialSettings


@dataclass(frozen=True)
class ServiceIdentityArgs:
    """Inputs of a ``ServiceIdentity``."""

    identity_name: str
    """Azure name of the identity, from settings/naming.py (``id-<workload>-<service>-<env>-<region>-<instance>``)."""

    resource_group_name: pulumi.Input[str]
    """Resource group that holds the identity (the pipeline's)."""

    location: str
    """Azure region of the identity (the namespace's)."""

    tags: Mapping[str, str]
    """Tags of the identity (environment and workload included)."""

    federated_credentials: Sequence[FederatedCredentialSettings] = ()
    """Workloads that may sign in as the identity without a secret."""


class ServiceIdentity(pulumi.ComponentResource):
    """One service's user-assigned managed identity, trusted by the workloads that run the service."""

    principal_id: pulumi.Output[str]
    client_id: pulumi.Output[str]
    identity_id: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-messaging:identity:ServiceIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        identity = managedidentity.UserAssignedIdentity(
            f"{name}-identity",
            resource_name_=args.identity_name,
            resource_group_name=args.resource_group_name,
            location=args.location,
            tags=dict(args.tags),
            opts=child,
        )
        previous: pulumi.Resource | None = None
        for credential in args.federated_credentials:
            previous = managedidentity.FederatedIdentityCredential(
                f"{name}-{credential.name}",
                resource_name_=identity.name,
                federated_identity_credential_resource_name=credential.name,
                resource_group_name=args.resource_group_name,
                issuer=credential.issuer,
                subject=credential.effective_subject,
                audiences=list(credential.audiences),
                # One after the other: creating credentials of one identity concurrently fails with 409
                # Conflict (Microsoft Learn, workload-identity-federation-considerations, "Concurrent updates").
                opts=pulumi.ResourceOptions.merge(
                    child, pulumi.ResourceOptions(depends_on=[previous] if previous is not None else None)
                ),
            )
        self.principal_id = identity.principal_id
        self.client_id = identity.client_id
        self.identity_id = identity.id
        self.register_outputs(
            {"principalId": self.principal_id, "clientId": self.client_id, "identityId": self.identity_id}
        )
