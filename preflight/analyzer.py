"""Drive a CrossGuard policy pack the way the Pulumi engine does, without the engine.

The pack runs as its own process, started like the engine starts a Python pack
(``python -u -m pulumi.policy <engine-address> .`` in the pack's directory, port read from the
first stdout line), and is spoken to over the real Analyzer gRPC service:
``GetAnalyzerInfo``, ``Configure``, ``ConfigureStack``, ``Analyze`` per resource, ``AnalyzeStack``.

Config is reconciled as the engine does (pulumi/pulumi ``pkg/resource/analyzer/config.go``):
schema defaults and each policy's default enforcement level, then the pack's initial config,
then the ``--policy-pack-config`` file (``all`` first), validated against each policy's schema.
One deliberate difference: a config file naming a policy the pack does not have is an error
here (the engine ignores it), because such a typo silently disables nothing it meant to.

Typical use::

    with PolicyPackProcess(Path("policies"), project="ml-messaging", stack="prod") as pack:
        report = pack.evaluate(resources, load_policy_config(Path("policies/config/prod.json")))
        report.mandatory  # diagnostics that would block `pulumi preview`
"""

from __future__ import annotations

import difflib
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
import jsonschema
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from preflight.mockrun import ProgramRun, RecordedResource

ENFORCEMENT_LEVELS = ("advisory", "mandatory", "disabled", "remediate")
_SEVERITIES = {0: "", 1: "low", 2: "medium", 3: "high", 4: "critical"}
_POLICY_TYPES = {0: "unknown", 1: "resource", 2: "stack"}
# The pack never calls the engine, but pulumi.policy requires an engine address argument.
_NO_ENGINE = "127.0.0.1:0"


class PolicyPackError(Exception):
    """The pack could not be started, configured or asked; the message says why."""


class PolicyConfigError(PolicyPackError):
    """A policy config file is malformed or does not satisfy the policies' schemas."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class PolicyInfo:
    """One policy as the pack describes itself in ``GetAnalyzerInfo``."""

    name: str
    description: str
    enforcement_level: str
    severity: str
    policy_type: str
    remediation: str
    url: str
    tags: tuple[str, ...]
    config_schema: dict[str, Any]

    @property
    def source(self) -> str:
        """The ``source:...`` tag: why the rule exists (Azure Policy, Checkov, Microsoft doc)."""
        return next((tag.removeprefix("source:") for tag in self.tags if tag.startswith("source:")), "")


@dataclass(frozen=True)
class PackInfo:
    """The pack's self-description."""

    name: str
    version: str
    policies: tuple[PolicyInfo, ...]
    initial_config: dict[str, PolicyConfig]

    def policy(self, name: str) -> PolicyInfo:
        """The policy called ``name``."""
        return next(p for p in self.policies if p.name == name)


@dataclass(frozen=True)
class PolicyConfig:
    """One policy's enforcement level and properties, as sent in ``Configure``."""

    enforcement_level: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Diagnostic:
    """One violation (or "can't run during preview" notice) reported by the pack."""

    policy_name: str
    enforcement_level: str
    severity: str
    description: str
    message: str
    urn: str

    @property
    def blocking(self) -> bool:
        """Whether the engine would fail the preview or update over it."""
        return self.enforcement_level in ("mandatory", "remediate")


@dataclass(frozen=True)
class AnalyzedResource:
    """A resource as the engine hands it to the pack."""

    urn: str
    type: str
    name: str
    properties: Mapping[str, Any]
    protect: bool = False
    parent: str | None = None
    dependencies: Sequence[str] = ()
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)
    provider: str = ""

    @classmethod
    def from_recorded(cls, resource: RecordedResource) -> AnalyzedResource:
        """A resource registered under the mock runtime, with its inputs as the planned state."""
        return cls(
            urn=resource.urn,
            type=resource.type,
            name=resource.name,
            properties=resource.inputs,
            protect=resource.protect,
            parent=resource.parent,
            dependencies=resource.dependencies,
            property_dependencies=resource.property_dependencies,
            provider=resource.provider,
        )


@dataclass(frozen=True)
class PolicyReport:
    """Everything one evaluation produced."""

    pack: PackInfo
    config: dict[str, PolicyConfig]
    diagnostics: tuple[Diagnostic, ...]

    @property
    def mandatory(self) -> list[Diagnostic]:
        """Diagnostics that block a deployment."""
        return [d for d in self.diagnostics if d.blocking]

    @property
    def advisory(self) -> list[Diagnostic]:
        """Diagnostics that only warn."""
        return [d for d in self.diagnostics if not d.blocking]


