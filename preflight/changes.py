"""What an update would do to a deployed stack: create, update, replace or delete, resource by resource.

The comparison is the engine's: resources are matched by URN (pulumi/pulumi
``pkg/resource/deploy/step_generator.go``: an unmatched new URN is a create, an old URN not registered
again is deleted after every create and update). Whether a changed input replaces the resource is the
provider's decision; azure-native replaces a resource when a path parameter of its ARM URL or a
property marked ForceNew changes (pulumi/pulumi-azure-native ``provider/pkg/provider/diff.go``,
``provider/pkg/gen/replacement.go``), and deletes the old resource first when its Azure name is given
explicitly, as it always is in this repository (``provider.go``, ``deleteBeforeReplace``).

Some inputs cannot change in Azure although azure-native plans an in-place update for them (for
example a subscription's ``requiresSession``). They are listed in ``AZURE_CREATE_ONLY`` and treated
as the replacement they are; the change rules say what Azure would answer. Sources per entry:
docs/day2.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from preflight.engine.resources import STACK_TYPE
from preflight.mockrun import RecordedResource

_COMMON = ("resourceGroupName", "namespaceName")
# Inputs whose change makes azure-native replace the resource: ARM path parameters and ForceNew.
REPLACE_ON_CHANGE: dict[str, frozenset[str]] = {
    "azure-native:resources:ResourceGroup": frozenset({"resourceGroupName", "location"}),
    "azure-native:servicebus:Namespace": frozenset({*_COMMON, "location"}),
    "azure-native:servicebus:Topic": frozenset(
        {*_COMMON, "topicName", "requiresDuplicateDetection", "enablePartitioning"}
    ),
    "azure-native:servicebus:Subscription": frozenset({*_COMMON, "topicName", "subscriptionName"}),
    "azure-native:servicebus:Rule": frozenset({*_COMMON, "topicName", "subscriptionName", "ruleName"}),
    "azure-native:servicebus:DefaultRule": frozenset({*_COMMON, "topicName", "subscriptionName"}),
    "azure-native:servicebus:TopicAuthorizationRule": frozenset({*_COMMON, "topicName", "authorizationRuleName"}),
    "azure-native:servicebus:NamespaceAuthorizationRule": frozenset({*_COMMON, "authorizationRuleName"}),
    "azure-native:authorization:RoleAssignment": frozenset({"scope", "roleAssignmentName", "principalId"}),
    "azure-native:authorization:ManagementLockByScope": frozenset({"scope", "lockName"}),
}
# Inputs Azure never changes on an existing resource although azure-native plans an update.
AZURE_CREATE_ONLY: dict[str, frozenset[str]] = {
    "azure-native:servicebus:Subscription": frozenset({"requiresSession"}),
    "azure-native:authorization:RoleAssignment": frozenset({"roleDefinitionId"}),
}
# Inputs azure-native compares loosely (diff.go, applyAzureSpecificDiff), and keys that are not inputs
# of the program (state bookkeeping: `__createBeforeDelete`, the API version azure-native v3 records).
_CASE_INSENSITIVE = frozenset({"resourceGroupName"})
_IGNORED = frozenset({"azureApiVersion"})


class ChangeKind(StrEnum):
    """What the update does to one resource, with the symbol ``pulumi preview`` prints for it."""

    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"
    SAME = "same"

    @property
    def symbol(self) -> str:
        """``+``, ``~``, ``+-``, ``-`` or a blank, as the CLI marks its plan."""
        return {"create": "+", "update": "~", "replace": "+-", "delete": "-", "same": " "}[self.value]


@dataclass(frozen=True)
class ResourceState:
    """A custom resource as a deployment knows it: enough to diff and to judge a change."""

    urn: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    id: str | None = None
    parent: str | None = None
    protect: bool = False
    custom: bool = True
    aliases: tuple[str, ...] = ()
    """Former URNs of this resource (``aliases`` option): the engine matches old state by them too."""

    @classmethod
    def from_recorded(cls, resource: RecordedResource) -> ResourceState:
        """From a program run under the mock runtime."""
        return cls(
            resource.urn,
            resource.type,
            resource.name,
            resource.inputs,
            resource.id,
            resource.parent,
            resource.protect,
            resource.custom,
            resource.aliases,
        )

    @classmethod
    def from_export(cls, resource: Mapping[str, Any]) -> ResourceState:
        """From one entry of ``pulumi stack export`` (apitype ``ResourceV3``)."""
        urn = str(resource["urn"])
        return cls(
            urn,
            str(resource["type"]),
            urn.rsplit("::", 1)[-1],
            dict(resource.get("inputs") or {}),
            resource.get("id") or None,
            resource.get("parent") or None,
            bool(resource.get("protect", False)),
            bool(resource.get("custom", False)),
        )


@dataclass(frozen=True)
class PropertyChange:
    """One top-level input that differs."""

    key: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ResourceChange:
    """One resource's fate in the update."""

    kind: ChangeKind
    urn: str
    type: str
    name: str
    properties: tuple[PropertyChange, ...] = ()
    replace_keys: tuple[str, ...] = ()
    """The inputs that force the replacement (ARM path, ForceNew, or create-only in Azure)."""
    base: ResourceState | None = None
    head: ResourceState | None = None

    @property
    def state(self) -> ResourceState:
        """The head state, or the base one for a delete."""
        state = self.head or self.base
        assert state is not None
        return state


