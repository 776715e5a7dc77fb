"""Run the real Pulumi program in process under Pulumi's mock runtime and record what it registers.

The SDK's ``Mocks.new_resource`` sees only type, name and inputs, so options such as ``protect``,
the parent and dependencies are captured at the monitor (``RegisterResourceRequest``). URNs are
built the way the engine builds them (parent type chain joined with ``$``, root stack excluded),
not the way the SDK's mock monitor does; see docs/pulumi-offline.md.

Pulumi's runtime state is process-global (context variables plus one settings object), so each
run happens in a fresh ``contextvars.Context`` on a fresh event loop: nothing leaks between runs.
"""

from __future__ import annotations

import asyncio
import contextvars
import runpy
import sys
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc
from pulumi.runtime.settings import ROOT, get_root_resource
from pulumi.runtime.stack import wait_for_rpcs

MOCK_SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
MOCK_TENANT_ID = "11111111-1111-1111-1111-111111111111"
STACK_TYPE = "pulumi:pulumi:Stack"

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


class ProgramError(Exception):
    """The program failed under the mock runtime (bad config surfaces as ``pulumi.RunError``)."""


@dataclass(frozen=True)
class RecordedResource:
    """One registration, as the engine would have seen it."""

    urn: str
    type: str
    name: str
    custom: bool
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    id: str | None
    protect: bool
    provider: str
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProgramRun:
    """Everything one program run registered, in registration order, plus its stack outputs."""

    project: str
    stack: str
    resources: tuple[RecordedResource, ...]
    outputs: dict[str, Any]
    secret_outputs: frozenset[str]

    @property
    def stack_urn(self) -> str:
        """The URN of the root ``pulumi:pulumi:Stack`` resource."""
        return stack_urn(self.project, self.stack)

    def of_type(self, type_: str) -> list[RecordedResource]:
        """Resources of one type token, in registration order."""
        return [resource for resource in self.resources if resource.type == type_]

    def by_urn(self, urn: str) -> RecordedResource:
        """The resource with this URN."""
        return next(resource for resource in self.resources if resource.urn == urn)


def stack_urn(project: str, stack: str) -> str:
    """The engine's URN of a stack's root resource."""
    return f"urn:pulumi:{stack}::{project}::{STACK_TYPE}::{project}-{stack}"