def load_policy_config(path: Path, shown: str | None = None) -> dict[str, PolicyConfig]:
    """Parse a ``--policy-pack-config`` file the way the engine does; errors name it as ``shown``."""
    label = shown or str(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        raise PolicyConfigError([f"{label}: file not found"]) from None
    except UnicodeDecodeError as error:
        raise PolicyConfigError([f"{label}: not valid UTF-8 (at byte {error.start}); save it as UTF-8"]) from None
    except OSError as error:
        raise PolicyConfigError([f"{label}: cannot be read: {error.strerror}"]) from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError([f"{label}:{error.lineno}: invalid JSON: {error.msg}"]) from None
    except RecursionError:
        raise PolicyConfigError([f"{label}: invalid JSON: nested too deeply"]) from None
    if not isinstance(document, dict):
        raise PolicyConfigError([f"{label}: must be a JSON object of policy names to settings"])
    parsed: dict[str, PolicyConfig] = {}
    for name, value in document.items():
        if isinstance(value, str):
            parsed[name] = PolicyConfig(_level(label, name, value))
        elif isinstance(value, dict):
            properties = dict(value)
            level = properties.pop("enforcementLevel", None)
            parsed[name] = PolicyConfig(_level(label, name, level) if level is not None else None, properties)
        else:
            raise PolicyConfigError([f"{label}: {name}: must be an enforcement level or an object"])
    return parsed


def _level(label: str, name: str, value: object) -> str:
    if value not in ENFORCEMENT_LEVELS:
        raise PolicyConfigError(
            [f"{label}: {name}.enforcementLevel: {value!r} is not one of {', '.join(ENFORCEMENT_LEVELS)}"]
        )
    return str(value)


def reconcile_config(
    pack: PackInfo, given: Mapping[str, PolicyConfig], source: str = "policy config"
) -> dict[str, PolicyConfig]:
    """Defaults, then the pack's initial config, then ``given``; validated against each schema."""
    names = sorted(p.name for p in pack.policies)
    unknown = sorted(set(given) - set(names) - {"all"})
    if unknown:
        raise PolicyConfigError(
            f"{source}: {name}: no such policy in pack {pack.name}; {_closest(name, names)}"
            f"allowed: all, {', '.join(names)}"
            for name in unknown
        )
    result = {
        policy.name: PolicyConfig(
            policy.enforcement_level,
            {
                key: spec["default"]
                for key, spec in policy.config_schema.get("properties", {}).items()
                if "default" in spec
            },
        )
        for policy in pack.policies
    }
    for layer in (pack.initial_config, given):
        result = _apply(result, layer)
    errors = []
    for policy in pack.policies:
        schema = {"type": "object", **policy.config_schema}
        validator = jsonschema.Draft7Validator(schema)
        for error in validator.iter_errors(result[policy.name].properties):
            where = ".".join(str(p) for p in error.absolute_path)
            errors.append(f"{source}: {policy.name}{'.' + where if where else ''}: {error.message}")
    if errors:
        raise PolicyConfigError(errors)
    return result


def _closest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {close[0]}? " if close else ""


def _apply(result: dict[str, PolicyConfig], layer: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    everything = layer.get("all")
    if everything is not None and everything.enforcement_level:
        result = {name: PolicyConfig(everything.enforcement_level, cfg.properties) for name, cfg in result.items()}
    for name, config in layer.items():
        if name == "all" or name not in result:
            continue
        current = result[name]
        result[name] = PolicyConfig(
            config.enforcement_level or current.enforcement_level,
            {**current.properties, **config.properties},
        )
    return result


class PolicyPackProcess:
    """A running policy pack and a gRPC client for it. Use as a context manager."""

    def __init__(
        self,
        pack_dir: Path,
        project: str,
        stack: str,
        *,
        dry_run: bool = True,
        stack_config: Mapping[str, str] | None = None,
        python: str = sys.executable,
        start_timeout: float = 60.0,
    ) -> None:
        self.pack_dir = pack_dir
        self.project = project
        self.stack = stack
        self.dry_run = dry_run
        self.stack_config = dict(stack_config or {})
        self._python = python
        self._start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._info: PackInfo | None = None

    def __enter__(self) -> PolicyPackProcess:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def start(self) -> None:
        """Spawn the pack as the engine does and connect to the port it prints."""
        self.spawn()
        self.connect()

    def spawn(self) -> None:
        """Start the pack process; ``connect`` later, so other work can overlap its start-up."""
        env = {
            **os.environ,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
            "PULUMI_CONFIG": json.dumps(self.stack_config),
        }
        self._process = subprocess.Popen(
            [self._python, "-u", "-m", "pulumi.policy", _NO_ENGINE, "."],
            cwd=self.pack_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def connect(self) -> None:
        """Read the port the pack prints and open the gRPC channel to it (once)."""
        if self._stub is not None:
            return
        if self._process is None:
            self.spawn()
        port = self._read_port()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        try:
            grpc.channel_ready_future(self._channel).result(timeout=self._start_timeout)
        except grpc.FutureTimeoutError:
            raise PolicyPackError(f"policy pack in {self.pack_dir} did not accept connections on port {port}") from None
        self._stub = analyzer_pb2_grpc.AnalyzerStub(self._channel)

    def _read_port(self) -> int:
        assert self._process is not None and self._process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = self._process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=self._start_timeout)
        except queue.Empty:
            self.close()
            raise PolicyPackError(
                f"policy pack in {self.pack_dir} printed no port within {self._start_timeout:.0f} s"
            ) from None
        text = first.decode(errors="replace").strip()
        if not text.isdigit():
            stderr = self._stderr_tail()
            self.close()
            raise PolicyPackError(f"policy pack in {self.pack_dir} failed to start: {stderr or text or 'no output'}")
        return int(text)

    def _stderr_tail(self) -> str:
        if self._process is None or self._process.stderr is None:
            return ""
        try:
            _, err = self._process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            return ""
        return err.decode(errors="replace").strip().splitlines()[-1] if err.strip() else ""

    def close(self) -> None:
        """Stop the pack process, then drop the connection.

        In this order: closing a gRPC channel whose server is still alive waits for its calls to wind
        down (about 0.2 s per stack, measured); once the server is gone the close is immediate.
        """
        channel, self._channel = self._channel, None
        if self._process is not None:
            if self._process.poll() is None:
                self._process.terminate()
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait()
            for stream in (self._process.stdout, self._process.stderr):
                if stream is not None:
                    stream.close()
            self._process = None
        if channel is not None:
            channel.close()

    @property
    def stub(self) -> analyzer_pb2_grpc.AnalyzerStub:
        if self._stub is None:
            raise PolicyPackError("the policy pack is not running; use it as a context manager")
        return self._stub

    def info(self) -> PackInfo:
        """``GetAnalyzerInfo``: the pack's name, version, policies and their config schemas."""
        if self._info is None:
            self._info = _pack_info(self.stub.GetAnalyzerInfo(empty_pb2.Empty()))
        return self._info

    def configure(self, config: Mapping[str, PolicyConfig]) -> None:
        """``Configure`` with reconciled config (see ``reconcile_config``)."""
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, policy_config in config.items():
            entry = request.policyConfig[name]
            entry.enforcementLevel = ENFORCEMENT_LEVELS.index(policy_config.enforcement_level or "advisory")
            entry.properties.update(dict(policy_config.properties))
        self.stub.Configure(request)

    def configure_stack(self, tags: Mapping[str, str] | None = None) -> None:
        """``ConfigureStack``: stack identity, config and tags."""
        request = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=self.stack, project=self.project, organization="organization", dry_run=self.dry_run
        )
        request.config.update(self.stack_config)
        request.tags.update(dict(tags or {}))
        self.stub.ConfigureStack(request)

    def analyze(self, resource: AnalyzedResource) -> list[Diagnostic]:
        """``Analyze`` one resource."""
        request = analyzer_pb2.AnalyzeRequest(**_request_fields(resource))
        # Like the engine, attribute a resource policy's diagnostics to the resource analyzed.
        return [d if d.urn else replace(d, urn=resource.urn) for d in _diagnostics(self.stub.Analyze(request))]

    def analyze_stack(self, resources: Sequence[AnalyzedResource]) -> list[Diagnostic]:
        """``AnalyzeStack`` once with every resource, parents and dependencies included."""
        request = analyzer_pb2.AnalyzeStackRequest()
        for resource in resources:
            item = request.resources.add(
                **_request_fields(resource),
                parent=resource.parent or "",
                dependencies=list(resource.dependencies),
            )
            for key, urns in resource.property_dependencies.items():
                item.propertyDependencies[key].urns.extend(urns)
        return _diagnostics(self.stub.AnalyzeStack(request))

    def evaluate(
        self,
        resources: Sequence[AnalyzedResource],
        config: Mapping[str, PolicyConfig],
        source: str = "policy config",
        stack_tags: Mapping[str, str] | None = None,
    ) -> PolicyReport:
        """The whole engine sequence: reconcile and ``Configure``, ``ConfigureStack``, ``Analyze``
        every resource, then ``AnalyzeStack``."""
        reconciled = reconcile_config(self.info(), config, source)
        self.configure(reconciled)
        self.configure_stack(stack_tags)
        diagnostics: list[Diagnostic] = []
        for resource in resources:
            diagnostics.extend(self.analyze(resource))
        diagnostics.extend(self.analyze_stack(resources))
        # The pack answers in no guaranteed order; reports must not change from run to run.
        ordered = sorted(diagnostics, key=lambda d: (d.policy_name, d.urn, d.message))
        return PolicyReport(self.info(), reconciled, tuple(ordered))


def evaluate_program(
    pack: PolicyPackProcess, run: ProgramRun, config_file: Path, shown: Callable[[Path], str] = str
) -> PolicyReport:
    """Judge a program run under mocks with the policy config file for its stack."""
    resources = [AnalyzedResource.from_recorded(r) for r in run.resources]
    label = shown(config_file)
    return pack.evaluate(resources, load_policy_config(config_file, label), label)


def _request_fields(resource: AnalyzedResource) -> dict[str, Any]:
    """What ``AnalyzeRequest`` and ``AnalyzerResource`` share."""
    return {
        "type": resource.type,
        "properties": _struct(resource.properties),
        "urn": resource.urn,
        "name": resource.name,
        "options": analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect, parent=resource.parent or ""),
        "provider": _provider(resource),
    }


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(json.loads(json.dumps(dict(values), default=str)))
    return message


