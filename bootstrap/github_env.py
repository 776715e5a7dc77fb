"""``GitHubDelivery``: the repository's deployment environments and the Actions variables the workflows read.

- ``dev`` and ``production``: deployable from ``main`` only (a custom deployment branch policy
  ``main``; ``protected_branches`` false, as GitHub requires exactly one of the two), admins cannot
  bypass; ``production`` also needs one of its required reviewers, and not the person who triggered
  the run. The deploy identities trust ``environment:<name>`` subjects, so these protection rules
  are what stand between a branch and Azure (docs.github.com, "Managing environments for
  deployment": deployment branches and tags, required reviewers, prevent self-review).
- Variables (none is a secret): tenant, subscription, preview client ID and both state backends for
  the whole repository (pull requests and drift read every stack); each deploy client ID only in its
  own environment.

Resources (pulumi-github 6.x): ``RepositoryEnvironment`` (``repository``, ``environment``,
``reviewers``, ``prevent_self_review``, ``can_admins_bypass``, ``deployment_branch_policy``),
``RepositoryEnvironmentDeploymentPolicy`` (``branch_pattern``), ``ActionsVariable`` and
``ActionsEnvironmentVariable`` (``variable_name``, ``value``); www.pulumi.com/registry/packages/github/api-docs/.
``repository`` is the name without its owner: the owner is the provider's (``owner``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_github as github

MAIN_BRANCH = "main"


@dataclass(frozen=True)
class DeliveryEnvironment:
    """One GitHub deployment environment."""

    name: str
    """The environment's name, as the deploy workflow's jobs reference it (``dev``, ``production``)."""

    reviewer_teams: Sequence[int] = ()
    """Team IDs of which one member must approve each deployment (empty: no review)."""

    reviewer_users: Sequence[int] = ()
    """User IDs of which one must approve each deployment (empty: no review)."""

    variables: Mapping[str, pulumi.Input[str]] | None = None
    """Actions variables visible only to jobs that run in this environment."""


@dataclass(frozen=True)
class GitHubDeliveryArgs:
    """Inputs of a ``GitHubDelivery``."""

    repository: str
    """The repository's name (without owner)."""

    environments: Sequence[DeliveryEnvironment]
    """The deployment environments, each deployable from ``main`` only."""

    variables: Mapping[str, pulumi.Input[str]]
    """Repository-wide Actions variables."""


class GitHubDelivery(pulumi.ComponentResource):
    """Deployment environments with their protection rules, and the Actions variables."""

    environment_names: list[str]

    def __init__(self, name: str, args: GitHubDeliveryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("ml-messaging-bootstrap:github_env:GitHubDelivery", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.environment_names = []
        for spec in args.environments:
            reviewed = bool(spec.reviewer_teams or spec.reviewer_users)
            environment = github.RepositoryEnvironment(
                f"{name}-env-{spec.name}",
                repository=args.repository,
                environment=spec.name,
                reviewers=[
                    github.RepositoryEnvironmentReviewerArgs(
                        teams=list(spec.reviewer_teams), users=list(spec.reviewer_users)
                    )
                ]
                if reviewed
                else None,
                prevent_self_review=True if reviewed else None,
                can_admins_bypass=False,
                deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
                    protected_branches=False, custom_branch_policies=True
                ),
                opts=child,
            )
            github.RepositoryEnvironmentDeploymentPolicy(
                f"{name}-env-{spec.name}-main-only",
                repository=args.repository,
                environment=environment.environment,
                branch_pattern=MAIN_BRANCH,
                opts=child,
            )
            for variable, value in (spec.variables or {}).items():
                github.ActionsEnvironmentVariable(
                    f"{name}-env-{spec.name}-{variable.lower()}",
                    repository=args.repository,
                    environment=environment.environment,
                    variable_name=variable,
                    value=value,
                    opts=child,
                )
            self.environment_names.append(spec.name)
        for variable, value in args.variables.items():
            github.ActionsVariable(
                f"{name}-var-{variable.lower()}",
                repository=args.repository,
                variable_name=variable,
                value=value,
                opts=child,
            )
        # The workflows' token reads by default, and no workflow may approve a pull request: otherwise
        # a pushed branch's workflow could supply the one required review with github.token
        # (GitHub Docs, "Managing GitHub Actions settings for a repository", workflow permissions).
        github.WorkflowRepositoryPermissions(
            f"{name}-workflow-permissions",
            repository=args.repository,
            default_workflow_permissions="read",
            can_approve_pull_request_reviews=False,
            opts=child,
        )
        self.register_outputs({"environments": self.environment_names})
