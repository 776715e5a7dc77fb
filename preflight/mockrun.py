"""Run a real Pulumi program in process under Pulumi's mock runtime and record what the engine would see.

The SDK's ``Mocks.new_resource`` sees only type, name and inputs, so options such as ``protect``,
the parent and dependencies are captured at the monitor (``RegisterResourceRequest``). The monitor
also records what the engine itself adds around a program: the root ``pulumi:pulumi:Stack`` (with the
stack outputs as its outputs) and a default provider per package (inputs: the package's stack config
and its version). URNs are built the way the engine builds them (parent type chain joined with ``$``,
root stack excluded), not the way the SDK's mock monitor does; see docs/pulumi-offline.md and
docs/engine-parity.md.

Two phases, as the engine has them: ``PREVIEW`` (a dry run: a created resource's ID and every output
that is not an echoed input are unknown, as azure-native's and the engine's preview answer) and
``UPDATE`` (the mocks answer the way Azure would, so outputs are known).

Pulumi's runtime state is process-global (context variables plus one settings object), so each
run happens in a fresh ``contextvars.Context`` on a fresh event loop: nothing leaks between runs,
and the event loops the SDK opens in its worker threads are closed at the end of the run.
"""

from __future__ import annotations

import asyncio
import contextvars
import runpy
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.settings import ROOT, SETTINGS, get_root_resource
from pulumi.runtime.stack import wait_for_rpcs

from preflight.engine.resources import STACK_TYPE, CustomTimeouts, ResourceOptions
from preflight.engine.values import UNKNOWN, UNKNOWN_SENTINEL, Secret, decode, plain
from settings.naming import fully_qualified_namespace

MOCK_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT_ID = "11111111-1111-1111-1111-111111111111"

# azure-native input that carries each resource's Azure name, and the ARM path segment under its
# parent. Enough to answer like Azure where outputs matter (IDs, names, the namespace endpoint).
_ARM_SHAPES: dict[str, tuple[str, str]] = {
    "azure-native:resources:ResourceGroup": ("resourceGroupName", "resourceGroups"),
    "azure-native:servicebus:Namespace": ("namespaceName", "providers/Microsoft.ServiceBus/namespaces"),
    "azure-native:servicebus:Topic": ("topicName", "topics"),
    "azure-native:servicebus:Subscription": ("subscriptionName", "subscriptions"),
    "azure-native:servicebus:Rule": ("ruleName", "rules"),
    "azure-native:servicebus:DefaultRule": ("", "rules"),
    "azure-native:servicebus:TopicAuthorizationRule": ("authorizationRuleName", "authorizationRules"),
    "azure-native:servicebus:NamespaceAuthorizationRule": ("authorizationRuleName", "authorizationRules"),
    "azure-native:authorization:RoleAssignment": (
        "roleAssignmentName",
        "providers/Microsoft.Authorization/roleAssignments",
    ),
    "azure-native:authorization:ManagementLockByScope": (
        "lockName",
        "providers/Microsoft.Authorization/locks",
    ),
    "azure-native:servicebus:NamespaceNetworkRuleSet": ("", "networkRuleSets"),
    "azure-native:network:PrivateEndpoint": ("privateEndpointName", "providers/Microsoft.Network/privateEndpoints"),
    "azure-native:network:PrivateDnsZoneGroup": ("privateDnsZoneGroupName", "privateDnsZoneGroups"),
    "azure-native:privatedns:PrivateZone": ("privateZoneName", "providers/Microsoft.Network/privateDnsZones"),
    "azure-native:privatedns:VirtualNetworkLink": ("virtualNetworkLinkName", "virtualNetworkLinks"),
    "azure-native:operationalinsights:Workspace": (
        "workspaceName",
        "providers/Microsoft.OperationalInsights/workspaces",
    ),
    "azure-native:monitor:DiagnosticSetting": ("name", "providers/Microsoft.Insights/diagnosticSettings"),
    "azure-native:monitor:MetricAlert": ("ruleName", "providers/Microsoft.Insights/metricAlerts"),
    "azure-native:managedidentity:UserAssignedIdentity": (
        "resourceName",
        "providers/Microsoft.ManagedIdentity/userAssignedIdentities",
    ),
}


class Phase(StrEnum):
    """Which engine operation the run stands for."""

    PREVIEW = "preview"
    UPDATE = "update"


