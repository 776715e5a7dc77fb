"""Resources as the Analyzer protocol's protobuf messages, marshalled the way the engine does.

pulumi/pulumi ``sdk/go/common/resource/plugin/analyzer_plugin.go``: ``Analyze``, ``AnalyzeStack`` and
the provider's properties use ``MarshalOptions{KeepUnknowns: true, KeepSecrets: true,
SkipInternalKeys: true}``; ``Remediate`` the same without ``SkipInternalKeys``. Hence
(``sdk/go/common/resource/plugin/rpc.go``, ``MarshalProperties``/``MarshalPropertyValue``):

- unknowns are sent as the string sentinel ``04da6b54-...`` (what the pack's proxy turns into
  "can't run policy during preview");
- secrets keep their secret signature;
- only *top-level* keys starting with ``__`` are dropped;
- assets and archives keep their signature and fields;
- a resource reference is downgraded (``KeepResources`` is false) to its ID, or its URN when it has
  no ID (a component);
- an output value becomes its element (unknown when not known, secret when secret).

``marshalResourceOptions`` and ``marshalProvider`` in the same file give the options and provider.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from google.protobuf import struct_pb2
from pulumi.runtime.proto import analyzer_pb2

from preflight.engine.resources import EngineResource, ProviderReference, ResourceOptions
from preflight.engine.values import (
    ARCHIVE_SIG,
    ASSET_SIG,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN_SENTINEL,
    Archive,
    Asset,
    OutputValue,
    ResourceReference,
    Secret,
    Unknown,
)


def properties(values: Mapping[str, Any], *, skip_internal_keys: bool = True) -> struct_pb2.Struct:
    """A property map as the engine marshals it for a policy pack."""
    struct = struct_pb2.Struct()
    struct.update(
        {
            key: wire_value(value)
            for key, value in sorted(values.items())
            if not (skip_internal_keys and key.startswith("__"))
        }
    )
    return struct


def wire_value(value: Any) -> Any:
    """One property value in the JSON-like wire form (``Struct`` fields)."""
    if isinstance(value, Unknown):
        return UNKNOWN_SENTINEL
    if isinstance(value, Secret):
        return {SIG_KEY: SECRET_SIG, "value": wire_value(value.value)}
    if isinstance(value, OutputValue):
        element = value.value
        return wire_value(Secret(element) if value.secret else element)
    if isinstance(value, ResourceReference):
        return wire_value(value.id) if value.id is not None else value.urn
    if isinstance(value, Asset):
        return {SIG_KEY: ASSET_SIG, **{key: wire_value(item) for key, item in value.fields.items()}}
    if isinstance(value, Archive):
        return {SIG_KEY: ARCHIVE_SIG, **{key: wire_value(item) for key, item in value.fields.items()}}
    if isinstance(value, Mapping):
        return {str(key): wire_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [wire_value(item) for item in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"cannot marshal a {type(value).__name__} property value")


def options(opts: ResourceOptions) -> analyzer_pb2.AnalyzerResourceOptions:
    """``marshalResourceOptions``: every option field, ``customTimeouts`` always present."""
    timeouts = opts.custom_timeouts
    return analyzer_pb2.AnalyzerResourceOptions(
        protect=opts.protect,
        ignoreChanges=list(opts.ignore_changes),
        deleteBeforeReplace=bool(opts.delete_before_replace),
        deleteBeforeReplaceDefined=opts.delete_before_replace is not None,
        additionalSecretOutputs=list(opts.additional_secret_outputs),
        aliases=list(opts.aliases),
        customTimeouts=analyzer_pb2.AnalyzerResourceOptions.CustomTimeouts(
            create=timeouts.create if timeouts else 0.0,
            update=timeouts.update if timeouts else 0.0,
            delete=timeouts.delete if timeouts else 0.0,
        ),
        parent=opts.parent,
    )


def provider(
    reference: ProviderReference | None, providers: Mapping[str, EngineResource]
) -> analyzer_pb2.AnalyzerProviderResource | None:
    """``marshalProvider``: the provider's URN (without its ID), type, name and input properties.

    None (an unset message) for components, which have no provider.
    """
    if reference is None:
        return None
    resource = providers.get(reference.urn)
    return analyzer_pb2.AnalyzerProviderResource(
        urn=reference.urn,
        type=resource.type if resource else reference.type,
        name=resource.name if resource else reference.name,
        properties=properties(resource.inputs if resource else {}),
    )


def analyze_request(
    resource: EngineResource, providers: Mapping[str, EngineResource], *, remediate: bool = False
) -> analyzer_pb2.AnalyzeRequest:
    """``AnalyzeRequest`` for ``Analyze`` (or ``Remediate``, which keeps internal keys) on the inputs."""
    return analyzer_pb2.AnalyzeRequest(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        properties=properties(resource.inputs, skip_internal_keys=not remediate),
        options=options(resource.options),
        provider=provider(resource.provider, providers),
    )


def stack_resource(resource: EngineResource, providers: Mapping[str, EngineResource]) -> analyzer_pb2.AnalyzerResource:
    """``AnalyzerResource`` for ``AnalyzeStack``: the outputs, parent, dependencies, property dependencies."""
    message = analyzer_pb2.AnalyzerResource(
        urn=resource.urn,
        type=resource.type,
        name=resource.name,
        properties=properties(resource.outputs),
        options=options(resource.options),
        provider=provider(resource.provider, providers),
        parent=resource.parent,
        dependencies=list(resource.dependencies),
    )
    for key, urns in resource.property_dependencies.items():
        if urns:  # "Skip properties that have no dependencies."
            message.propertyDependencies[key].urns.extend(urns)
    return message
