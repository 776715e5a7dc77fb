"""What the services need from the bus: contract, emulator config and routes agree with the program.

For every shipped stack (whatever ``stacks/`` holds) the three are derived offline and cross-checked
against the resources the program registers under the mock runtime; exact figures are pinned on the
identity fixture stack (tests/fixtures/identity). Bad input goes through ``python -m preflight``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from components.contract import env_lines, offline_contracts
from preflight import services
from preflight.emulator import emulator_config, emulator_filters, schema
from preflight.routing import program_filters, receivers, routing
from tests.invariants import StackRun, run_root_stack, run_stack_file
from tests.support import IDENTITY_STACK_FILE, REPO, SHIPPED_STACKS, program_copy

CONTRACT_SCHEMA = json.loads((REPO / "contracts" / "service-contract.schema.json").read_text())
IDENTITY_TYPE = "azure-native:managedidentity:UserAssignedIdentity"


@pytest.fixture(scope="module", params=SHIPPED_STACKS)
def shipped(request: pytest.FixtureRequest) -> StackRun:
    stack: str = request.param
    return run_root_stack(REPO, stack)


def client_ids(stack: StackRun) -> dict[str, str]:
    """Client IDs the mock runtime assigned to the identities made here, by service (from the identity's name)."""
    made = {r.inputs["resourceName"]: r.outputs["clientId"] for r in stack.run.of_type(IDENTITY_TYPE)}
    names = stack.settings.names
    return {s.name: made[names.managed_identity(s.name)] for s in stack.settings.services if s.managed_identity}


def all_event_types(stack: StackRun) -> set[str]:
    settings = stack.settings
    return {*settings.external_event_types, *(e for s in settings.services for e in (*s.publishes, *s.consumes))}


def check_agreement(stack: StackRun) -> None:
    """Contract, emulator config and routes, each derived on its own, match the registered resources."""
    settings, run = stack.settings, stack.run
    offline = offline_contracts(settings, client_ids(stack))
    # The contract from settings and the one the program exports are the same document.
    assert run.outputs["services"] == offline
    for contract in offline.values():
        jsonschema.validate(contract, CONTRACT_SCHEMA)
    azure = program_filters(run)
    emulator = emulator_config(settings).config
    jsonschema.Draft7Validator(schema()).validate(emulator)
    local = emulator_filters(emulator)
    routes = {route.subscription: set(route.event_types) for route in routing(settings, run).routes}
    # Every contract subscription exists in the program, and receives exactly its `receives`.
    subscriptions = {r.inputs["subscriptionName"] for r in run.of_type("azure-native:servicebus:Subscription")}
    assert {c["subscription"] for c in offline.values() if c["subscription"]} == subscriptions == set(local)
    for event in all_event_types(stack):
        expected = receivers(azure, event)
        assert receivers(local, event) == expected, event
        assert sorted(s for s, events in routes.items() if event in events) == expected, event
        assert sorted(c["subscription"] for c in offline.values() if event in c["receives"]) == expected, event


def test_contract_emulator_and_routes_agree_with_the_program(shipped: StackRun) -> None:
    check_agreement(shipped)


def test_they_agree_on_a_stack_that_makes_identities() -> None:
    check_agreement(run_stack_file(REPO, IDENTITY_STACK_FILE))


def test_identity_fixture_contracts() -> None:
    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    contracts = stack.run.outputs["services"]
    assert set(contracts) == {"ingest-monitor", "training", "inference"}
    training = contracts["training"]
    assert training["fullyQualifiedNamespace"] == "sbns-mlpipe-dev-weu-001.servicebus.windows.net"
    assert training["subscription"] == "sbts-training"
    assert training["receives"] == ["data.ingested", "data.reprocess"]
    assert training["identity"]["createdHere"] is True
    assert training["identity"]["clientId"] == client_ids(stack)["training"]
    assert training["delivery"] == {"lockDuration": "PT30S", "lockDurationSeconds": 30, "maxDeliveryCount": 20}
    assert contracts["ingest-monitor"]["subscription"] is None
    assert contracts["ingest-monitor"]["delivery"] is None
    assert contracts["inference"]["identity"] == {"createdHere": False, "clientId": None}
    # Offline, the client ID of an identity not yet made is unknown, and only that differs.
    offline = offline_contracts(stack.settings)["training"]
    assert offline["identity"]["clientId"] is None
    assert {k: v for k, v in offline.items() if k != "identity"} == {
        k: v for k, v in training.items() if k != "identity"
    }


def test_env_lines_carry_the_contract_without_parsing() -> None:
    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    lines = env_lines(stack.run.outputs["services"]["training"])
    env = dict(line.split("=", 1) for line in lines)
    assert env["SERVICEBUS_FULLY_QUALIFIED_NAMESPACE"] == "sbns-mlpipe-dev-weu-001.servicebus.windows.net"
    assert env["SERVICEBUS_TOPIC"] == "sbt-mlpipe-events"
    assert env["SERVICEBUS_SUBSCRIPTION"] == "sbts-training"
    assert env["SERVICEBUS_PUBLISHES"] == "model.trained"
    assert env["SERVICEBUS_RECEIVES"] == "data.ingested,data.reprocess"
    assert env["SERVICEBUS_LOCK_DURATION_SECONDS"] == "30"
    assert env["AZURE_CLIENT_ID"] == client_ids(stack)["training"]
    publisher = dict(line.split("=", 1) for line in env_lines(stack.run.outputs["services"]["ingest-monitor"]))
    assert "SERVICEBUS_SUBSCRIPTION" not in publisher and "AZURE_CLIENT_ID" not in publisher


def test_emulator_clamps_into_its_ranges_and_says_so() -> None:
    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    built = emulator_config(stack.settings)
    (topic,) = built.config["UserConfig"]["Namespaces"][0]["Topics"]
    assert built.config["UserConfig"]["Namespaces"][0]["Name"] == "sbemulatorns"
    training = next(s for s in topic["Subscriptions"] if s["Name"] == "sbts-training")
    assert training["Properties"]["LockDuration"] == "PT1M"  # Azure PT30S; the emulator's minimum is PT1M
    assert training["Properties"]["MaxDeliveryCount"] == 10  # Azure 20; the emulator's maximum is 10
    assert [rule["Name"] for rule in training["Rules"]] == ["evt-data.ingested", "evt-data.reprocess"]
    said = "\n".join(built.differences)
    assert "sbts-training: lockDuration: PT30S in Azure, PT1M in the emulator" in said
    assert "sbts-training: maxDeliveryCount 20 in Azure, 10 in the emulator" in said
    assert "no Microsoft Entra ID" in said


def python_m_preflight(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "preflight", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=120
    )


def assert_bad_input(result: subprocess.CompletedProcess[str], *says: str) -> None:
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for text in says:
        assert text in lines[0], lines[0]


def test_unknown_stack_lists_the_stacks() -> None:
    result = python_m_preflight("contract", "no-such-stack")
    assert_bad_input(result, "stacks/Pulumi.no-such-stack.yaml: file not found; stacks here:", *SHIPPED_STACKS)


def test_unknown_service_lists_the_services() -> None:
    stack = SHIPPED_STACKS[0]
    result = python_m_preflight("contract", stack, "no-such-service")
    names = [s.name for s in run_root_stack(REPO, stack).settings.services]
    assert_bad_input(result, f"stacks/Pulumi.{stack}.yaml: services: no service 'no-such-service'", *names)


def test_unknown_event_type_lists_the_known_ones() -> None:
    stack = SHIPPED_STACKS[0]
    result = python_m_preflight("route", stack, "no.such.event")
    known = all_event_types(run_root_stack(REPO, stack))
    assert_bad_input(result, f"stacks/Pulumi.{stack}.yaml: event type 'no.such.event'", "known event types", *known)


def test_emulator_of_an_unknown_stack_is_bad_input() -> None:
    assert_bad_input(python_m_preflight("emulator", "no-such-stack"), "file not found")


@pytest.fixture
def identity_root(tmp_path: Path) -> Path:
    """A throwaway repository whose only stack is the identity fixture."""
    root = program_copy(tmp_path, pack=False)
    shutil.copy(IDENTITY_STACK_FILE, root / "stacks" / "Pulumi.dev.yaml")
    return root


def run_main(root: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = services.main(args, root=root)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_route_names_subscriptions_and_services(identity_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(identity_root, capsys, "route", "dev", "data.reprocess") == (0, "sbts-training -> training\n", "")
    code, out, _ = run_main(identity_root, capsys, "route", "dev", "data.audited")
    assert code == 0
    assert "no subscription receives it" in out


def test_contract_json_is_the_stack_output_shape(identity_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(identity_root, capsys, "contract", "dev")
    assert code == 0, err
    assert json.loads(out) == offline_contracts(run_stack_file(REPO, IDENTITY_STACK_FILE).settings)


def test_contract_takes_client_ids_from_stack_outputs(
    identity_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"services": stack.run.outputs["services"]}))
    code, out, err = run_main(
        identity_root, capsys, "contract", "dev", "training", "--format", "env", "--stack-outputs", str(outputs)
    )
    assert code == 0, err
    assert f"AZURE_CLIENT_ID={client_ids(stack)['training']}\n" in out


def test_env_needs_one_service(identity_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(identity_root, capsys, "contract", "dev", "--format", "env")
    assert (code, out) == (2, "")
    assert "give one service" in err and "ingest-monitor, training, inference" in err


def test_emulator_writes_the_file_and_prints_differences(
    identity_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "Config.json"
    code, out, err = run_main(identity_root, capsys, "emulator", "dev", "--output", str(target))
    assert (code, out) == (0, "")
    assert json.loads(target.read_text()) == emulator_config(run_stack_file(REPO, IDENTITY_STACK_FILE).settings).config
    assert "emulator differs from Azure: authentication" in err


def test_a_stack_without_consumers_cannot_be_emulated(identity_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = identity_root / "stacks" / "Pulumi.dev.yaml"
    text = path.read_text()
    start = text.index("    - name: training")
    path.write_text(text[:start])
    code, out, err = run_main(identity_root, capsys, "emulator", "dev")
    assert (code, out) == (2, "")
    assert err.startswith("preflight emulator: stacks/Pulumi.dev.yaml: services: no service consumes")
