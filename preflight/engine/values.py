"""Property values as the engine holds them between the SDK and a policy pack.

The SDK sends a resource's inputs as a protobuf ``Struct`` in which special objects (unknowns,
secrets, assets, archives, resource references, output values) are encoded with signature keys
(pulumi/pulumi ``sdk/go/common/resource/plugin/rpc.go``, ``sdk/go/common/resource/properties.go``;
the Python SDK's ``pulumi/runtime/rpc.py``). ``decode`` reads that encoding into the small types
below, without rehydrating anything (the SDK's own ``deserialize_properties`` would construct
resource objects, which re-enters the runtime); ``preflight.engine.marshal`` writes them out again
the way the engine marshals them for the Analyzer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

UNKNOWN_SENTINEL = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
SIG_KEY = "4dabf18193072939515e22adb298388d"  # pragma: allowlist secret (a public protocol constant)
ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17"  # pragma: allowlist secret (a public protocol constant)
ARCHIVE_SIG = "0def7320c3a5731c473e5ecbe6d01bc7"  # pragma: allowlist secret (a public protocol constant)
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # pragma: allowlist secret (a public protocol constant)
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"  # pragma: allowlist secret (a public protocol constant)
OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"  # pragma: allowlist secret (a public protocol constant)


class Unknown:
    """A value not known yet (during preview: an output of a resource still to be created)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = Unknown()


@dataclass(frozen=True)
class Secret:
    """A value marked secret."""

    value: Any


@dataclass(frozen=True)
class Asset:
    """An asset (``path``, ``text`` or ``uri``, and its ``hash`` when known)."""

    fields: Mapping[str, Any]


@dataclass(frozen=True)
class Archive:
    """An archive (``path``, ``uri`` or ``assets``, and its ``hash`` when known)."""

    fields: Mapping[str, Any]


@dataclass(frozen=True)
class ResourceReference:
    """A reference to another resource: its URN, and its ID when it is a custom resource."""

    urn: str
    id: Any = None
    """The ID (a string, ``UNKNOWN`` while it is being created), or None for a component."""
    package_version: str = ""


@dataclass(frozen=True)
class OutputValue:
    """An output value with its own secretness and dependencies (the SDK's first-class outputs)."""

    value: Any
    secret: bool = False
    dependencies: tuple[str, ...] = field(default_factory=tuple)


def decode(struct: Mapping[str, Any]) -> dict[str, Any]:
    """A property map from the SDK's wire encoding (a ``Struct`` converted to plain Python)."""
    return {key: decode_value(value) for key, value in struct.items()}


def decode_value(value: Any) -> Any:
    """One property value from the SDK's wire encoding."""
    if isinstance(value, str):
        return UNKNOWN if value == UNKNOWN_SENTINEL else value
    if isinstance(value, list):
        return [decode_value(item) for item in value]
    if not isinstance(value, Mapping):
        return value
    signature = value.get(SIG_KEY)
    if signature is None:
        return decode(value)
    fields = {key: item for key, item in value.items() if key != SIG_KEY}
    if signature == SECRET_SIG:
        return Secret(decode_value(fields.get("value")))
    if signature == ASSET_SIG:
        return Asset(fields)
    if signature == ARCHIVE_SIG:
        return Archive({**fields, **({"assets": decode(fields["assets"])} if "assets" in fields else {})})
    if signature == RESOURCE_SIG:
        # An empty ID is an unknown one (rpc.go UnmarshalPropertyValue: id == "" becomes computed).
        id_ = decode_value(fields["id"]) if "id" in fields else None
        return ResourceReference(
            str(fields.get("urn", "")), UNKNOWN if id_ == "" else id_, str(fields.get("packageVersion", ""))
        )
    if signature == OUTPUT_SIG:
        return OutputValue(
            decode_value(fields["value"]) if "value" in fields else UNKNOWN,
            bool(fields.get("secret", False)),
            tuple(fields.get("dependencies", ())),
        )
    raise ValueError(f"unrecognised signature {signature!r} in a property value")


def plain(value: Any) -> Any:
    """The value with every wrapper removed and unknowns as None: what reports and diffs compare."""
    if isinstance(value, Secret):
        return plain(value.value)
    if isinstance(value, OutputValue):
        return plain(value.value)
    if isinstance(value, Unknown):
        return None
    if isinstance(value, ResourceReference):
        return value.id if isinstance(value.id, str) and value.id else value.urn
    if isinstance(value, Asset | Archive):
        return {key: plain(item) for key, item in value.fields.items()}
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
