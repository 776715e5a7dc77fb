"""Diagnostics point at the stack-file line of the service they are about."""

from __future__ import annotations

from pathlib import Path

from preflight.engine.driver import Diagnostic
from preflight.engine.levels import EnforcementLevel
from preflight.locate import locate, service_index, setting_path
from preflight.mockrun import run_program
from settings.stack_file import load_stack_file
from tests.support import FIXTURE_STACKS_DIR, PROJECT_FILE, REPO


def test_a_subscription_diagnostic_points_at_its_own_service_even_when_names_share_a_prefix(tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.dev.yaml"
    text = (FIXTURE_STACKS_DIR / "Pulumi.dev.yaml").read_text()
    # Services 1 and 2 become "inference" and "inference-b": the first name plus "-" starts the second.
    stack_file.write_text(
        text.replace("name: inference", "name: inference-b").replace("name: training", "name: inference")
    )
    config, settings = load_stack_file(stack_file, PROJECT_FILE)
    run = run_program(REPO, config.project, "dev", config.for_engine())
    rule = next(r for r in run.resources if r.inputs.get("subscriptionName") == "sbts-inference-b")
    diagnostic = Diagnostic("servicebus-entity-names", EnforcementLevel.MANDATORY, "low", "", "bad name", rule.urn)
    where = locate(diagnostic, run, settings, stack_file, "stacks/Pulumi.dev.yaml", "services[].name")
    assert where.key == "ml-messaging:services[2].name"
    assert stack_file.read_text().splitlines()[where.line - 1].strip() == "- name: inference-b"


def test_a_namespace_setting_points_at_its_own_line_not_the_first(tmp_path: Path) -> None:
    # The hand-kept map this replaced pointed servicebus-no-namespace-sas-rules at line 1.
    stack_file = FIXTURE_STACKS_DIR / "Pulumi.prod.yaml"
    config, settings = load_stack_file(stack_file, PROJECT_FILE)
    run = run_program(REPO, config.project, "prod", config.for_engine())
    namespace = next(r for r in run.resources if r.type == "azure-native:servicebus:Namespace")
    diagnostic = Diagnostic("servicebus-no-namespace-sas-rules", EnforcementLevel.MANDATORY, "", "", "", namespace.urn)
    where = locate(diagnostic, run, settings, stack_file, "stacks/Pulumi.prod.yaml", "namespace.localAuthEnabled")
    assert where.key == "ml-messaging:namespace.localAuthEnabled"
    assert stack_file.read_text().splitlines()[where.line - 1].strip().startswith("localAuthEnabled:")


def test_a_service_setting_for_a_resource_of_no_service_points_at_the_services_list() -> None:
    _, settings = load_stack_file(FIXTURE_STACKS_DIR / "Pulumi.dev.yaml", PROJECT_FILE)
    assert setting_path("services[].delivery.lockDuration", settings, None) == ["services"]
    assert setting_path("namespace.tier", settings, None) == ["namespace", "tier"]
    assert setting_path("", settings, None) is None


def test_a_resource_without_a_principal_is_not_taken_for_a_service_without_one() -> None:
    # A service whose identity the stack makes has no principalId; a resource with no principalId (a
    # topic, a removed service's subscription) must not match it, and GUIDs match whatever their case.
    stack_file = REPO / "tests" / "fixtures" / "identity" / "stacks" / "Pulumi.dev.yaml"
    _, settings = load_stack_file(stack_file, PROJECT_FILE)
    names = [service.name for service in settings.services]
    assert service_index(settings, {"topicName": "sbt-mlpipe-events"}) is None
    assert service_index(settings, {"subscriptionName": "sbts-gone", "principalId": None}) is None
    upper = {"principalId": "C2B8E7F1-9D34-4A6E-B1F0-5E7A3C2D1F33"}
    assert service_index(settings, upper) == names.index("inference")
    assert service_index(settings, {"subscriptionName": "sbts-training"}) == names.index("training")
