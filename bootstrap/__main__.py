"""The bootstrap program: the delivery identities, their rights, and the GitHub side that uses them.

Run once by an administrator (bootstrap/README.md). Three identities, one job each:

- preview: pull requests and the nightly drift check on main; reads both environments;
- deploy-dev: the ``dev`` GitHub environment only; deploys dev;
- deploy-prod: the ``production`` GitHub environment only; deploys prod.
"""

import sys
from pathlib import Path

# The CLI runs this file with bootstrap/ itself on sys.path; the modules are imported as the package
# ``bootstrap`` (bootstrap/__init__.py), so its parent directory must be importable too. Appended,
# not prepended: nothing else is looked up there first.
_PARENT = str(Path(__file__).resolve().parent.parent)
if _PARENT not in sys.path:
    sys.path.append(_PARENT)

import pulumi  # noqa: E402
import pulumi_github as github  # noqa: E402
from pulumi_azure_native import authorization  # noqa: E402

from bootstrap.access import DeliveryAccess, DeliveryAccessArgs, DeployerArgs  # noqa: E402
from bootstrap.github_env import DeliveryEnvironment, GitHubDelivery, GitHubDeliveryArgs  # noqa: E402
from bootstrap.identities import GitHubOidcIdentity, GitHubOidcIdentityArgs  # noqa: E402
from bootstrap.scopes import EnvironmentScopes, EnvironmentScopesArgs  # noqa: E402
from bootstrap.settings import StackName, settings_from_engine  # noqa: E402

# Stack name -> GitHub environment name (.github/workflows/deploy.yml).
GITHUB_ENVIRONMENTS: dict[StackName, str] = {"dev": "dev", "prod": "production"}

settings = settings_from_engine()
client = authorization.get_client_config_output()
subscription_id = client.subscription_id

preview = GitHubOidcIdentity(
    "preview",
    GitHubOidcIdentityArgs(
        display_name=f"{settings.name_prefix}-preview",
        description="GitHub Actions: preview of pull requests and drift on main (read-only)",
        repository=settings.repository,
        contexts={"pull-requests": "pull_request", "main-drift": "ref:refs/heads/main"},
    ),
)
deployers = {
    stack: GitHubOidcIdentity(
        f"deploy-{stack}",
        GitHubOidcIdentityArgs(
            display_name=f"{settings.name_prefix}-deploy-{stack}",
            description=f"GitHub Actions: deploys the {stack} stack from the {environment} environment",
            repository=settings.repository,
            contexts={f"env-{environment}": f"environment:{environment}"},
        ),
    )
    for stack, environment in GITHUB_ENVIRONMENTS.items()
}
scopes: dict[str, EnvironmentScopes] = {
    stack: EnvironmentScopes(
        stack,
        EnvironmentScopesArgs(
            subscription_id=subscription_id,
            resource_group_name=settings.environment(stack).resource_group_name,
            create_resource_group=settings.environment(stack).create_resource_group,
            location=settings.location,
            state_account_name=settings.state_account_name,
            state_account_resource_group=settings.state_account_resource_group,
            state_container=settings.environment(stack).state_container,
            tags={"environment": stack, "managed-by": "ml-messaging-bootstrap"},
        ),
    )
    for stack in GITHUB_ENVIRONMENTS
}
DeliveryAccess(
    "access",
    DeliveryAccessArgs(
        subscription_id=subscription_id,
        preview_principal_id=preview.object_id,
        preview_scopes=scopes,
        deployers={
            stack: DeployerArgs(
                principal_id=identity.object_id,
                scopes=scopes[stack],
                secrets_key_id=settings.environment(stack).secrets_key_id,
            )
            for stack, identity in deployers.items()
        },
    ),
)

# The token comes from GITHUB_TOKEN (or `gh auth token`); the owner from the config, not the token.
github_provider = github.Provider("github", owner=settings.owner)
GitHubDelivery(
    "github",
    GitHubDeliveryArgs(
        repository=settings.repository_name,
        environments=[
            DeliveryEnvironment(
                name=GITHUB_ENVIRONMENTS["dev"],
                variables={"AZURE_DEPLOY_DEV_CLIENT_ID": deployers["dev"].client_id},
            ),
            DeliveryEnvironment(
                name=GITHUB_ENVIRONMENTS["prod"],
                reviewer_teams=settings.production_reviewers.teams,
                reviewer_users=settings.production_reviewers.users,
                variables={"AZURE_DEPLOY_PROD_CLIENT_ID": deployers["prod"].client_id},
            ),
        ],
        variables={
            "AZURE_TENANT_ID": client.tenant_id,
            "AZURE_SUBSCRIPTION_ID": subscription_id,
            "AZURE_PREVIEW_CLIENT_ID": preview.client_id,
            "PULUMI_BACKEND_URL_DEV": scopes["dev"].backend_url,
            "PULUMI_BACKEND_URL_PROD": scopes["prod"].backend_url,
        },
    ),
    opts=pulumi.ResourceOptions(providers={"github": github_provider}),
)

pulumi.export(
    "identities",
    {
        "preview": {"clientId": preview.client_id, "objectId": preview.object_id, "subjects": preview.subjects},
        **{
            f"deploy-{stack}": {"clientId": i.client_id, "objectId": i.object_id, "subjects": i.subjects}
            for stack, i in deployers.items()
        },
    },
)
pulumi.export("backends", {stack: scope.backend_url for stack, scope in scopes.items()})