class ProgramError(Exception):
    """The program failed under the mock runtime (bad config surfaces as ``pulumi.RunError``)."""


@dataclass(frozen=True)
class RecordedResource:
    """One registration, as the engine would have seen it.

    ``inputs`` and ``outputs`` are plain values (unknowns as None, secrets unwrapped) for reports and
    diffs; ``raw_inputs`` and ``raw_outputs`` keep unknowns, secrets and assets
    (``preflight.engine.values``) for the policy pack.
    """

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str | None
    provider: str
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    options: ResourceOptions = field(default_factory=ResourceOptions)
    """The options as the engine sends them to policies (aliases: none, as in a first deployment)."""
    aliases: tuple[str, ...] = ()
    """Every alias the program declares, resolved to a URN: what a change against a base must follow."""
    raw_inputs: dict[str, Any] = field(default_factory=dict)
    raw_outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def protect(self) -> bool:
        """The ``protect`` option."""
        return self.options.protect

    @property
    def engine_added(self) -> bool:
        """The root stack or a default provider: registered by the engine, not by the program."""
        return self.type == STACK_TYPE or (self.type.startswith("pulumi:providers:") and "::default" in self.urn)


@dataclass(frozen=True)
class ProgramRun:
    """Everything one program run registered, in registration order, plus its stack outputs."""

    project: str
    stack: str
    resources: tuple[RecordedResource, ...]
    """What the program registered (not the root stack, not default providers)."""
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]
    registered: tuple[RecordedResource, ...] = ()
    """Every resource the engine would hold, root stack and default providers included, in order."""
    phase: Phase = Phase.UPDATE

    @property
    def stack_urn(self) -> str:
        """The URN of the root ``pulumi:pulumi:Stack`` resource."""
        return stack_urn(self.project, self.stack)

    def of_type(self, type_: str) -> list[RecordedResource]:
        """Resources of one type token, in registration order."""
        return [resource for resource in self.resources if resource.type == type_]

    def by_urn(self, urn: str) -> RecordedResource:
        """The resource with this URN."""
        return next(resource for resource in self.registered or self.resources if resource.urn == urn)


