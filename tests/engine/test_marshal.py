"""The engine's marshalling rules for the Analyzer, one by one (pulumi/pulumi sdk/go/common/resource/plugin/rpc.go
MarshalProperties/MarshalPropertyValue with KeepUnknowns, KeepSecrets, SkipInternalKeys; analyzer_plugin.go)."""

from __future__ import annotations

from google.protobuf import json_format

from preflight.engine import marshal
from preflight.engine.levels import EnforcementLevel
from preflight.engine.policy_config import PolicyConfig, validate
from preflight.engine.resources import EngineResource, ProviderReference
from preflight.engine.values import (
    RESOURCE_SIG,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN,
    UNKNOWN_SENTINEL,
    OutputValue,
    ResourceReference,
    Secret,
    decode,
)


def wire(values: dict[str, object], **options: bool) -> dict[str, object]:
    document: dict[str, object] = json_format.MessageToDict(marshal.properties(values, **options))
    return document


def test_only_top_level_internal_keys_are_skipped_and_remediate_keeps_them() -> None:
    values = {"__internal": 1, "nested": {"__kept": 2}, "plain": 3}
    assert wire(values) == {"nested": {"__kept": 2.0}, "plain": 3.0}
    assert "__internal" in wire(values, skip_internal_keys=False)


def test_unknowns_secrets_references_and_output_values() -> None:
    values = {
        "unknown": UNKNOWN,
        "secret": Secret("s"),
        "custom": ResourceReference("urn:a", "id-a"),
        "component": ResourceReference("urn:b", None),
        "pending": ResourceReference("urn:c", UNKNOWN),
        "output": OutputValue("v", secret=True),
        "unknownOutput": OutputValue(UNKNOWN),
    }
    assert wire(values) == {
        "unknown": UNKNOWN_SENTINEL,
        "secret": {SIG_KEY: SECRET_SIG, "value": "s"},
        "custom": "id-a",
        "component": "urn:b",
        "pending": UNKNOWN_SENTINEL,
        "output": {SIG_KEY: SECRET_SIG, "value": "v"},
        "unknownOutput": UNKNOWN_SENTINEL,
    }


def test_the_sdk_wire_form_decodes_without_rehydrating_anything() -> None:
    decoded = decode({"a": UNKNOWN_SENTINEL, "b": {SIG_KEY: SECRET_SIG, "value": [1, UNKNOWN_SENTINEL]}})
    assert decoded == {"a": UNKNOWN, "b": Secret([1, UNKNOWN])}


def test_property_dependencies_without_urns_are_dropped_and_the_provider_id_is_not_sent() -> None:
    provider = EngineResource("urn:p::pulumi:providers:x::default", "pulumi:providers:x", "default", True, {}, {})
    resource = EngineResource(
        "urn:r",
        "x:index:R",
        "r",
        True,
        {"a": 1},
        {"a": 1},
        property_dependencies={"a": ("urn:q",), "b": ()},
        provider=ProviderReference.parse("urn:p::pulumi:providers:x::default::the-id"),
    )
    message = marshal.stack_resource(resource, {provider.urn: provider})
    assert dict(message.propertyDependencies).keys() == {"a"}
    assert message.provider.urn == "urn:p::pulumi:providers:x::default"
    assert (message.provider.type, message.provider.name) == ("pulumi:providers:x", "default")
    assert message.options.HasField("customTimeouts")  # always set, zero when not given
    assert (
        marshal.analyze_request(EngineResource("urn:c", "x:index:C", "c", False, {}, {}), {}).HasField("provider")
        is False
    )


def test_a_reference_with_an_empty_id_is_an_unknown_one() -> None:
    # rpc.go UnmarshalPropertyValue: a resource reference whose id is "" is computed.
    decoded = decode({"r": {SIG_KEY: RESOURCE_SIG, "urn": "urn:x", "id": ""}})
    assert decoded == {"r": ResourceReference("urn:x", UNKNOWN)}
    assert wire(decoded) == {"r": UNKNOWN_SENTINEL}


def test_required_errors_name_each_missing_key_as_gojsonschema_does() -> None:
    config = {"p": PolicyConfig(EnforcementLevel.ADVISORY, {})}
    lines = validate(
        "p", {"properties": {"a": {"type": "string"}, "b": {"type": "string"}}, "required": ["a", "b"]}, config
    )
    assert sorted(lines) == ["p: a is required", "p: b is required"]
