"""``ServiceIdentity`` under the mock runtime: the identity, its federated credentials and its roles."""

from __future__ import annotations

from components.messaging import role_assignment_name
from components.roles import ServiceBusRole
from tests.invariants import run_stack_file
from tests.support import IDENTITY_STACK_FILE, REPO

IDENTITY = "azure-native:managedidentity:UserAssignedIdentity"
CREDENTIAL = "azure-native:managedidentity:FederatedIdentityCredential"
COMPONENT = "ml-messaging:identity:ServiceIdentity"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"


def test_the_identity_and_its_credentials() -> None:
    run = run_stack_file(REPO, IDENTITY_STACK_FILE).run
    (component,) = run.of_type(COMPONENT)
    (identity,) = run.of_type(IDENTITY)
    assert component.name == "ml-pipeline-training"
    assert identity.name == "ml-pipeline-training-identity"
    assert identity.parent == component.urn
    assert identity.inputs["resourceName"] == "id-mlpipe-training-dev-weu-001"
    assert identity.inputs["location"] == "westeurope"
    assert identity.inputs["tags"]["environment"] == "dev"
    blue, green = run.of_type(CREDENTIAL)
    assert [blue.name, green.name] == ["ml-pipeline-training-aks-weu-blue", "ml-pipeline-training-aks-weu-green"]
    assert blue.inputs["resourceName"] == "id-mlpipe-training-dev-weu-001"
    assert blue.inputs["federatedIdentityCredentialResourceName"] == "aks-weu-blue"
    assert blue.inputs["subject"] == "system:serviceaccount:ml:training"
    assert blue.inputs["audiences"] == ["api://AzureADTokenExchange"]
    assert blue.inputs["issuer"].startswith("https://westeurope.oic.prod-aks.azure.com/")
    # Created one after the other: concurrent creation under one identity fails with 409.
    assert blue.urn in green.dependencies
    assert all(c.parent == component.urn for c in (blue, green))


def test_the_made_identity_gets_exactly_its_roles_as_a_service_principal() -> None:
    run = run_stack_file(REPO, IDENTITY_STACK_FILE).run
    (identity,) = run.of_type(IDENTITY)
    principal = identity.outputs["principalId"]
    mine = [r for r in run.of_type(ROLE_ASSIGNMENT) if r.inputs["principalId"] == principal]
    roles = sorted(r.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for r in mine)
    assert roles == sorted([ServiceBusRole.DATA_SENDER.value, ServiceBusRole.DATA_RECEIVER.value])
    for assignment in mine:
        assert assignment.inputs["principalType"] == "ServicePrincipal"
        role = ServiceBusRole(assignment.inputs["roleDefinitionId"].rsplit("/", 1)[-1])
        assert assignment.inputs["roleAssignmentName"] == role_assignment_name(
            assignment.inputs["scope"], principal, role
        )
    # Two services with identities (training made here, inference by principalId); the publisher-only
    # service has neither, so no grant: 2 + 2 assignments.
    assert len(run.of_type(ROLE_ASSIGNMENT)) == 4