def stack_urn(project: str, stack: str) -> str:
    """The engine's URN of a stack's root resource."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


class EchoMocks(pulumi.runtime.Mocks):
    """Answers any provider the way the engine does for a provider it cannot ask.

    In a preview the state is the inputs and the ID unknown (pulumi/pulumi
    ``sdk/go/common/resource/plugin/provider_plugin.go``, ``Create``: "If the provider does not support
    previews, return the inputs as the state"); in an update, the inputs and a made-up ID. Invokes
    answer with nothing.
    """

    def __init__(self, phase: Phase = Phase.PREVIEW) -> None:
        self.phase = phase

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom or self.phase is Phase.PREVIEW:
            return None, dict(args.inputs)
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


class AzureMocks(pulumi.runtime.Mocks):
    """Answers registrations and invokes the way Azure would, where the program reads the result.

    In a preview a created resource answers like azure-native's ``Create`` with ``preview``: inputs
    echoed, every other output (``name``, ``id``, endpoints) unknown (pulumi-azure-native
    ``provider/pkg/provider/provider.go``, ``Create``: ``PreviewOutputs``). Invokes answer in both
    phases, as they do in a real preview.
    """

    def __init__(self, subscription_id: str = MOCK_SUBSCRIPTION_ID, phase: Phase = Phase.UPDATE) -> None:
        self._subscription_id = subscription_id
        self.phase = phase

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom or self.phase is Phase.PREVIEW:
            return None, dict(args.inputs)
        azure_name = self._azure_name(args.typ, args.name, args.inputs)
        resource_id = self._arm_id(args.typ, azure_name, args.inputs, self._subscription_id)
        state = {**args.inputs, "name": azure_name, "id": resource_id}
        if args.typ == "azure-native:servicebus:Namespace":
            state["serviceBusEndpoint"] = f"https://{fully_qualified_namespace(azure_name)}:443/"
        if args.typ == "azure-native:managedidentity:UserAssignedIdentity":
            # Entra assigns these on create; stable per identity so runs compare equal.
            state["principalId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}#principal"))
            state["clientId"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{resource_id}#client"))
            state["tenantId"] = MOCK_TENANT_ID
        identity = state.get("identity")
        if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
            # ARM takes user-assigned identities as a list of IDs and answers with a map of ID to
            # details (azure-native's ManagedServiceIdentityResponse); the SDK reads the answer as a map.
            state["identity"] = {
                **identity,
                "userAssignedIdentities": {i: {} for i in identity["userAssignedIdentities"]},
            }
        return resource_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "azure-native:authorization:getClientConfig":
            return {
                "subscriptionId": self._subscription_id,
                "tenantId": MOCK_TENANT_ID,
                "clientId": "mock-client",
                "objectId": "mock-object",
            }, []
        return {}, []

    @staticmethod
    def _azure_name(type_: str, logical_name: str, inputs: Mapping[str, Any]) -> str:
        if type_ == "azure-native:servicebus:DefaultRule":
            return "$Default"
        name_input, _ = _ARM_SHAPES.get(type_, ("", ""))
        value = inputs.get(name_input) if name_input else None
        return value if isinstance(value, str) else logical_name

    @staticmethod
    def _arm_id(type_: str, azure_name: str, inputs: Mapping[str, Any], subscription_id: str) -> str:
        subscription = f"/subscriptions/{subscription_id}"
        group = f"{subscription}/resourceGroups/{inputs.get('resourceGroupName', 'unknown')}"
        _, segment = _ARM_SHAPES.get(type_, ("", f"providers/mock/{type_.replace(':', '.')}"))
        if type_ == "azure-native:resources:ResourceGroup":
            return f"{subscription}/resourceGroups/{azure_name}"
        if "scope" in inputs:
            return f"{inputs['scope']}/{segment}/{azure_name}"
        path = group
        if "namespaceName" in inputs and type_ != "azure-native:servicebus:Namespace":
            path += f"/providers/Microsoft.ServiceBus/namespaces/{inputs['namespaceName']}"
        if "topicName" in inputs and type_ != "azure-native:servicebus:Topic":
            path += f"/topics/{inputs['topicName']}"
        if "subscriptionName" in inputs and type_ != "azure-native:servicebus:Subscription":
            path += f"/subscriptions/{inputs['subscriptionName']}"
        return f"{path}/{segment}/{azure_name}"


class DuplicateUrnError(ProgramError):
    """Two registrations with one URN, which the engine refuses."""


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that builds engine-style URNs and keeps what the engine would hold.

    Each registration's inputs are read once, by the SDK's own mock monitor; the record decodes the
    wire form itself (``preflight.engine.values.decode``) instead of deserialising a second time,
    which rehydrates resource references and hangs when a resource is another's input.
    """

    def __init__(
        self,
        mocks_: pulumi.runtime.Mocks,
        config: Mapping[str, str],
        project: str,
        stack: str,
        on_record: Callable[[RecordedResource], None] | None = None,
        secret_keys: Sequence[str] = (),
    ) -> None:
        super().__init__(mocks_)
        self.recorded: list[RecordedResource] = []
        self._index: dict[str, int] = {}
        self._urns: set[str] = set()
        self._secret_keys = frozenset(secret_keys)
        self._on_record = on_record
        self._config = dict(config)
        self._project, self._stack = project, stack
        self._default_providers: set[str] = set()
        self._loops: list[asyncio.AbstractEventLoop] = []
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{self._stack}::{self._project}::{qualified}::{name}"

    def _alias_urn(self, alias: Any, request: Any) -> str:
        """An alias as the engine resolves it: a URN, or a spec whose blanks are the resource's own values."""
        if alias.urn:
            return str(alias.urn)
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)

    def _thread_loop(self) -> None:
        """Give a worker thread the event loop the SDK wants, one we can close at the end of the run."""
        try:
            asyncio.get_event_loop_policy().get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            with self._lock:
                self._loops.append(loop)

    def close_loops(self) -> None:
        """Close the event loops opened in worker threads."""
        with self._lock:
            loops, self._loops = self._loops, []
        for loop in loops:
            loop.close()

    def Invoke(self, request: Any) -> Any:  # noqa: N802 - the SDK's gRPC method name
        self._thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 - the SDK's gRPC method name
        self._thread_loop()
        return super().ReadResource(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the SDK's gRPC method name
        self._thread_loop()
        urn = self.make_urn(request.parent, request.type, request.name)
        with self._lock:  # checked and reserved at once: two registrations can arrive together
            known = urn in self._urns
            self._urns.add(urn)
        if known:
            # pulumi/pulumi pkg/engine/lifecycletest/testdata/output/TestDuplicateURN/diff.stderr.txt
            message = f"Duplicate resource URN '{urn}'; try giving it a unique name"
            self.errors.append(message)
            raise DuplicateUrnError(message)
        if request.type == STACK_TYPE:
            self._record(request, urn, None, {})
            return resource_pb2.RegisterResourceResponse(urn=urn)
        if request.custom and not request.provider and not request.type.startswith("pulumi:providers:"):
            self._default_provider(request)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        registration = self.resources.pop(response.urn)
        self.resources[urn] = registration
        state = decode(json_format.MessageToDict(response.object))
        self._record(request, urn, response.id or None, state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=response.id, object=response.object)

    def _default_provider(self, request: Any) -> None:
        """Register the package's default provider the first time a resource needs it, as the engine does
        (pulumi/pulumi ``pkg/resource/deploy/default_providers.go``, ``newRegisterDefaultProviderEvent``)."""
        package = request.type.split(":", 1)[0]
        reference = default_provider_urn(self._project, self._stack, package, request.version)
        # The package's stack config, secrets kept secret (pkg/resource/deploy/target.go GetPackageConfig);
        # the version and its __internal marker only when the SDK named a version (providers/registry.go).
        inputs: dict[str, Any] = {
            key.split(":", 1)[1]: Secret(value) if key in self._secret_keys else value
            for key, value in sorted(self._config.items())
            if key.split(":", 1)[0] == package
        }
        if request.version:
            inputs["__internal"] = {}
            inputs["version"] = request.version
        provider_type = f"pulumi:providers:{package}"
        record = RecordedResource(
            urn=reference,
            type=provider_type,
            name=reference.rsplit("::", 1)[-1],
            custom=True,
            parent=None,
            inputs=plain(inputs),
            outputs=plain(inputs),
            id=None,
            provider="",
            dependencies=(),
            property_dependencies={},
            raw_inputs=inputs,
            raw_outputs=dict(inputs),
        )
        with self._lock:  # decided and recorded at once: before any resource that needs it
            if reference in self._default_providers:
                return
            self._default_providers.add(reference)
            self._append(record)

    def _append(self, record: RecordedResource) -> None:
        """Record a registration and hand it on, in registration order (the caller holds the lock)."""
        self._index[record.urn] = len(self.recorded)
        self.recorded.append(record)
        if self._on_record is not None:
            self._on_record(record)

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 - the SDK's gRPC method name
        """A component's registered outputs become its outputs, as in the engine (step_executor.go,
        executeRegisterResourceOutputs); the root stack's are read at the end of the run instead."""
        urn = str(request.urn)
        if urn.split("::")[2:3] != [STACK_TYPE]:
            outputs = decode(json_format.MessageToDict(request.outputs))
            with self._lock:
                index = self._index.get(urn)
                if index is not None:
                    self.recorded[index] = replace(self.recorded[index], outputs=plain(outputs), raw_outputs=outputs)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]

    def _record(self, request: Any, urn: str, id_: str | None, state: dict[str, Any]) -> None:
        inputs = decode(json_format.MessageToDict(request.object))
        if request.type.startswith("pulumi:providers:") and request.version and "version" not in inputs:
            # An explicit provider gets the version the SDK asked for (source_eval.go, SetProviderVersion).
            inputs = {**inputs, "__internal": {}, "version": request.version}
        options = ResourceOptions(
            protect=bool(request.protect),
            ignore_changes=tuple(request.ignoreChanges),
            delete_before_replace=bool(request.deleteBeforeReplace) if request.deleteBeforeReplaceDefined else None,
            additional_secret_outputs=tuple(request.additionalSecretOutputs),
            # The engine sends only the aliases that matched a resource of the old state (step_generator.go);
            # a mock run has no old state. The resolved aliases are the record's ``aliases``.
            aliases=(),
            custom_timeouts=_timeouts(request.customTimeouts) if request.HasField("customTimeouts") else None,
            parent=request.parent,
        )
        package = request.type.split(":", 1)[0]
        provider = request.provider or (
            f"{default_provider_urn(self._project, self._stack, package, request.version)}::{UNKNOWN_PROVIDER_ID}"
            if request.custom and request.type != STACK_TYPE and not request.type.startswith("pulumi:providers:")
            else ""
        )
        record = RecordedResource(
            urn=urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent or None,
            inputs=plain(inputs),
            outputs=plain(state),
            id=id_,
            provider=provider,
            dependencies=tuple(request.dependencies),
            property_dependencies={key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()},
            options=options,
            aliases=tuple(self._alias_urn(alias, request) for alias in request.aliases),
            raw_inputs=inputs,
            raw_outputs=state,
        )
        with self._lock:
            self._append(record)


