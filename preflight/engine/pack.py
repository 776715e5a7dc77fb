"""A CrossGuard policy pack as its own process, and the Analyzer gRPC client that speaks to it.

Started like the engine starts a Python pack: ``python -u -m pulumi.policy <engine-address> .`` in the
pack's directory, the port read from the first stdout line, with the stack's identity and config in the
environment (docs/engine-parity.md, "The pack process"). This module only moves messages; what goes in
them is ``preflight.engine.marshal`` and in which order ``preflight.engine.driver``.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import IO, Any

import grpc
import yaml
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2_grpc

from preflight.engine.levels import EnforcementLevel
from preflight.engine.policy_config import PolicyConfig

_SEVERITIES = {0: "", 1: "low", 2: "medium", 3: "high", 4: "critical"}
_POLICY_TYPES = {0: "unknown", 1: "resource", 2: "stack"}
# The pack never calls the engine back here, but pulumi.policy requires an engine address argument.
_NO_ENGINE = "127.0.0.1:0"


class PolicyPackError(Exception):
    """The pack could not be started, configured or asked; the message says why."""


@dataclass(frozen=True)
class StackIdentity:
    """What the engine tells a pack about the stack, in its environment and in ``ConfigureStack``."""

    organization: str
    project: str
    stack: str
    dry_run: bool = True
    config: Mapping[str, str] | None = None
    """The stack's config as the engine hands it to programs: ``"<namespace>:<key>"`` to string."""
    tags: Mapping[str, str] | None = None
    secret_keys: tuple[str, ...] = ()
    """Config keys whose values are secrets (the engine decrypts them for the pack; offline they hold a
    placeholder, since no key to decrypt them is at hand)."""

    def environment(self) -> dict[str, str]:
        """The variables the engine sets for the pack process (on top of its own environment)."""
        return {
            "PULUMI_ORGANIZATION": self.organization,
            "PULUMI_PROJECT": self.project,
            "PULUMI_STACK": self.stack,
            "PULUMI_DRY_RUN": "true" if self.dry_run else "false",
            "PULUMI_CONFIG": json.dumps(dict(self.config or {}), sort_keys=True),
        }


@dataclass(frozen=True)
class PolicyInfo:
    """One policy as the pack describes itself in ``GetAnalyzerInfo``."""

    name: str
    description: str
    enforcement_level: EnforcementLevel
    severity: str
    policy_type: str
    remediation: str
    url: str
    tags: tuple[str, ...]
    config_schema: dict[str, Any]

    @property
    def source(self) -> str:
        """The ``source:...`` tag: why the rule exists (Azure Policy, Checkov, Microsoft doc)."""
        return self.tag("source")

    def tag(self, prefix: str) -> str:
        """The value of the first ``<prefix>:<value>`` tag, or ``""``."""
        return next((tag.removeprefix(f"{prefix}:") for tag in self.tags if tag.startswith(f"{prefix}:")), "")


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


