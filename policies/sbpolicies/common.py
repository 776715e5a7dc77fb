"""Shared helpers for the rules: type matching, safe property access, durations, policy metadata.

The pack is self-contained (the engine runs it from ``policies/`` in its own virtualenv), so it
does not import the program's modules: it judges what the program produced, not what it meant.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

T = TypeVar("T")
ResourceCheck = Callable[[ResourceValidationArgs, ReportViolation], None]
StackCheck = Callable[[StackValidationArgs, ReportViolation], None]

# Built-in role definition GUIDs (Microsoft "Azure built-in roles").
DATA_OWNER = "090c5cfd-751d-490a-894a-3ce6f1109419"
DATA_SENDER = "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
DATA_RECEIVER = "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
CONTRIBUTOR = "b24988ac-6180-42a0-ab88-20f7382dd24c"
ROLE_NAMES = {
    DATA_OWNER: "Azure Service Bus Data Owner",
    DATA_SENDER: "Azure Service Bus Data Sender",
    DATA_RECEIVER: "Azure Service Bus Data Receiver",
    OWNER: "Owner",
    CONTRIBUTOR: "Contributor",
}


def is_type(resource_type: str, module: str, kind: str) -> bool:
    """True for ``azure-native:<module>:<kind>`` and its versioned aliases (``.../v20240101:...``)."""
    return re.fullmatch(rf"azure-native:{module}(?:/v[0-9a-z]+)?:{kind}", resource_type) is not None


def value_at(props: Mapping[str, Any], *path: str) -> Any:
    """The value at a property path, or None when any step is missing.

    An unknown value (preview) raises ``UnknownValueError``; the SDK turns that into an advisory
    "can't run policy during preview" diagnostic instead of a verdict.
    """
    current: Any = props
    for key in path:
        if not isinstance(current, Mapping) or key not in current:
            return None
        current = current[key]
    return current


def known_value(props: Mapping[str, Any], *path: str) -> tuple[bool, Any]:
    """``(True, value)`` when the value is known (possibly None), ``(False, None)`` when unknown."""
    try:
        return True, value_at(props, *path)
    except UnknownValueError:
        return False, None


def show(value: Any) -> str:
    """A property value for a message; protobuf carries every number as a float, so 3.0 reads 3."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def label(kind: str, logical_name: str, props: Mapping[str, Any], name_key: str | None = None) -> str:
    """``Namespace 'sbns-x' (logical-name)``: how violation messages name a resource."""
    azure_name = None
    if name_key:
        ok, value = known_value(props, name_key)
        azure_name = value if ok and isinstance(value, str) else None
    return f"{kind} '{azure_name}' ({logical_name})" if azure_name else f"{kind} '{logical_name}'"


