"""The bootstrap program, run for real under Pulumi's mock runtime: the security design it registers.

The expected GUIDs and condition are written out here from Microsoft Learn, not imported from
bootstrap/roles.py, so a typo there fails here.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from preflight.mockrun import MOCK_SUBSCRIPTION_ID, MOCK_TENANT_ID, ProgramRun
from tests.bootstrap.bootstrap_support import (
    APP,
    BRANCH_POLICY,
    CONTAINER,
    CREDENTIAL,
    DEV_KEY,
    ENV_VARIABLE,
    ENVIRONMENT,
    IDENTITY,
    PROD_KEY,
    PROJECT,
    RESOURCE_GROUP,
    ROLE_ASSIGNMENT,
    ROLE_DEFINITION,
    SERVICE_PRINCIPAL,
    SUBSCRIPTION,
    VARIABLE,
    base_settings,
    component_of,
    identity_of,
    role_guid,
    run_bootstrap,
)

# Azure built-in roles (learn.microsoft.com/azure/role-based-access-control/built-in-roles).
READER = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
BLOB_READER = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
BLOB_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
RBAC_ADMIN = "f58310d9-a9f6-439a-9e8d-f62e7b41a168"
USER_ACCESS_ADMIN = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
KEY_VAULT_CRYPTO_USER = "12338af0-0e69-4776-bea7-57ae8d297424"
DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
DEPLOYER = "deployer"  # the custom role, by its label in the tables below

REPO_SUBJECT = "repo:acme/ml-messaging"
DEV_GROUP = f"{SUBSCRIPTION}/resourceGroups/rg-mlpipe-dev-weu-001"
PROD_GROUP = f"{SUBSCRIPTION}/resourceGroups/rg-mlpipe-prod-weu-001"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_bootstrap()


@pytest.fixture(scope="module")
def with_keys() -> ProgramRun:
    settings = base_settings()
    return run_bootstrap(
        dev={**settings["dev"], "secretsKeyId": DEV_KEY},
        prod={**settings["prod"], "secretsKeyId": PROD_KEY, "createResourceGroup": False},
    )


def scope_labels(run: ProgramRun) -> dict[str, str]:
    """Every scope the program can grant on, by a readable label."""
    labels = {DEV_GROUP: "dev-group", PROD_GROUP: "prod-group", DEV_KEY: "dev-key", PROD_KEY: "prod-key"}
    for container in run.of_type(CONTAINER):
        env = component_of(run, container)
        assert container.id is not None
        labels[container.id] = f"{env}-state"
    return labels


def grants(run: ProgramRun) -> Counter[tuple[str, str, str]]:
    """(identity, role, scope label) of every role assignment."""
    labels = scope_labels(run)
    (custom,) = run.of_type(ROLE_DEFINITION)
    table: Counter[tuple[str, str, str]] = Counter()
    for assignment in run.of_type(ROLE_ASSIGNMENT):
        role = DEPLOYER if assignment.inputs["roleDefinitionId"] == custom.id else role_guid(assignment)
        table[(identity_of(run, assignment), role, labels[assignment.inputs["scope"]])] += 1
    return table


EXPECTED_GRANTS = Counter(
    [
        ("preview", READER, "dev-group"),
        ("preview", READER, "prod-group"),
        ("preview", BLOB_READER, "dev-state"),
        ("preview", BLOB_READER, "prod-state"),
        ("deploy-dev", DEPLOYER, "dev-group"),
        ("deploy-dev", RBAC_ADMIN, "dev-group"),
        ("deploy-dev", BLOB_CONTRIBUTOR, "dev-state"),
        ("deploy-prod", DEPLOYER, "prod-group"),
        ("deploy-prod", RBAC_ADMIN, "prod-group"),
        ("deploy-prod", BLOB_CONTRIBUTOR, "prod-state"),
    ]
)


# --- identities and whom they trust ------------------------------------------------------------------


def subjects(run: ProgramRun) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for credential in run.of_type(CREDENTIAL):
        found.setdefault(component_of(run, credential), set()).add(credential.inputs["subject"])
    return found


def test_three_identities_each_an_application_and_a_service_principal(run: ProgramRun) -> None:
    identities = sorted(r.name for r in run.of_type(IDENTITY))
    assert identities == ["deploy-dev", "deploy-prod", "preview"]
    for type_ in (APP, SERVICE_PRINCIPAL):
        assert sorted(component_of(run, r) for r in run.of_type(type_)) == identities
    for principal in run.of_type(SERVICE_PRINCIPAL):
        (app_urn,) = principal.property_dependencies["clientId"]
        assert component_of(run, run.by_urn(app_urn)) == component_of(run, principal)


def test_federated_subjects_are_exactly_one_job_each(run: ProgramRun) -> None:
    assert subjects(run) == {
        "preview": {f"{REPO_SUBJECT}:pull_request", f"{REPO_SUBJECT}:ref:refs/heads/main"},
        "deploy-dev": {f"{REPO_SUBJECT}:environment:dev"},
        "deploy-prod": {f"{REPO_SUBJECT}:environment:production"},
    }


def test_a_pull_request_never_reaches_a_deploy_identity_and_dev_never_production(run: ProgramRun) -> None:
    found = subjects(run)
    for deployer in ("deploy-dev", "deploy-prod"):
        assert not any(s.endswith(":pull_request") or ":ref:" in s for s in found[deployer])
    assert not any("production" in s for s in found["deploy-dev"] | found["preview"])
    assert not any(s.endswith(":environment:dev") for s in found["deploy-prod"] | found["preview"])


def test_every_credential_is_github_oidc_for_its_own_application(run: ProgramRun) -> None:
    for credential in run.of_type(CREDENTIAL):
        assert credential.inputs["issuer"] == "https://token.actions.githubusercontent.com"
        assert credential.inputs["audiences"] == ["api://AzureADTokenExchange"]
        (app_urn,) = credential.property_dependencies["applicationId"]
        assert component_of(run, run.by_urn(app_urn)) == component_of(run, credential)


def test_no_secret_anywhere(run: ProgramRun, with_keys: ProgramRun) -> None:
    for each in (run, with_keys):
        types = {r.type for r in each.resources}
        assert not {t for t in types if re.search(r"password|certificate|secret", t, re.IGNORECASE)}
        # azuread's full Application resource can carry a password block; the registration cannot.
        assert "azuread:index/application:Application" not in types
        assert all("password" not in r.inputs for r in each.resources)
        assert each.secret_outputs == frozenset()


# --- Azure rights --------------------------------------------------------------------------------------


def test_each_identity_gets_exactly_its_rights(run: ProgramRun) -> None:
    assert grants(run) == EXPECTED_GRANTS


def test_the_secrets_key_of_an_environment_goes_to_its_deploy_identity_only(with_keys: ProgramRun) -> None:
    assert grants(with_keys) == EXPECTED_GRANTS + Counter(
        [("deploy-dev", KEY_VAULT_CRYPTO_USER, "dev-key"), ("deploy-prod", KEY_VAULT_CRYPTO_USER, "prod-key")]
    )


def test_nothing_is_granted_at_subscription_scope(run: ProgramRun, with_keys: ProgramRun) -> None:
    for each in (run, with_keys):
        for assignment in each.of_type(ROLE_ASSIGNMENT):
            scope = assignment.inputs["scope"]
            assert scope.startswith(f"{SUBSCRIPTION}/resourceGroups/"), scope
            assert role_guid(assignment) not in (OWNER, USER_ACCESS_ADMIN, CONTRIBUTOR)


def test_prod_rights_never_reach_the_dev_or_preview_identity(run: ProgramRun, with_keys: ProgramRun) -> None:
    for each in (run, with_keys):
        for identity, role, scope in grants(each):
            if identity == "preview":
                assert role in (READER, BLOB_READER), "the preview identity only reads"
            if scope.startswith("prod") and role not in (READER, BLOB_READER):
                assert identity == "deploy-prod", (identity, role, scope)
            if identity == "deploy-dev":
                assert scope.startswith("dev"), (role, scope)


def test_every_assignment_names_a_service_principal(run: ProgramRun) -> None:
    assert {a.inputs["principalType"] for a in run.of_type(ROLE_ASSIGNMENT)} == {"ServicePrincipal"}


def test_the_deployer_role_is_contributor_that_cannot_delete_the_namespace_or_group(run: ProgramRun) -> None:
    (role,) = run.of_type(ROLE_DEFINITION)
    assert role.inputs["roleName"] == "ml-messaging deployer"
    assert role.inputs["roleType"] == "CustomRole"
    assert role.inputs["scope"] == SUBSCRIPTION
    assert role.inputs["assignableScopes"] == [DEV_GROUP, PROD_GROUP]
    (permission,) = role.inputs["permissions"]
    assert permission["actions"] == ["*"]
    assert not permission.get("dataActions")
    not_actions = permission["notActions"]
    for required in (
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.ServiceBus/namespaces/delete",
        "Microsoft.Resources/subscriptions/resourceGroups/delete",
    ):
        assert required in not_actions
    # Contributor's own NotActions (built-in-roles/privileged.md) are all kept.
    for contributor_not_action in (
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action",
        "Microsoft.Purview/consents/write",
        "Microsoft.Purview/consents/delete",
        "Microsoft.Resources/deploymentStacks/manageDenySetting/action",
        "Microsoft.Subscription/cancel/action",
        "Microsoft.Subscription/enable/action",
    ):
        assert contributor_not_action in not_actions
    assert len(not_actions) == len(set(not_actions)) == 13


# The Learn example "Constrain roles", with its two Backup roles replaced by the two Service Bus data roles.
LEARN_CONSTRAIN_ROLES = """
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})
 )
 OR
 (
  @Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {ROLES}
 )
)
AND
(
 (
  !(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})
 )
 OR
 (
  @Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals {ROLES}
 )
)
"""


def test_role_assignment_rights_are_constrained_to_the_two_service_bus_data_roles(run: ProgramRun) -> None:
    expected = LEARN_CONSTRAIN_ROLES.replace("{ROLES}", "{" + f"{DATA_SENDER}, {DATA_RECEIVER}" + "}")
    admins = [a for a in run.of_type(ROLE_ASSIGNMENT) if role_guid(a) == RBAC_ADMIN]
    assert len(admins) == 2
    for admin in admins:
        condition = admin.inputs["condition"]
        assert admin.inputs["conditionVersion"] == "2.0"
        assert condition.split() == expected.split()
        for source in ("Request", "Resource"):
            pattern = rf"@{source}\[[^]]+:RoleDefinitionId\] ForAnyOfAnyValues:GuidEquals \{{([^}}]*)\}}"
            match = re.search(pattern, condition)
            assert match is not None
            assert {guid.strip() for guid in match.group(1).split(",")} == {DATA_SENDER, DATA_RECEIVER}
    others = [a for a in run.of_type(ROLE_ASSIGNMENT) if role_guid(a) != RBAC_ADMIN]
    assert all("condition" not in a.inputs for a in others)


# --- scopes -----------------------------------------------------------------------------------------------


def test_resource_groups_and_state_containers_are_created_and_protected(run: ProgramRun) -> None:
    groups = {r.inputs["resourceGroupName"]: r for r in run.of_type(RESOURCE_GROUP)}
    assert sorted(groups) == ["rg-mlpipe-dev-weu-001", "rg-mlpipe-prod-weu-001"]
    assert all(g.protect and g.inputs["location"] == "westeurope" for g in groups.values())
    containers = {r.inputs["containerName"]: r for r in run.of_type(CONTAINER)}
    assert sorted(containers) == ["pulumi-state-dev", "pulumi-state-prod"]
    for container in containers.values():
        assert container.protect
        assert container.inputs["accountName"] == "stmlstate"
        assert container.inputs["resourceGroupName"] == "rg-pulumi-state"
        assert container.inputs["publicAccess"] == "None"
    assert run.outputs["backends"] == {
        "dev": "azblob://pulumi-state-dev?storage_account=stmlstate",
        "prod": "azblob://pulumi-state-prod?storage_account=stmlstate",
    }


def test_an_existing_resource_group_is_referenced_not_created(with_keys: ProgramRun) -> None:
    assert [g.inputs["resourceGroupName"] for g in with_keys.of_type(RESOURCE_GROUP)] == ["rg-mlpipe-dev-weu-001"]
    assert ("deploy-prod", DEPLOYER, "prod-group") in grants(with_keys)


# --- GitHub -------------------------------------------------------------------------------------------------


def test_environments_deploy_from_main_only_and_production_needs_a_reviewer(run: ProgramRun) -> None:
    environments = {r.inputs["environment"]: r for r in run.of_type(ENVIRONMENT)}
    assert sorted(environments) == ["dev", "production"]
    for environment in environments.values():
        assert environment.inputs["repository"] == "ml-messaging"
        assert environment.inputs["deploymentBranchPolicy"] == {
            "protectedBranches": False,
            "customBranchPolicies": True,
        }
        assert environment.inputs["canAdminsBypass"] is False
    policies = {r.inputs["environment"]: r.inputs["branchPattern"] for r in run.of_type(BRANCH_POLICY)}
    assert policies == {"dev": "main", "production": "main"}
    assert all("tagPattern" not in r.inputs for r in run.of_type(BRANCH_POLICY))
    production = environments["production"].inputs
    assert production["reviewers"] == [{"teams": [4242], "users": [777]}]
    assert production["preventSelfReview"] is True
    assert "reviewers" not in environments["dev"].inputs


def test_github_resources_use_the_configured_owner(run: ProgramRun) -> None:
    (provider,) = run.of_type("pulumi:providers:github")
    assert provider.inputs["owner"] == "acme"
    github = [r for r in run.resources if r.type.startswith("github:")]
    assert github
    assert all(r.provider.startswith(f"{provider.urn}::") for r in github)


def test_actions_variables_the_workflows_read(run: ProgramRun) -> None:
    repository = {r.inputs["variableName"]: r for r in run.of_type(VARIABLE)}
    assert sorted(repository) == [
        "AZURE_PREVIEW_CLIENT_ID",
        "AZURE_SUBSCRIPTION_ID",
        "AZURE_TENANT_ID",
        "PULUMI_BACKEND_URL_DEV",
        "PULUMI_BACKEND_URL_PROD",
    ]
    assert repository["AZURE_TENANT_ID"].inputs["value"] == MOCK_TENANT_ID
    assert repository["AZURE_SUBSCRIPTION_ID"].inputs["value"] == MOCK_SUBSCRIPTION_ID
    assert repository["PULUMI_BACKEND_URL_DEV"].inputs["value"] == "azblob://pulumi-state-dev?storage_account=stmlstate"
    assert (
        repository["PULUMI_BACKEND_URL_PROD"].inputs["value"] == "azblob://pulumi-state-prod?storage_account=stmlstate"
    )
    scoped = {(r.inputs["environment"], r.inputs["variableName"]): r for r in run.of_type(ENV_VARIABLE)}
    assert sorted(scoped) == [("dev", "AZURE_DEPLOY_DEV_CLIENT_ID"), ("production", "AZURE_DEPLOY_PROD_CLIENT_ID")]
    # Each client ID comes from its own identity's application.
    for variable, identity in (
        (repository["AZURE_PREVIEW_CLIENT_ID"], "preview"),
        (scoped[("dev", "AZURE_DEPLOY_DEV_CLIENT_ID")], "deploy-dev"),
        (scoped[("production", "AZURE_DEPLOY_PROD_CLIENT_ID")], "deploy-prod"),
    ):
        (app_urn,) = variable.property_dependencies["value"]
        assert run.by_urn(app_urn).type == APP
        assert component_of(run, run.by_urn(app_urn)) == identity


# --- structure ----------------------------------------------------------------------------------------------


def test_components_are_typed_and_own_every_resource(run: ProgramRun) -> None:
    components = [r for r in run.resources if not r.custom]
    assert {r.type for r in components} == {
        "ml-messaging-bootstrap:identities:GitHubOidcIdentity",
        "ml-messaging-bootstrap:scopes:EnvironmentScopes",
        "ml-messaging-bootstrap:access:DeliveryAccess",
        "ml-messaging-bootstrap:github_env:GitHubDelivery",
    }
    component_urns = {r.urn for r in components}
    for resource in run.resources:
        if resource.custom and not resource.type.startswith("pulumi:providers:"):
            assert resource.parent in component_urns, resource.urn
    assert all(r.urn.startswith(f"urn:pulumi:bootstrap::{PROJECT}::") for r in run.resources)


def test_no_workflow_can_approve_a_pull_request_and_tokens_read_by_default(run: ProgramRun) -> None:
    (permissions,) = run.of_type("github:index/workflowRepositoryPermissions:WorkflowRepositoryPermissions")
    assert permissions.inputs["canApprovePullRequestReviews"] is False
    assert permissions.inputs["defaultWorkflowPermissions"] == "read"
    assert permissions.inputs["repository"] == "ml-messaging"
