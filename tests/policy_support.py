"""Helpers for policy tests: judge resources through the real pack, and make variations of them."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from preflight.engine.driver import Diagnostic, PolicyReport, evaluate
from preflight.engine.levels import EnforcementLevel
from preflight.engine.pack import PolicyPackProcess
from preflight.engine.policy_config import PolicyConfig, load_policy_config
from preflight.engine.resources import EngineResource
from tests.support import FIXTURE_LAYOUT, REPO

PACK_DIR = REPO / "policies"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's sentinel for a value unknown during preview
Resources = list[EngineResource]


def judge(
    pack: PolicyPackProcess,
    resources: Resources,
    stack: str = "prod",
    overrides: Mapping[str, Mapping[str, Any] | str] | None = None,
    *,
    only: str | None = None,
) -> PolicyReport:
    """Evaluate with the fixture ``policies/config/<stack>.json``, optionally overriding some policies' entries
    (an enforcement level, or properties with an optional ``enforcementLevel``).

    ``only``: every other policy of the pack is disabled, as a config file can do. A test about one rule
    then pays for that rule alone: the pack skips a disabled policy before converting the resource for it
    (pulumi_policy/policy.py, ``Analyze``), and that conversion, once per enabled policy, is most of the
    pack's time."""
    config = load_policy_config(FIXTURE_LAYOUT.policy_config(stack))
    if only is not None:
        others = [policy.name for policy in pack.info().policies if policy.name != only]
        overrides = {**dict.fromkeys(others, EnforcementLevel.DISABLED.value), **(overrides or {})}
    for name, override in (overrides or {}).items():
        base = config.get(name, PolicyConfig())
        if isinstance(override, str):
            config[name] = PolicyConfig(EnforcementLevel(override), base.properties)
        else:
            properties = dict(override)
            level = properties.pop("enforcementLevel", None)
            config[name] = PolicyConfig(
                EnforcementLevel(level) if level else base.enforcement_level, {**base.properties, **properties}
            )
    return evaluate(pack, resources, config, f"policies/config/{stack}.json")


def hits(report: PolicyReport, policy: str) -> list[Diagnostic]:
    return [d for d in report.diagnostics if d.policy_name == policy]


def configured_level(stack: str, policy: str) -> str:
    """The enforcement level the fixture ``policies/config/<stack>.json`` gives a policy."""
    level = load_policy_config(FIXTURE_LAYOUT.policy_config(stack))[policy].enforcement_level
    assert level is not None
    return level


def matches(resource: EngineResource, type_suffix: str, name: str | None) -> bool:
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
        properties = copy.deepcopy(dict(resource.inputs))
        protect = resource.options.protect
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
        # The planned state: Analyze reads the inputs, AnalyzeStack the outputs (here, the same values).
        changed.append(
            replace(
                resource,
                inputs=properties,
                outputs=copy.deepcopy(properties),
                options=replace(resource.options, protect=protect),
            )
        )
    assert found, f"no {type_suffix} {name or ''} in the resources"
    return changed


def added(resources: Resources, resource: EngineResource) -> Resources:
    return [*resources, resource]


def extra_resource(
    template: EngineResource, type_: str, name: str, properties: dict[str, Any], **deps: list[str]
) -> EngineResource:
    """A new resource beside ``template`` (same parent), with property dependencies by key."""
    urn = template.urn.rsplit("::", 2)[0] + f"::{template.urn.split('::')[2].rsplit('$', 1)[0]}${type_}::{name}"
    return EngineResource(
        urn=urn,
        type=type_,
        name=name,
        custom=True,
        inputs=properties,
        outputs=properties,
        parent=template.parent,
        property_dependencies={key: tuple(urns) for key, urns in deps.items()},
        provider=template.provider,
        options=replace(template.options, parent=template.parent),
    )


Mutation = Callable[[Resources], Resources]