class PolicyPackProcess:
    """A running policy pack and a gRPC client for it. Use as a context manager."""

    def __init__(
        self,
        pack_dir: Path,
        identity: StackIdentity,
        *,
        python: str = sys.executable,
        start_timeout: float = 60.0,
        call_timeout: float = 600.0,
    ) -> None:
        self.pack_dir = pack_dir
        self.identity = identity
        self._python = python
        self._start_timeout = start_timeout
        self._call_timeout = call_timeout
        """A bound on each call: a pack that never answers must not hang the gate."""
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: grpc.Channel | None = None
        self._stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self._info: PackInfo | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=40)

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
        if self._process is not None:
            return
        if not self.pack_dir.is_dir():
            raise PolicyPackError(f"{self.pack_dir}: no such policy pack directory")
        # The language host passes the pack's absolute directory and runs there (pulumi/pulumi
        # sdk/python/cmd/pulumi-language-python/main.go, RunPlugin).
        directory = self.pack_dir.resolve()
        self._process = subprocess.Popen(
            [self._python, "-u", "-m", "pulumi.policy", _NO_ENGINE, str(directory)],
            cwd=directory,
            env={**os.environ, **self.identity.environment()},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        # Drained all along: a pack that logs a lot must not block on a full pipe, and what it said last
        # (a policy's traceback) explains a failed call.
        stderr = self._process.stderr
        threading.Thread(target=self._drain_stderr, args=(stderr,), daemon=True).start()

    def _drain_stderr(self, stream: IO[bytes] | None) -> None:
        if stream is None:
            return
        with contextlib.suppress(ValueError, OSError):
            for line in stream:
                self._stderr.append(line.decode(errors="replace").rstrip())

    def last_words(self) -> str:
        """The last line the pack wrote on stderr that says something (an exception's own line)."""
        lines = [line for line in list(self._stderr) if line.strip()]
        return lines[-1].strip() if lines else ""

    def call(self, method: str, request: Any, about: str) -> Any:
        """One Analyzer call; a failure in the pack (a policy that raised) is a ``PolicyPackError``, worded
        like the engine's ``failed to run policy`` (``analyze_snapshot.go``) with the pack's own last words."""
        try:
            return getattr(self.stub, method)(request, timeout=self._call_timeout)
        except grpc.RpcError as error:
            if error.code() is grpc.StatusCode.DEADLINE_EXCEEDED:
                raise PolicyPackError(
                    f"policy pack {self.pack_dir}: {method} {about} did not answer within {self._call_timeout:.0f} s"
                ) from None
            time.sleep(0.05)  # what the pack writes as the call fails, if anything
            reason = self.last_words() or str(error.details() if hasattr(error, "details") else error)
            raise PolicyPackError(
                f"policy pack {self.pack_dir}: failed to run policy ({method} {about}): {reason}"
            ) from None

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

        def port_then_drain() -> None:
            lines.put(stdout.readline())
            # Whatever the pack prints after its port (a policy's print()) is read and dropped: an unread
            # pipe fills at 64 KiB and the pack would block mid-call (the engine forwards plugin output).
            with contextlib.suppress(ValueError, OSError):
                for _ in stdout:
                    pass

        threading.Thread(target=port_then_drain, daemon=True).start()
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
        if self._process is None:
            return ""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
        time.sleep(0.05)  # let the drain thread read what the process wrote before it ended
        return self.last_words()

    def close(self) -> None:
        """Stop the pack process, then drop the connection.

        In this order: closing a gRPC channel whose server is still alive waits for its calls to wind
        down (about 0.2 s per stack, measured); once the server is gone the close is immediate.
        """
        channel, self._channel, self._stub = self._channel, None, None
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
        """The Analyzer client; the pack must be running."""
        if self._stub is None:
            raise PolicyPackError("the policy pack is not running; use it as a context manager")
        return self._stub

    def info(self) -> PackInfo:
        """``GetAnalyzerInfo``: the pack's name, version, policies and their config schemas.

        A ``version`` in ``PulumiPolicy.yaml`` wins over the one the pack reports (the Python SDK always
        says 0.0.1), as in the engine (``analyzer_plugin.go``, GetAnalyzerInfo and convertDiagnostics).
        """
        if self._info is None:
            info = pack_info(self.stub.GetAnalyzerInfo(empty_pb2.Empty()))
            declared = _declared_version(self.pack_dir / "PulumiPolicy.yaml")
            self._info = replace(info, version=declared) if declared else info
        return self._info


def pack_info(info: Any) -> PackInfo:
    """A ``GetAnalyzerInfo`` answer as plain data."""
    policies = tuple(
        PolicyInfo(
            name=p.name,
            description=p.description,
            enforcement_level=EnforcementLevel.from_number(p.enforcementLevel),
            severity=_SEVERITIES.get(p.severity, ""),
            policy_type=_POLICY_TYPES.get(p.policy_type, "unknown"),
            remediation=p.remediation_steps,
            url=p.url,
            tags=tuple(p.tags),
            config_schema=_schema(p.configSchema),
        )
        for p in info.policies
    )
    initial = {
        name: PolicyConfig(
            EnforcementLevel.from_number(cfg.enforcementLevel),
            json_format.MessageToDict(cfg.properties),
        )
        for name, cfg in info.initialConfig.items()
    }
    return PackInfo(info.name, info.version, policies, initial)


def _declared_version(project_file: Path) -> str:
    try:
        document = yaml.safe_load(project_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return ""
    version = document.get("version") if isinstance(document, dict) else None
    return str(version) if version is not None else ""


def severity_name(number: int) -> str:
    """A ``PolicySeverity`` number as its lower-case name (``""`` when unspecified)."""
    return _SEVERITIES.get(number, "")


def _schema(schema: Any) -> dict[str, Any]:
    result: dict[str, Any] = {}
    properties = json_format.MessageToDict(schema.properties)
    if properties:
        result["properties"] = properties
    if schema.required:
        result["required"] = list(schema.required)
    return result