@dataclass(frozen=True)
class StackChanges:
    """Every resource change of one stack, in a stable order (deletes last, like the engine runs them)."""

    base_label: str
    changes: tuple[ResourceChange, ...] = field(default_factory=tuple)

    def of_kind(self, *kinds: ChangeKind) -> list[ResourceChange]:
        """The changes of the given kinds."""
        return [change for change in self.changes if change.kind in kinds]

    def counts(self) -> dict[ChangeKind, int]:
        """How many resources each kind touches (``same`` included)."""
        return {kind: len(self.of_kind(kind)) for kind in ChangeKind}


def custom_resources(resources: Iterable[ResourceState]) -> list[ResourceState]:
    """What a diff compares: custom resources, not components, providers or the root stack."""
    return [r for r in resources if r.custom and r.type != STACK_TYPE and not r.type.startswith("pulumi:providers:")]


def diff(base: Sequence[ResourceState], head: Sequence[ResourceState], base_label: str) -> StackChanges:
    """Compare two deployments of one stack by URN."""
    old = {r.urn: r for r in custom_resources(base)}
    new = {r.urn: r for r in custom_resources(head)}
    matched: set[str] = set()
    changes = []
    for urn, state in new.items():
        # The engine looks up old state by URN, then by each alias (step_generator.go, getOldResource).
        previous = next((u for u in (urn, *state.aliases) if u in old and u not in matched), None)
        if previous is not None:
            matched.add(previous)
        changes.append(_compare(old.get(previous) if previous else None, state))
    changes += [
        ResourceChange(ChangeKind.DELETE, urn, state.type, state.name, base=state)
        for urn, state in old.items()
        if urn not in matched
    ]
    return StackChanges(base_label, tuple(sorted(changes, key=lambda c: (c.kind is ChangeKind.DELETE, c.urn))))


def _compare(base: ResourceState | None, head: ResourceState) -> ResourceChange:
    if base is None:
        return ResourceChange(ChangeKind.CREATE, head.urn, head.type, head.name, head=head)
    properties = tuple(
        PropertyChange(key, base.inputs.get(key), head.inputs.get(key))
        for key in sorted(set(base.inputs) | set(head.inputs))
        if not _same(key, base.inputs.get(key), head.inputs.get(key))
    )
    if base.type != head.type:
        replace_keys: tuple[str, ...] = ("type",)
    else:
        forcing = REPLACE_ON_CHANGE.get(head.type, frozenset()) | AZURE_CREATE_ONLY.get(head.type, frozenset())
        replace_keys = tuple(p.key for p in properties if p.key in forcing)
    kind = ChangeKind.REPLACE if replace_keys else ChangeKind.UPDATE if properties else ChangeKind.SAME
    return ResourceChange(kind, head.urn, head.type, head.name, properties, replace_keys, base, head)


def _same(key: str, old: Any, new: Any) -> bool:
    if key.startswith("__") or key in _IGNORED:
        return True
    if key == "location" and isinstance(old, str) and isinstance(new, str):
        return old.replace(" ", "").lower() == new.replace(" ", "").lower()
    if key in _CASE_INSENSITIVE and isinstance(old, str) and isinstance(new, str):
        return old.lower() == new.lower()
    return bool(old == new)


class StateFileError(Exception):
    """A ``--base-state`` file that is not a usable ``pulumi stack export``."""


@dataclass(frozen=True)
class ExportedState:
    """A ``pulumi stack export`` file: the stack it belongs to and its resources."""

    stack: str
    resources: tuple[ResourceState, ...]


def read_stack_export(path: Path, shown: str) -> ExportedState:
    """Read ``pulumi stack export`` output (apitype ``UntypedDeployment``, deployment schema v3 or v4).

    Shape: ``{"version": 3, "deployment": {"resources": [{"urn", "type", "id", "inputs", ...}]}}``
    (pulumi/pulumi ``sdk/go/common/apitype/core.go``). The stack is read from the URNs.
    """
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise StateFileError(f"{shown}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as error:
        raise StateFileError(f"{shown}: not a JSON stack export ({error})") from None
    deployment = document.get("deployment") if isinstance(document, dict) else None
    resources = deployment.get("resources") if isinstance(deployment, dict) else None
    if not isinstance(resources, list) or document.get("version") not in (3, 4):
        raise StateFileError(f"{shown}: not the output of 'pulumi stack export' (deployment version 3 or 4)")
    states = [ResourceState.from_export(r) for r in resources if isinstance(r, dict) and "urn" in r and "type" in r]
    stacks = {state.urn.split("::", 1)[0].removeprefix("urn:pulumi:") for state in states}
    if len(stacks) != 1:
        raise StateFileError(f"{shown}: expected the resources of one stack, found {len(stacks)}")
    return ExportedState(stacks.pop(), tuple(states))
