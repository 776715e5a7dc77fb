"""``GitHubOidcIdentity``: one Entra application and service principal that only GitHub Actions jobs
of one repository, in named contexts, can sign in as. No client secret, no certificate.

GitHub's OIDC token carries ``sub`` = ``repo:<owner>/<repo>:<context>``: ``pull_request`` for a pull
request's workflow, ``ref:refs/heads/main`` for a job on main without an environment,
``environment:<name>`` for a job that references an environment (docs.github.com, "About security
hardening with OpenID Connect", Example subject claims). Entra exchanges it only when issuer, subject
and audience all equal a federated identity credential of the application (learn.microsoft.com/entra/
workload-id/workload-identity-federation-create-trust, GitHub Actions; issuer
``https://token.actions.githubusercontent.com``, audience ``api://AzureADTokenExchange``).

Resources (pulumi-azuread 6.x, the ``azuread`` provider): ``ApplicationRegistration`` (the
lightweight application resource: it has no ``password`` block, unlike ``Application``),
``ServicePrincipal`` (``client_id``), ``ApplicationFederatedIdentityCredential`` (``application_id``
is the application's resource ID ``/applications/<object id>``, i.e. ``ApplicationRegistration.id``);
www.pulumi.com/registry/packages/azuread/api-docs/.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_azuread as azuread

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
TOKEN_EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"


def github_subject(repository: str, context: str) -> str:
    """The ``sub`` claim of a GitHub Actions OIDC token for ``repository`` (owner/name) in ``context``."""
    return f"repo:{repository}:{context}"


@dataclass(frozen=True)
class GitHubOidcIdentityArgs:
    """Inputs of a ``GitHubOidcIdentity``."""

    display_name: str
    """Display name of the Entra application and its service principal, e.g. ``ml-messaging-preview``."""

    description: str
    """What the identity is for; shown on the application in Entra."""

    repository: str
    """The GitHub repository (owner/name) whose workflows may sign in."""

    contexts: Mapping[str, str]
    """Credential name -> token context (``pull_request``, ``environment:dev``, ...): one trusted subject each."""


class GitHubOidcIdentity(pulumi.ComponentResource):
    """An application, its service principal and one federated credential per trusted subject."""

    client_id: pulumi.Output[str]
    object_id: pulumi.Output[str]
    subjects: list[str]

    def __init__(self, name: str, args: GitHubOidcIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-messaging-bootstrap:identities:GitHubOidcIdentity", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        application = azuread.ApplicationRegistration(
            f"{name}-app",
            display_name=args.display_name,
            description=args.description,
            sign_in_audience="AzureADMyOrg",
            opts=child,
        )
        principal = azuread.ServicePrincipal(
            f"{name}-sp",
            client_id=application.client_id,
            description=args.description,
            opts=child,
        )
        self.subjects = []
        for credential, context in args.contexts.items():
            subject = github_subject(args.repository, context)
            azuread.ApplicationFederatedIdentityCredential(
                f"{name}-{credential}",
                application_id=application.id,
                display_name=credential,
                description=f"GitHub Actions: {subject}",
                issuer=GITHUB_ISSUER,
                audiences=[TOKEN_EXCHANGE_AUDIENCE],
                subject=subject,
                opts=child,
            )
            self.subjects.append(subject)

        self.client_id = application.client_id
        # Role assignments name the service principal's object ID, not the application's.
        self.object_id = principal.object_id
        self.register_outputs({"clientId": self.client_id, "objectId": self.object_id, "subjects": self.subjects})