# The default provider's ID is only known once the engine has registered it; nothing offline reads it.
UNKNOWN_PROVIDER_ID = UNKNOWN_SENTINEL


def default_provider_urn(project: str, stack: str, package: str, version: str) -> str:
    """``urn:pulumi:<stack>::<project>::pulumi:providers:<pkg>::default[_<major>_<minor>_<patch>...]``
    (pulumi/pulumi ``pkg/resource/deploy/providers/provider.go``, ``DefaultName``)."""
    suffix = "_" + "_".join(version.replace("-", ".").replace("+", ".").split(".")) if version else ""
    return f"urn:pulumi:{stack}::{project}::pulumi:providers:{package}::default{suffix}"


def _timeouts(timeouts: Any) -> CustomTimeouts:
    return CustomTimeouts(_duration(timeouts.create), _duration(timeouts.update), _duration(timeouts.delete))


def _duration(text: str) -> float:
    """A Go duration string (``"1h30m"``, ``"90s"``, ``"500ms"``) in seconds; "" is 0."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    total, number = 0.0, ""
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = next(u for u in ("ms", "us", "µs", "ns", "h", "m", "s") if text.startswith(u, index))
        total += float(number) * units[unit]
        number, index = "", index + len(unit)
    return total


def run_program(
    program_dir: Path,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: Sequence[str] = (),
    subscription_id: str = MOCK_SUBSCRIPTION_ID,
    *,
    phase: Phase = Phase.UPDATE,
    mocks_: pulumi.runtime.Mocks | None = None,
    main: str = "__main__.py",
    on_record: Callable[[RecordedResource], None] | None = None,
) -> ProgramRun:
    """Run ``program_dir/<main>`` under mocks with the given engine-style config.

    ``subscription_id`` is the Azure subscription the Azure mocks answer with (ARM IDs,
    ``getClientConfig``): compared with a real stack's state, it must be that state's. ``phase`` is
    the engine operation to stand for. ``mocks_`` replaces the Azure mocks (``EchoMocks`` for any
    provider). ``on_record`` sees each registration as it happens (root stack and default providers
    included), in order.
    """
    return contextvars.Context().run(
        _run_isolated,
        program_dir,
        project,
        stack,
        dict(config),
        list(secret_keys),
        phase,
        mocks_ or AzureMocks(subscription_id, phase),
        main,
        on_record,
    )


def _run_isolated(
    program_dir: Path,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    phase: Phase,
    mocks_: pulumi.runtime.Mocks,
    main: str,
    on_record: Callable[[RecordedResource], None] | None,
) -> ProgramRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    monitor = RecordingMonitor(mocks_, config, project, stack, on_record, secret_keys)
    try:
        ROOT.set(None)
        # The SDK runs in dry-run mode in both phases: an output the mocks do not answer then stays
        # unknown, as it would be until Azure answers, instead of silently becoming null.
        pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=True, monitor=monitor)
        # The run's own set of pending Outputs. ``set_mocks`` gives the run a new RPC manager but not a
        # new ``outputs`` set (``MockSettings.__init__`` in pulumi/runtime/mocks.py sets only what it is
        # given), so every run in a fresh context would share the process-wide default set. A failed run
        # leaves its cancelled and failed Outputs there on purpose ("leave it in the set to pick up at
        # program exit", ``Output._track`` in pulumi/output.py), on a loop closed since, and the next
        # run's ``wait_for_rpcs`` then fails with "Event loop is closed". The SDK's own
        # ``@pulumi.runtime.test`` clears the set for the same reason.
        SETTINGS.outputs = set()
        pulumi.runtime.set_all_config(config, secret_keys)
        with _importable(program_dir):
            try:
                _run_main(program_dir / main, loop)
            except pulumi.RunError as error:
                raise ProgramError(str(error)) from None
            except SystemExit as error:
                # A program that exits is a program that failed to describe its stack, whatever its code.
                raise ProgramError(f"the program called sys.exit({error.code!r})") from None
            except Exception as error:
                raise ProgramError(f"{type(error).__name__}: {error}") from error
        if monitor.errors:
            raise DuplicateUrnError(monitor.errors[0])
        outputs = loop.run_until_complete(_resolve_outputs())
        secrets = frozenset(key for key, value in outputs.items() if isinstance(value, Secret))
        registered = _with_stack_outputs(monitor.recorded, stack_urn(project, stack), outputs)
        program = tuple(r for r in registered if not r.engine_added)
        return ProgramRun(project, stack, program, plain(outputs), secrets, registered, phase)
    finally:
        _drain(loop)
        loop.close()
        monitor.close_loops()
        asyncio.set_event_loop(None)


def _run_main(main: Path, loop: asyncio.AbstractEventLoop) -> None:
    """Run the program; ``set_mocks`` has already registered the root stack, as the language host would."""
    runpy.run_path(str(main), run_name="__main__")
    loop.run_until_complete(wait_for_rpcs())


async def _resolve_outputs() -> dict[str, Any]:
    """The stack's exports as the engine holds them: unknown while not known, secret when secret."""
    root = get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {})
    values: dict[str, Any] = {}
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        resolved = _from_sdk(await output.future(with_unknowns=True))
        values[key] = Secret(resolved) if await output.is_secret() else resolved
    return values


