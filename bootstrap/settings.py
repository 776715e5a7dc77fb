"""The bootstrap stack's config (``bootstrap/Pulumi.bootstrap.yaml``): schema and loader.

Every problem becomes one line ``<file>: ml-messaging-bootstrap:<key>: <what is wrong>``, raised
before anything is registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

PROJECT = "ml-messaging-bootstrap"
# Config namespaces that belong to the providers or the engine, not to this program.
FOREIGN_NAMESPACES = frozenset({"azure-native", "azuread", "github", "pulumi"})

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# Resource group names: 1-90 letters, digits, '_', '-', '.', '(' or ')', not ending in '.'
# (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules, Microsoft.Resources).
_RESOURCE_GROUP = r"[-\w.()]{0,89}[-\w()]"
# Storage account names: 3-24 lowercase letters and digits (resource-name-rules, Microsoft.Storage).
_STORAGE_ACCOUNT = r"[a-z0-9]{3,24}"

# What each pattern-checked key must look like, for the error line.
_PATTERN_HELP = {
    "repository": "a GitHub repository as owner/name, e.g. acme/ml-messaging",
    "location": "an ARM location name, e.g. westeurope",
    "namePrefix": "2-31 lowercase letters, digits and hyphens, starting with a letter",
    "resourceGroupName": "a resource group name: 1-90 letters, digits, _ - . ( ), not ending in '.'",
    "stateContainer": (
        "a blob container name: 3-63 lowercase letters, digits and single hyphens, "
        "starting and ending with a letter or digit"
    ),
    "stateStorageAccountId": (
        "a storage account resource ID: /subscriptions/<guid>/resourceGroups/<group>"
        "/providers/Microsoft.Storage/storageAccounts/<account>"
    ),
    "secretsKeyId": (
        "a Key Vault key resource ID: /subscriptions/<guid>/resourceGroups/<group>"
        "/providers/Microsoft.KeyVault/vaults/<vault>/keys/<key>"
    ),
}

RepositorySlug = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")]
ResourceGroupName = Annotated[str, Field(pattern=rf"^{_RESOURCE_GROUP}$")]
# Blob container names: 3-63 lowercase letters, digits and single hyphens, starting and ending with a letter
# or digit (learn.microsoft.com/rest/api/storageservices/naming-and-referencing-containers--blobs--and-metadata).
ContainerName = Annotated[str, Field(min_length=3, max_length=63, pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")]
StorageAccountId = Annotated[
    str,
    Field(
        pattern=rf"^/subscriptions/{_GUID}/resourceGroups/{_RESOURCE_GROUP}"
        rf"/providers/Microsoft\.Storage/storageAccounts/{_STORAGE_ACCOUNT}$"
    ),
]
# Key Vault names: 3-24 letters, digits and hyphens; key names: 1-127 letters, digits and hyphens.
KeyVaultKeyId = Annotated[
    str,
    Field(
        pattern=rf"^/subscriptions/{_GUID}/resourceGroups/{_RESOURCE_GROUP}"
        r"/providers/Microsoft\.KeyVault/vaults/[A-Za-z0-9-]{3,24}/keys/[A-Za-z0-9-]{1,127}$"
    ),
]
Location = Annotated[str, Field(pattern=r"^[a-z][a-z0-9]{2,29}$")]
GitHubId = Annotated[int, Field(gt=0)]
# The main program's stacks (stacks/Pulumi.<stack>.yaml) this bootstrap provides for.
StackName = Literal["dev", "prod"]


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class EnvironmentSettings(_Model):
    """Where one environment's stack lives in Azure."""

    resource_group_name: ResourceGroupName = Field(
        description="Resource group of the environment's Service Bus namespace (its stack's resourceGroupName)."
    )
    create_resource_group: bool = Field(
        default=True,
        description="Create the resource group (protected); false: it exists already and is only referenced.",
    )
    state_container: ContainerName = Field(
        description="Blob container of the environment's Pulumi state, created in stateStorageAccountId."
    )
    secrets_key_id: KeyVaultKeyId | None = Field(
        default=None,
        description=(
            "Key Vault key of the environment's stack secrets provider, if it has one: its deploy identity gets "
            "Key Vault Crypto User on this key only. Use one key per environment."
        ),
    )


class ReviewerSettings(_Model):
    """Who must approve a deployment to the ``production`` GitHub environment."""

    teams: tuple[GitHubId, ...] = Field(
        default=(), description="GitHub team IDs (gh api orgs/<org>/teams/<team-slug> --jq .id)."
    )
    users: tuple[GitHubId, ...] = Field(default=(), description="GitHub user IDs (gh api users/<login> --jq .id).")

    @model_validator(mode="after")
    def _one_to_six(self) -> ReviewerSettings:
        # GitHub: "You can list up to six users or teams as reviewers" (docs.github.com, "Managing
        # environments for deployment", Required reviewers).
        count = len(self.teams) + len(self.users)
        if not 1 <= count <= 6:
            raise ValueError(f"must name 1 to 6 reviewers (teams and users together), got {count}")
        return self