_DURATION = re.compile(
    r"^P(?:(?P<days>\d+)D)?(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta | None:
    """An ISO 8601 duration of days and time (the form Azure uses), or None if it is not one."""
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    parts = {key: float(value) for key, value in match.groupdict().items() if value}
    return timedelta(**parts)


def references(resource: PolicyResource, key: str, target: PolicyResource, target_name_keys: Iterable[str]) -> bool:
    """Whether ``resource.props[key]`` points at ``target``: by property dependency, else by name.

    During a real preview a new resource's name or ID is unknown, but the engine still reports the
    property dependency, so that is checked first.
    """
    if depends_on(resource, key, target):
        return True
    ok, value = known_value(resource.props, key)
    if not ok or not isinstance(value, str):
        return False
    for name_key in target_name_keys:
        target_ok, target_value = known_value(target.props, name_key)
        if target_ok and isinstance(target_value, str) and target_value.lower() == value.lower():
            return True
    return False


class Referrers:
    """``resources`` indexed once by what their ``key`` property points at, for stack policies that ask
    "which of them reference this target?" for every target: a scan per target made those policies
    quadratic in the stack's size (2,005 resources at 500 services).

    ``of(target, target_name_keys)`` is exactly
    ``[r for r in resources if references(r, key, target, target_name_keys)]``, in the same order.
    """

    def __init__(self, resources: Iterable[PolicyResource], key: str) -> None:
        self._resources = list(resources)
        self._by_urn: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        for index, resource in enumerate(self._resources):
            for dep in resource.property_dependencies.get(key, []):
                self._by_urn.setdefault(dep.urn, []).append(index)
            ok, value = known_value(resource.props, key)
            if ok and isinstance(value, str):
                self._by_name.setdefault(value.lower(), []).append(index)

    def of(self, target: PolicyResource, target_name_keys: Iterable[str]) -> list[PolicyResource]:
        found = set(self._by_urn.get(target.urn, ()))
        for name in _known_names(target, target_name_keys):
            found.update(self._by_name.get(name, ()))
        return [self._resources[index] for index in sorted(found)]


class Targets:
    """``targets`` indexed once by URN and by their names, for stack policies that ask "which of them
    does this resource's ``key`` point at?" for every resource (see ``Referrers``).

    ``of(resource, key)`` is exactly ``[t for t in targets if references(resource, key, t, name_keys)]``,
    in the same order.
    """

    def __init__(self, targets: Iterable[PolicyResource], name_keys: Iterable[str]) -> None:
        self._targets = list(targets)
        self._by_urn: dict[str, list[int]] = {}
        self._by_name: dict[str, list[int]] = {}
        keys = tuple(name_keys)
        for index, target in enumerate(self._targets):
            self._by_urn.setdefault(target.urn, []).append(index)
            for name in _known_names(target, keys):
                self._by_name.setdefault(name, []).append(index)

    def of(self, resource: PolicyResource, key: str) -> list[PolicyResource]:
        found: set[int] = set()
        for dep in resource.property_dependencies.get(key, []):
            found.update(self._by_urn.get(dep.urn, ()))
        ok, value = known_value(resource.props, key)
        if ok and isinstance(value, str):
            found.update(self._by_name.get(value.lower(), ()))
        return [self._targets[index] for index in sorted(found)]


def _known_names(target: PolicyResource, name_keys: Iterable[str]) -> set[str]:
    """The target's known string names under ``name_keys``, lower-cased (how ``references`` compares)."""
    names = set()
    for name_key in name_keys:
        ok, value = known_value(target.props, name_key)
        if ok and isinstance(value, str):
            names.add(value.lower())
    return names


def is_list(value: Any) -> bool:
    """A list property (the SDK hands lists to policies as a read-only ``Sequence`` proxy)."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def depends_on(resource: PolicyResource, key: str, target: PolicyResource) -> bool:
    """Whether the engine reports ``resource.props[key]`` as depending on ``target``."""
    return any(dep.urn == target.urn for dep in resource.property_dependencies.get(key, []))


def is_namespace_id(value: Any, namespace: PolicyResource) -> bool:
    """Whether a known ARM ID string is the namespace's ID (compared by its namespace name)."""
    if not isinstance(value, str):
        return False
    ok, name = known_value(namespace.props, "namespaceName")
    if not ok or not isinstance(name, str):
        return False
    return value.lower().rstrip("/").endswith(f"/providers/microsoft.servicebus/namespaces/{name.lower()}")


def points_at_namespace(resource: PolicyResource, key: str, namespace: PolicyResource) -> bool:
    """Whether ``resource.props[key]`` (a string, or a list of them) is the namespace's ID: by property
    dependency first (IDs are unknown during a first preview), else by value."""
    if depends_on(resource, key, namespace):
        return True
    try:
        value = value_at(resource.props, key)
        return any(is_namespace_id(item, namespace) for item in (value if is_list(value) else [value]))
    except UnknownValueError:
        return False


def in_namespace(resource: PolicyResource, namespace: PolicyResource) -> bool:
    """Whether a namespace child (topic, subscription, rule set, DR config) names ``namespace`` in its
    ``namespaceName``: by property dependency, else by the namespace's name."""
    return references(resource, "namespaceName", namespace, ("namespaceName", "name"))


def quietly(check: Callable[..., T], *args: Any, unknown: T) -> T:
    """``check(*args)``, or ``unknown`` when it meets a value unknown during preview."""
    try:
        return check(*args)
    except UnknownValueError:
        return unknown


def namespaces(resources: Iterable[PolicyResource]) -> list[PolicyResource]:
    return [r for r in resources if is_type(r.resource_type, "servicebus", "Namespace")]


def of_type(resources: Iterable[PolicyResource], module: str, kind: str) -> list[PolicyResource]:
    return [r for r in resources if is_type(r.resource_type, module, kind)]


@dataclass(frozen=True)
class Meta:
    """What every rule declares: name, one-sentence description, severity, how to fix, why."""

    name: str
    setting: str
    """The stack setting that decides what the rule checks (``namespace.tier``,
    ``services[].delivery.lockDuration``): a report points at its line in the stack file."""
    description: str
    severity: Severity
    remediation: str
    source: str
    url: str
    enforcement_level: EnforcementLevel | None = None
    anchors: tuple[str, ...] = ()
    """External rule IDs this rule stands in for (``AzurePolicy:cbd11fd3``, ``Checkov:CKV_AZURE_204``,
    ``PSRule:Azure.ServiceBus.MinTLS``, ``APRL:d810e3a8``); policies/README.md's parity table lists each."""

    def tags(self) -> list[str]:
        return [
            f"source:{self.source}",
            f"setting:{self.setting}",
            *(f"anchor:{anchor}" for anchor in self.anchors),
        ]


def schema(properties: dict[str, dict[str, Any]], required: list[str] | None = None) -> PolicyConfigSchema:
    """A policy config schema; every property should carry a ``default`` unless required."""
    return PolicyConfigSchema(properties=properties, required=required)


def _policy_fields(meta: Meta, config: PolicyConfigSchema | None) -> dict[str, Any]:
    return {
        "name": meta.name,
        "description": meta.description,
        "enforcement_level": meta.enforcement_level,
        "config_schema": config,
        "severity": meta.severity,
        "remediation_steps": meta.remediation,
        "url": meta.url,
        "tags": meta.tags(),
    }


def resource_policy(
    meta: Meta, validate: ResourceCheck, config: PolicyConfigSchema | None = None
) -> ResourceValidationPolicy:
    """A resource policy built from its metadata."""
    return ResourceValidationPolicy(validate=validate, **_policy_fields(meta, config))


def stack_policy(meta: Meta, validate: StackCheck, config: PolicyConfigSchema | None = None) -> StackValidationPolicy:
    """A stack policy built from its metadata."""
    return StackValidationPolicy(validate=validate, **_policy_fields(meta, config))


ENVIRONMENT_PROPERTY: dict[str, Any] = {
    "type": "string",
    "pattern": "^[a-z][a-z0-9]{1,9}$",
    "description": "The environment (stack) this configuration judges, e.g. dev or prod.",
}
