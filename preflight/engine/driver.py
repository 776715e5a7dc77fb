"""The engine's sequence of Analyzer calls over one deployment, and what it makes of the answers.

pulumi/pulumi, as cited in docs/engine-parity.md:

- the pack is configured with ``ConfigureStack``, then ``GetAnalyzerInfo``, then ``Configure`` with the
  reconciled config (``pkg/resource/plugin/analyzer_plugin.go`` ``NewPolicyAnalyzer``;
  ``pkg/engine/update.go``), ``Configure`` skipped when there is nothing to configure;
- every registered resource, the root stack and default providers included, goes first through
  ``Remediate`` (when a policy is at ``remediate``: the pack runs nothing else there) and then
  ``Analyze`` on the remediated inputs (``pkg/resource/deploy/step_generator.go``, "two passes");
  a remediation that could not run is an advisory violation; ``Analyze`` diagnostics are attributed
  to the resource analysed and ``remediate`` is reported as ``mandatory``
  (``pkg/resource/deploy/analyze_snapshot.go``, ``analyzeResource``);
- at the end ``AnalyzeStack`` gets every resource with its outputs; a diagnostic whose URN is not a
  resource of the stack is attributed to the root stack (``resolveStackPolicyViolationURN``);
- a diagnostic without a severity gets the policy's (``convertDiagnostics``).

``evaluate`` takes the resources as an iterable, so they can be analysed while a program is still
registering them, as the engine does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from preflight.engine import marshal
from preflight.engine.levels import EnforcementLevel
from preflight.engine.pack import PackInfo, PolicyPackProcess, severity_name
from preflight.engine.policy_config import PolicyConfig, reconcile_config
from preflight.engine.resources import EngineResource
from preflight.engine.values import decode


@dataclass(frozen=True)
class Diagnostic:
    """One violation (or "can't run during preview" notice), as the engine reports it."""

    policy_name: str
    enforcement_level: EnforcementLevel
    severity: str
    description: str
    message: str
    """The pack's text without the description the pack puts in front of it."""
    urn: str
    stage: str = "analyze"
    """Which call produced it: ``remediate``, ``analyze`` or ``analyze-stack``."""

    @property
    def blocking(self) -> bool:
        """Whether the engine would fail the preview or update over it."""
        return self.enforcement_level.blocking


@dataclass(frozen=True)
class Remediation:
    """Inputs a remediation policy rewrote before the resource was analysed."""

    policy_name: str
    urn: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class PolicyReport:
    """Everything one evaluation produced."""

    pack: PackInfo
    config: dict[str, PolicyConfig]
    diagnostics: tuple[Diagnostic, ...]
    remediations: tuple[Remediation, ...] = ()
    resources: tuple[EngineResource, ...] = field(default=())
    """The resources as analysed (remediated inputs), in registration order."""

    @property
    def mandatory(self) -> list[Diagnostic]:
        """Diagnostics that block a deployment."""
        return [d for d in self.diagnostics if d.blocking]

    @property
    def advisory(self) -> list[Diagnostic]:
        """Diagnostics that only warn."""
        return [d for d in self.diagnostics if not d.blocking]


class Evaluation:
    """One deployment's evaluation, fed resource by resource as they register (``analyze``), then
    finished with ``AnalyzeStack`` over the final states (``finish``).

    ``start`` configures the pack; ``analyze`` runs ``Remediate`` and ``Analyze`` for one resource;
    ``finish`` runs ``AnalyzeStack`` and returns the report. The engine analyses each resource when
    it registers, not after the program ends; so can a caller, from another thread.
    """

    def __init__(
        self, pack: PolicyPackProcess, config: Mapping[str, PolicyConfig], source: str, *, cli_wording: bool = False
    ) -> None:
        self.pack = pack
        self._cli_wording = cli_wording
        self._config = config
        self._source = source
        self._reconciled: dict[str, PolicyConfig] = {}
        self._severities: dict[str, str] = {}
        self._remediating = False
        self._providers: dict[str, EngineResource] = {}
        self._analysed: dict[str, EngineResource] = {}
        self._diagnostics: list[Diagnostic] = []
        self._remediations: list[Remediation] = []

    def start(self) -> None:
        """``ConfigureStack``, ``GetAnalyzerInfo``, reconcile the config (may raise) and ``Configure``."""
        self.pack.connect()
        configure_stack(self.pack)
        info = self.pack.info()
        self._reconciled = reconcile_config(info, self._config, self._source, cli_wording=self._cli_wording)
        configure(self.pack, self._reconciled)
        self._remediating = any(c.enforcement_level is EnforcementLevel.REMEDIATE for c in self._reconciled.values())
        self._severities = {policy.name: policy.severity for policy in info.policies}

    def analyze(self, resource: EngineResource) -> None:
        """``Remediate`` (when a policy remediates) then ``Analyze`` one resource."""
        if self._remediating:
            resource = _remediate(self.pack, resource, self._providers, self._diagnostics, self._remediations)
        if resource.is_provider:  # its remediated inputs are what its dependents see (sg.providers)
            self._providers[resource.urn] = resource
        self._diagnostics.extend(analyze(self.pack, resource, self._providers, self._severities))
        self._analysed[resource.urn] = resource

    def finish(self, final: Sequence[EngineResource]) -> PolicyReport:
        """``AnalyzeStack`` over the final states (the stack's exports known by now), with the inputs
        each resource was analysed with (remediations applied)."""
        resources = [self._as_analysed(resource) for resource in final]
        diagnostics = [*self._diagnostics, *analyze_stack(self.pack, resources, self._providers, self._severities)]
        # The pack answers in no guaranteed order; reports must not change from run to run.
        ordered = sorted(diagnostics, key=lambda d: (d.policy_name, d.urn, d.stage, d.message))
        return PolicyReport(
            self.pack.info(), self._reconciled, tuple(ordered), tuple(self._remediations), tuple(resources)
        )

    def _as_analysed(self, resource: EngineResource) -> EngineResource:
        """The final state with the remediated inputs, and the outputs a provider echoing inputs would
        then give: keys the remediation changed take their new value, keys it removed go. Outputs derived
        from inputs (names, IDs) and other resources' inputs are not recomputed (docs/engine-parity.md)."""
        analysed = self._analysed.get(resource.urn)
        if analysed is None or analysed.inputs is resource.inputs:
            return resource
        before, after = resource.inputs, analysed.inputs
        removed = {key for key in before if key not in after}
        changed = {key: value for key, value in after.items() if before.get(key) != value}
        outputs = {key: value for key, value in resource.outputs.items() if key not in removed}
        return replace(resource, inputs=after, outputs={**outputs, **changed})


