"""Helpers for policy tests: judge resources through the real pack, and make variations of them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from preflight.analyzer import (
    AnalyzedResource,
    Diagnostic,
    PolicyConfig,
    PolicyPackProcess,
    PolicyReport,
    load_policy_config,
)
from tests.support import FIXTURE_LAYOUT, REPO

PACK_DIR = REPO / "policies"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for a value unknown during preview
Resources = list[AnalyzedResource]


def judge(
    pack: PolicyPackProcess,
    resources: Resources,
    stack: str = "prod",
    overrides: Mapping[str, Mapping[str, Any] | str] | None = None,
) -> PolicyReport:
    """Evaluate with the fixture ``policies/config/<stack>.json``, optionally overriding some policies' entries
    (an enforcement level, or properties with an optional ``enforcementLevel``)."""
    config = load_policy_config(FIXTURE_LAYOUT.policy_config(stack))
    for name, override in (overrides or {}).items():
        base = config.get(name, PolicyConfig())
        if isinstance(override, str):
            config[name] = PolicyConfig(override, base.properties)
        else:
            properties = dict(override)
            level = properties.pop("enforcementLevel", None)
            config[name] = PolicyConfig(level or base.enforcement_level, {**base.properties, **properties})
    return pack.evaluate(resources, config, f"policies/config/{stack}.json")


def hits(report: PolicyReport, policy: str) -> list[Diagnostic]:
    return [d for d in report.diagnostics if d.policy_name == policy]


def configured_level(stack: str, policy: str) -> str:
    """The enforcement level the fixture ``policies/config/<stack>.json`` gives a policy."""
    level = load_policy_config(FIXTURE_LAYOUT.policy_config(stack))[policy].enforcement_level
    assert level is not None
    return level


def matches(resource: AnalyzedResource, type_suffix: str, name: str | None) -> bool:
    return resource.type.endswith(f":{type_suffix}") and (name is None or resource.name == name)


def change(
    resources: Resources, type_suffix: str, name: str | None = None, *, drop: bool = False, **updates: Any
) -> Resources:
    """A copy of ``resources`` where matching resources get property ``updates`` (``a__b`` for
    nested keys; the value ``...`` deletes the key) or, with ``drop``, are removed."""
    changed: Resources = []
    found = False
    for resource in resources:
        if not matches(resource, type_suffix, name):
            changed.append(resource)
            continue
        found = True
        if drop:
            continue
        properties = copy.deepcopy(dict(resource.properties))
        protect = resource.protect
        for key, value in updates.items():
            if key == "protect":
                protect = bool(value)
                continue
            *parents, leaf = key.split("__")
            target = properties
            for parent in parents:
                target = target.setdefault(parent, {})
            if value is ...:
                target.pop(leaf, None)
            else:
                target[leaf] = value
        changed.append(replace(resource, properties=properties, protect=protect))
    assert found, f"no {type_suffix} {name or ''} in the resources"
    return changed


def added(resources: Resources, resource: AnalyzedResource) -> Resources:
    return [*resources, resource]


def extra_resource(
    template: AnalyzedResource, type_: str, name: str, properties: dict[str, Any], **deps: list[str]
) -> AnalyzedResource:
    """A new resource beside ``template`` (same parent), with property dependencies by key."""
    urn = template.urn.rsplit("::", 2)[0] + f"::{template.urn.split('::')[2].rsplit('$', 1)[0]}${type_}::{name}"
    return AnalyzedResource(
        urn=urn,
        type=type_,
        name=name,
        properties=properties,
        parent=template.parent,
        property_dependencies=deps,
    )


Mutation = Callable[[Resources], Resources]
