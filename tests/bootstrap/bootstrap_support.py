"""Helpers for the bootstrap tests: a valid config, the program under mocks, and who-gets-what lookups.

Under the mock runtime the azuread resources answer with their inputs only (``preflight.mockrun``'s
mocks know no Entra outputs), so a service principal's ``objectId`` is unknown. Which identity an
assignment names is therefore read from the engine's view: the dependency of its ``principalId`` on
one service principal, whose parent is the ``GitHubOidcIdentity`` component.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from preflight.mockrun import MOCK_SUBSCRIPTION_ID, ProgramRun, RecordedResource, run_program

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "bootstrap"
PROJECT = "ml-messaging-bootstrap"
STACK = "bootstrap"
STACK_FILE = PROGRAM / "Pulumi.bootstrap.yaml"
SOURCE = "bootstrap/Pulumi.bootstrap.yaml"

SUBSCRIPTION = f"/subscriptions/{MOCK_SUBSCRIPTION_ID}"
STATE_ACCOUNT_ID = (
    f"{SUBSCRIPTION}/resourceGroups/rg-pulumi-state/providers/Microsoft.Storage/storageAccounts/stmlstate"
)
DEV_KEY = f"{SUBSCRIPTION}/resourceGroups/rg-pulumi-state/providers/Microsoft.KeyVault/vaults/kv-mlstate/keys/dev"
PROD_KEY = f"{SUBSCRIPTION}/resourceGroups/rg-pulumi-state/providers/Microsoft.KeyVault/vaults/kv-mlstate/keys/prod"

APP = "azuread:index/applicationRegistration:ApplicationRegistration"
SERVICE_PRINCIPAL = "azuread:index/servicePrincipal:ServicePrincipal"
CREDENTIAL = "azuread:index/applicationFederatedIdentityCredential:ApplicationFederatedIdentityCredential"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
ROLE_DEFINITION = "azure-native:authorization:RoleDefinition"
RESOURCE_GROUP = "azure-native:resources:ResourceGroup"
CONTAINER = "azure-native:storage:BlobContainer"
ENVIRONMENT = "github:index/repositoryEnvironment:RepositoryEnvironment"
BRANCH_POLICY = "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy"
VARIABLE = "github:index/actionsVariable:ActionsVariable"
ENV_VARIABLE = "github:index/actionsEnvironmentVariable:ActionsEnvironmentVariable"
IDENTITY = "ml-messaging-bootstrap:identities:GitHubOidcIdentity"


def base_settings() -> dict[str, Any]:
    """A valid bootstrap config as ``<key>: value`` (without the project prefix)."""
    return {
        "repository": "acme/ml-messaging",
        "location": "westeurope",
        "stateStorageAccountId": STATE_ACCOUNT_ID,
        "dev": {"resourceGroupName": "rg-mlpipe-dev-weu-001", "stateContainer": "pulumi-state-dev"},
        "prod": {"resourceGroupName": "rg-mlpipe-prod-weu-001", "stateContainer": "pulumi-state-prod"},
        "productionReviewers": {"teams": [4242], "users": [777]},
    }


def engine_config(settings: dict[str, Any]) -> dict[str, str]:
    """Config as the engine passes it: ``<project>:<key>``, structured values as JSON text."""
    return {
        f"{PROJECT}:{key}": value if isinstance(value, str) else json.dumps(value) for key, value in settings.items()
    }


def run_bootstrap(**overrides: Any) -> ProgramRun:
    """The real bootstrap program under the mock runtime, with top-level settings overridden."""
    return run_program(PROGRAM, PROJECT, STACK, engine_config({**base_settings(), **overrides}))


def shipped_engine_config(replacements: dict[str, str] | None = None) -> dict[str, str]:
    """``bootstrap/Pulumi.bootstrap.yaml`` as the engine would pass it, placeholders optionally replaced."""
    text = STACK_FILE.read_text(encoding="utf-8")
    for placeholder, value in (replacements or {}).items():
        text = text.replace(placeholder, value)
    values: dict[str, Any] = yaml.safe_load(text)["config"]
    return {key: value if isinstance(value, str) else json.dumps(value) for key, value in values.items()}


def identity_of(run: ProgramRun, assignment: RecordedResource) -> str:
    """The ``GitHubOidcIdentity`` (``preview``, ``deploy-dev``, ``deploy-prod``) an assignment names."""
    (principal_urn,) = assignment.property_dependencies["principalId"]
    principal = run.by_urn(principal_urn)
    assert principal.type == SERVICE_PRINCIPAL
    assert principal.parent is not None
    owner = run.by_urn(principal.parent)
    assert owner.type == IDENTITY
    return owner.name


def component_of(run: ProgramRun, resource: RecordedResource) -> str:
    """The name of the component a resource is registered under."""
    assert resource.parent is not None
    return run.by_urn(resource.parent).name


def role_guid(assignment: RecordedResource) -> str:
    """The last segment of an assignment's role definition ID (a built-in GUID or the custom role's name)."""
    return str(assignment.inputs["roleDefinitionId"]).rsplit("/", 1)[1]