def _from_sdk(value: Any) -> Any:
    if isinstance(value, pulumi.output.Unknown):
        return UNKNOWN
    if isinstance(value, Mapping):
        return {key: _from_sdk(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_from_sdk(item) for item in value]
    return value


def _with_stack_outputs(
    recorded: Sequence[RecordedResource], urn: str, outputs: dict[str, Any]
) -> tuple[RecordedResource, ...]:
    """The root stack's record with the exports as its outputs (what ``AnalyzeStack`` sees)."""
    return tuple(
        replace(resource, outputs=plain(outputs), raw_outputs=outputs) if resource.urn == urn else resource
        for resource in recorded
    )


def _drain(loop: asyncio.AbstractEventLoop) -> None:
    """Settle everything a failed program left running, so the next run starts from nothing."""
    with suppress(Exception):
        loop.run_until_complete(wait_for_rpcs())
    pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in pending:
        task.cancel()
    if pending:
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_default_executor())


@contextmanager
def _importable(program_dir: Path) -> Iterator[None]:
    """The program imports its own modules, as under the CLI: its language host runs the program's
    directory with ``runpy.run_path`` (pulumi/pulumi sdk/python/cmd/pulumi-language-python-exec), which
    puts that directory first on ``sys.path`` (https://docs.python.org/3/library/runpy.html#runpy.run_path).

    Directory first is not enough in a process that has already imported modules of the same names
    from elsewhere: ``import settings`` would find preflight's own ``settings`` (or another copy's
    ``components``) in ``sys.modules`` and never look at the path. Those are set aside for the run and
    put back after it, so the runner's own imports stay the runner's.
    """
    path = str(program_dir.resolve())
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    set_aside = _set_aside_shadowed_modules(Path(path))
    try:
        yield
    finally:
        if added:
            sys.path.remove(path)
        for name in {name.partition(".")[0] for name in set_aside}:
            _pop_modules(name)  # the program's own copies: a later run imports them again
        sys.modules.update(set_aside)