class BootstrapSettings(_Model):
    """The whole bootstrap stack config."""

    repository: RepositorySlug = Field(
        description="The GitHub repository (owner/name) whose workflows get the identities."
    )
    location: Location = Field(description="Azure region of the resource groups this stack creates.")
    name_prefix: str = Field(
        default="ml-messaging",
        pattern=r"^[a-z][a-z0-9-]{1,30}$",
        description="Prefix of the Entra application display names, e.g. ml-messaging -> ml-messaging-deploy-prod.",
    )
    state_storage_account_id: StorageAccountId = Field(
        description="The existing storage account that holds the Pulumi state (README bootstrap step 1)."
    )
    dev: EnvironmentSettings = Field(description="The dev stack (GitHub environment dev).")
    prod: EnvironmentSettings = Field(description="The prod stack (GitHub environment production).")
    production_reviewers: ReviewerSettings = Field(
        description="Required reviewers of the production GitHub environment."
    )

    @model_validator(mode="after")
    def _environments_apart(self) -> BootstrapSettings:
        # Two environments sharing a scope would hand prod's rights to the dev identity.
        if self.dev.resource_group_name.lower() == self.prod.resource_group_name.lower():
            raise _KeyedError("prod.resourceGroupName", "must differ from dev.resourceGroupName")
        if self.dev.state_container == self.prod.state_container:
            raise _KeyedError("prod.stateContainer", "must differ from dev.stateContainer")
        if self.dev.secrets_key_id and self.dev.secrets_key_id.lower() == (self.prod.secrets_key_id or "").lower():
            raise _KeyedError("prod.secretsKeyId", "must differ from dev.secretsKeyId (one key per environment)")
        # A deploy identity may do anything inside its resource group, listing storage account keys
        # and Key Vault keys included: the state account and the vault must live elsewhere.
        shared = {self.state_account_resource_group.lower()} | {
            key.split("/")[4].lower() for key in (self.dev.secrets_key_id, self.prod.secrets_key_id) if key
        }
        for stack, environment in (("dev", self.dev), ("prod", self.prod)):
            if environment.resource_group_name.lower() in shared:
                raise _KeyedError(
                    f"{stack}.resourceGroupName",
                    "must not be the resource group of the state storage account or the secrets vault: "
                    "the deploy identity could list their keys",
                )
        return self

    @property
    def owner(self) -> str:
        """The repository's owner (organization or user)."""
        return self.repository.split("/", 1)[0]

    @property
    def repository_name(self) -> str:
        """The repository's name without its owner."""
        return self.repository.split("/", 1)[1]

    @property
    def state_account_name(self) -> str:
        """The state storage account's name."""
        return self.state_storage_account_id.rsplit("/", 1)[1]

    @property
    def state_account_resource_group(self) -> str:
        """The resource group of the state storage account."""
        return self.state_storage_account_id.split("/")[4]

    def environment(self, stack: StackName) -> EnvironmentSettings:
        """The settings of one environment by its stack name."""
        return self.dev if stack == "dev" else self.prod


class SettingsError(Exception):
    """Bad bootstrap config: one line per problem, each naming the file and the key."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


class _KeyedError(ValueError):
    """A cross-field error that knows which key (dotted, below the model) it is about."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)


_STRUCTURED = frozenset(
    info.alias or name for name, info in BootstrapSettings.model_fields.items() if info.annotation is not str
)


def settings_from_config(config: Mapping[str, Any], source: str) -> BootstrapSettings:
    """Validate an engine-style ``<project>:<key>`` config map; raise SettingsError naming ``source``."""
    own: dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace == PROJECT:
            own[key] = _decode(key, value)
        elif namespace not in FOREIGN_NAMESPACES:
            raise SettingsError([f"{source}: {full_key}: unknown config namespace '{namespace}'; use {PROJECT}:<key>"])
    try:
        return BootstrapSettings.model_validate(own)
    except ValidationError as error:
        raise SettingsError([f"{source}: {line}" for line in _describe(error)]) from None


def settings_from_engine() -> BootstrapSettings:
    """The running stack's settings as the engine passed them; a ``RunError`` (no traceback) if bad."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    source = f"bootstrap/Pulumi.{pulumi.get_stack()}.yaml"
    try:
        return settings_from_config({**get_config_env(), **CONFIG.get()}, source)
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None


def _decode(key: str, value: Any) -> Any:
    # Structured values reach a program as JSON text; scalars stay plain strings.
    if isinstance(value, str) and key in _STRUCTURED:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _describe(error: ValidationError) -> list[str]:
    lines = []
    for detail in error.errors(include_url=False):
        loc = [str(part) if isinstance(part, str) else f"[{part}]" for part in detail["loc"]]
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, _KeyedError):
            loc.append(cause.key)
        path = ".".join(loc).replace(".[", "[")
        key = f"{PROJECT}:{path}" if path else PROJECT
        kind, value = detail["type"], detail.get("input")
        if kind == "missing":
            lines.append(f"{key}: is required")
        elif kind == "extra_forbidden":
            lines.append(f"{key}: unknown key")
        elif kind == "string_pattern_mismatch":
            lines.append(f"{key}: {value!r} is not {_pattern_help(detail['loc'])}")
        else:
            message = re.sub(r"^(Value error|Assertion failed), ", "", detail["msg"])
            shown = "" if isinstance(value, dict | list) or kind == "value_error" else f" (got {value!r})"
            lines.append(f"{key}: {message}{shown}")
    return lines


def _pattern_help(loc: tuple[int | str, ...]) -> str:
    leaf = next((part for part in reversed(loc) if isinstance(part, str)), "")
    return _PATTERN_HELP.get(leaf, "valid")