def evaluate(
    pack: PolicyPackProcess,
    resources: Iterable[EngineResource],
    config: Mapping[str, PolicyConfig],
    source: str = "policy config",
) -> PolicyReport:
    """The whole engine sequence over a deployment's resources (in registration order)."""
    evaluation = Evaluation(pack, config, source)
    evaluation.start()
    final = list(resources)
    for resource in final:
        evaluation.analyze(resource)
    return evaluation.finish(final)


def configure_stack(pack: PolicyPackProcess) -> None:
    """``ConfigureStack``: the stack's identity, config (and which keys are secret) and tags."""
    identity = pack.identity
    request = analyzer_pb2.AnalyzerStackConfigureRequest(
        stack=identity.stack,
        project=identity.project,
        organization=identity.organization,
        dry_run=identity.dry_run,
    )
    request.config.update(dict(identity.config or {}))
    request.config_secret_keys.extend(identity.secret_keys)
    request.tags.update(dict(identity.tags or {}))
    pack.call("ConfigureStack", request, "")


def configure(pack: PolicyPackProcess, config: Mapping[str, PolicyConfig]) -> None:
    """``Configure`` with reconciled config; not called when there is none (``analyzer_plugin.go``)."""
    if not config:
        return
    request = analyzer_pb2.ConfigureAnalyzerRequest()
    for name, policy_config in config.items():
        entry = request.policyConfig[name]
        entry.enforcementLevel = (policy_config.enforcement_level or EnforcementLevel.ADVISORY).number
        entry.properties.update(dict(policy_config.properties))
    pack.call("Configure", request, "")


def analyze(
    pack: PolicyPackProcess,
    resource: EngineResource,
    providers: Mapping[str, EngineResource],
    severities: Mapping[str, str],
) -> list[Diagnostic]:
    """``Analyze`` one resource on its inputs; diagnostics attributed to it."""
    response = pack.call("Analyze", marshal.analyze_request(resource, providers), resource.urn)
    return [replace(d, urn=resource.urn) for d in _diagnostics(response, severities, "analyze")]


def analyze_stack(
    pack: PolicyPackProcess,
    resources: Sequence[EngineResource],
    providers: Mapping[str, EngineResource],
    severities: Mapping[str, str],
) -> list[Diagnostic]:
    """``AnalyzeStack`` once with every resource's outputs."""
    request = analyzer_pb2.AnalyzeStackRequest()
    request.resources.extend(marshal.stack_resource(resource, providers) for resource in resources)
    urns = {resource.urn for resource in resources}
    root = next((r.urn for r in resources if r.is_stack and not r.parent), "")
    return [
        d if d.urn in urns else replace(d, urn=root)
        for d in _diagnostics(pack.call("AnalyzeStack", request, "over the stack"), severities, "analyze-stack")
    ]


def _remediate(
    pack: PolicyPackProcess,
    resource: EngineResource,
    providers: Mapping[str, EngineResource],
    diagnostics: list[Diagnostic],
    remediations: list[Remediation],
) -> EngineResource:
    response = pack.call("Remediate", marshal.analyze_request(resource, providers, remediate=True), resource.urn)
    for item in response.remediations:
        if item.diagnostic:
            diagnostics.append(
                Diagnostic(
                    item.policyName,
                    EnforcementLevel.ADVISORY,
                    "",
                    item.description,
                    item.diagnostic,
                    resource.urn,
                    "remediate",
                )
            )
            continue
        after = decode(json_format.MessageToDict(item.properties))
        remediations.append(Remediation(item.policyName, resource.urn, resource.inputs, after))
        # "Use the transformed inputs rather than the old ones from this point onwards."
        resource = replace(resource, inputs=after)
    return resource


def _diagnostics(response: Any, severities: Mapping[str, str], stage: str) -> list[Diagnostic]:
    result = []
    for item in response.diagnostics:
        level = EnforcementLevel.from_number(item.enforcementLevel)
        prefix = f"{item.description}\n"
        result.append(
            Diagnostic(
                policy_name=item.policyName,
                # "If we ran a remediation but are still triggering a violation, downgrade ... to mandatory."
                enforcement_level=EnforcementLevel.MANDATORY if level is EnforcementLevel.REMEDIATE else level,
                severity=severity_name(item.severity) or severities.get(item.policyName, ""),
                description=item.description,
                message=item.message.removeprefix(prefix) if item.message.startswith(prefix) else item.message,
                urn=item.urn,
                stage=stage,
            )
        )
    return result