_RUNNER_MODULES = frozenset({__name__.partition(".")[0], "__main__"})
"""What this process runs as: never set aside, even when a program directory holds a copy of it."""


def _set_aside_shadowed_modules(program_dir: Path) -> dict[str, Any]:
    """Remove from ``sys.modules``, and return, the modules imported from elsewhere that the program's
    directory holds its own of (a top-level package or module of the same name)."""
    provided = {p.name for p in program_dir.iterdir() if (p / "__init__.py").is_file()}
    provided |= {p.stem for p in program_dir.glob("*.py")}
    set_aside: dict[str, Any] = {}
    for top in provided - _RUNNER_MODULES:
        module = sys.modules.get(top)
        if module is not None and not _loaded_from(module, program_dir):
            set_aside.update(_pop_modules(top))
    return set_aside


def _pop_modules(top: str) -> dict[str, Any]:
    """Remove a top-level module and its submodules from ``sys.modules``; return them."""
    return {name: sys.modules.pop(name) for name in list(sys.modules) if name.partition(".")[0] == top}


def _loaded_from(module: Any, directory: Path) -> bool:
    locations = [getattr(module, "__file__", None), *getattr(module, "__path__", [])]
    return any(location is not None and Path(location).resolve().is_relative_to(directory) for location in locations)
