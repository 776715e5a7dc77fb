"""A registered resource as the engine holds it when it asks a policy pack about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"


@dataclass(frozen=True)
class CustomTimeouts:
    """``customTimeouts`` in seconds (the SDK sends Go duration strings; the engine converts them)."""

    create: float = 0.0
    update: float = 0.0
    delete: float = 0.0


@dataclass(frozen=True)
class ResourceOptions:
    """The resource options the engine passes to policies (``AnalyzerResourceOptions``)."""

    protect: bool = False
    ignore_changes: tuple[str, ...] = ()
    delete_before_replace: bool | None = None
    """None when the program did not say (the pack sees ``None``)."""
    additional_secret_outputs: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    """Alias URNs, resolved the way the engine resolves alias specs."""
    custom_timeouts: CustomTimeouts | None = None
    parent: str = ""


@dataclass(frozen=True)
class ProviderReference:
    """A provider reference as the SDK sends it: ``<provider URN>::<provider ID>``."""

    urn: str
    id: str

    @classmethod
    def parse(cls, reference: str) -> ProviderReference | None:
        """Split at the last ``::`` (URNs contain ``::`` themselves); None for an empty reference."""
        if not reference:
            return None
        urn, separator, id_ = reference.rpartition("::")
        return cls(urn, id_) if separator else cls(reference, "")

    @property
    def name(self) -> str:
        """The provider resource's name (the URN's last segment)."""
        return self.urn.rsplit("::", 1)[-1]

    @property
    def type(self) -> str:
        """``pulumi:providers:<package>``."""
        return self.urn.split("::")[2].rsplit("$", 1)[-1] if self.urn.count("::") >= 3 else ""


@dataclass(frozen=True)
class EngineResource:
    """One resource of a deployment, with what the engine knows about it at analysis time."""

    urn: str
    type: str
    name: str
    custom: bool
    inputs: Mapping[str, Any]
    """Inputs as the engine holds them (``preflight.engine.values`` types for unknowns, secrets...)."""
    outputs: Mapping[str, Any]
    """Outputs: in a preview, the inputs echoed and the rest unknown for a resource being created."""
    parent: str = ""
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    provider: ProviderReference | None = None
    options: ResourceOptions = field(default_factory=ResourceOptions)

    @property
    def is_provider(self) -> bool:
        """Whether this is a provider resource (default or explicit)."""
        return self.type.startswith(PROVIDER_TYPE_PREFIX)

    @property
    def is_stack(self) -> bool:
        """Whether this is the deployment's root ``pulumi:pulumi:Stack``."""
        return self.type == STACK_TYPE