def _provider(resource: AnalyzedResource) -> analyzer_pb2.AnalyzerProviderResource:
    package = resource.type.split(":", 1)[0]
    urn = resource.provider or resource.urn.rsplit("::", 2)[0] + f"::pulumi:providers:{package}::default"
    return analyzer_pb2.AnalyzerProviderResource(
        type=f"pulumi:providers:{package}", name=urn.rsplit("::", 1)[-1], urn=urn
    )


def _diagnostics(response: Any) -> list[Diagnostic]:
    result = []
    for item in response.diagnostics:
        prefix = f"{item.description}\n"
        message = item.message.removeprefix(prefix) if item.message.startswith(prefix) else item.message
        result.append(
            Diagnostic(
                policy_name=item.policyName,
                enforcement_level=ENFORCEMENT_LEVELS[item.enforcementLevel],
                severity=_SEVERITIES.get(item.severity, ""),
                description=item.description,
                message=message,
                urn=item.urn,
            )
        )
    return result


def _pack_info(info: Any) -> PackInfo:
    policies = tuple(
        PolicyInfo(
            name=p.name,
            description=p.description,
            enforcement_level=ENFORCEMENT_LEVELS[p.enforcementLevel],
            severity=_SEVERITIES.get(p.severity, ""),
            policy_type=_POLICY_TYPES.get(p.policy_type, "unknown"),
            remediation=p.remediation_steps,
            url=p.url,
            tags=tuple(p.tags),
            config_schema=_schema(p.configSchema),
        )
        for p in info.policies
    )
    # proto3 cannot tell "advisory" (0) from "unset" in initial config; unset is the safer reading.
    initial = {
        name: PolicyConfig(
            ENFORCEMENT_LEVELS[cfg.enforcementLevel] if cfg.enforcementLevel else None,
            json_format.MessageToDict(cfg.properties),
        )
        for name, cfg in info.initialConfig.items()
    }
    return PackInfo(info.name, info.version, policies, initial)


def _schema(schema: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    properties = json_format.MessageToDict(schema.properties)
    if properties:
        result["properties"] = properties
    if schema.required:
        result["required"] = list(schema.required)
    return result