class AzureMocks(pulumi.runtime.Mocks):
    """Answers registrations and invokes the way Azure would, where the program reads the result."""

    def __init__(self, subscription_id: str = MOCK_SUBSCRIPTION_ID) -> None:
        self._ids_by_name: dict[tuple[str, str], str] = {}
        self._subscription_id = subscription_id

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, dict(args.inputs)
        azure_name = self._azure_name(args.typ, args.name, args.inputs)
        resource_id = self._arm_id(args.typ, azure_name, args.inputs, self._subscription_id)
        state = {**args.inputs, "name": azure_name, "id": resource_id}
        if args.typ == "azure-native:servicebus:Namespace":
            state["serviceBusEndpoint"] = f"https://{azure_name}.servicebus.windows.net:443/"
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
        if args.token == "azure-native:servicebus:listTopicKeys":
            endpoint = f"sb://{args.args.get('namespaceName')}.servicebus.windows.net/"
            rule = args.args.get("authorizationRuleName")
            key = "mock-key-not-a-secret"
            connection = f"Endpoint={endpoint};SharedAccessKeyName={rule};SharedAccessKey={key}"
            return {
                "keyName": rule,
                "primaryKey": key,
                "secondaryKey": key,
                "primaryConnectionString": f"{connection};EntityPath={args.args.get('topicName')}",
                "secondaryConnectionString": f"{connection};EntityPath={args.args.get('topicName')}",
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


class RecordingMonitor(mocks.MockMonitor):
    """A mock monitor that builds engine-style URNs and keeps every registration request."""

    def __init__(self, mocks_: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks_)
        self.recorded: list[RecordedResource] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        qualified = type_
        if parent:
            parent_type = parent.split("::")[2]
            if parent_type != STACK_TYPE:
                qualified = f"{parent_type}${type_}"
        return f"urn:pulumi:{pulumi.get_stack()}::{pulumi.get_project()}::{qualified}::{name}"

    def _alias_urn(self, alias: Any, request: Any) -> str:
        """An alias as the engine resolves it: a URN, or a spec whose blanks are the resource's own values."""
        if alias.urn:
            return str(alias.urn)
        spec = alias.spec
        parent = "" if spec.noParent else (spec.parentUrn or request.parent)
        return self.make_urn(parent, spec.type or request.type, spec.name or request.name)

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - the SDK's gRPC method name
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type == STACK_TYPE:
            return response
        registration = self.resources[response.urn]
        self.recorded.append(
            RecordedResource(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent or None,
                inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                outputs=dict(registration.state),
                id=registration.id or None,
                protect=bool(request.protect),
                provider=request.provider or _default_provider(response.urn, request),
                dependencies=tuple(request.dependencies),
                property_dependencies={key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()},
                options={
                    "deleteBeforeReplace": bool(request.deleteBeforeReplace),
                    "ignoreChanges": list(request.ignoreChanges),
                    "additionalSecretOutputs": list(request.additionalSecretOutputs),
                    "retainOnDelete": bool(request.retainOnDelete),
                    "aliases": [self._alias_urn(alias, request) for alias in request.aliases],
                },
            )
        )
        return response


def _default_provider(urn: str, request: Any) -> str:
    """The default provider reference the engine would use: ``...::pulumi:providers:<pkg>::default_<ver>``."""
    if not request.custom:
        return ""
    package = request.type.split(":", 1)[0]
    suffix = f"_{request.version.replace('.', '_')}" if request.version else ""
    return f"{urn.split('::', 2)[0]}::{urn.split('::')[1]}::pulumi:providers:{package}::default{suffix}"


def run_program(
    program_dir: Path,
    project: str,
    stack: str,
    config: Mapping[str, str],
    secret_keys: Sequence[str] = (),
    preview: bool = True,
    subscription_id: str = MOCK_SUBSCRIPTION_ID,
) -> ProgramRun:
    """Run ``program_dir/__main__.py`` under mocks with the given engine-style config.

    ``subscription_id`` is the Azure subscription the mocks answer with (ARM IDs, ``getClientConfig``):
    compared with a real stack's state, it must be that state's.
    """
    return contextvars.Context().run(
        _run_isolated, program_dir, project, stack, dict(config), list(secret_keys), preview, subscription_id
    )


def _run_isolated(
    program_dir: Path,
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: list[str],
    preview: bool,
    subscription_id: str,
) -> ProgramRun:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        ROOT.set(None)
        monitor = RecordingMonitor(AzureMocks(subscription_id))
        pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=preview, monitor=monitor)
        pulumi.runtime.set_all_config(config, secret_keys)
        with _importable(program_dir):
            try:
                runpy.run_path(str(program_dir / "__main__.py"), run_name="__main__")
                loop.run_until_complete(wait_for_rpcs())
            except pulumi.RunError as error:
                raise ProgramError(str(error)) from None
            except Exception as error:
                raise ProgramError(f"{type(error).__name__}: {error}") from error
        outputs, secrets = loop.run_until_complete(_resolve_outputs())
        return ProgramRun(project, stack, tuple(monitor.recorded), outputs, secrets)
    finally:
        _drain(loop)
        loop.close()
        asyncio.set_event_loop(None)


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


async def _resolve_outputs() -> tuple[dict[str, Any], frozenset[str]]:
    root = get_root_resource()
    exported: dict[str, Any] = getattr(root, "outputs", {})
    values: dict[str, Any] = {}
    secrets: set[str] = set()
    for key, value in exported.items():
        output = pulumi.Output.from_input(value)
        values[key] = await output.future(with_unknowns=True)
        if await output.is_secret():
            secrets.add(key)
    return values, frozenset(secrets)


@contextmanager
def _importable(program_dir: Path) -> Iterator[None]:
    path = str(program_dir.resolve())
    added = path not in sys.path
    if added:
        sys.path.insert(0, path)
    try:
        yield
    finally:
        if added:
            sys.path.remove(path)
