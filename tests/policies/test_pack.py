"""The pack as the engine sees it: its self-description, its config files, and its README."""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from preflight.engine.levels import EnforcementLevel
from preflight.engine.pack import PolicyPackError, PolicyPackProcess, StackIdentity
from preflight.engine.policy_config import PolicyConfig, PolicyConfigError, load_policy_config, reconcile_config
from settings.model import NamespaceSettings, StackSettings
from settings.stack_file import load_stack_file
from tests.policy_support import PACK_DIR
from tests.support import FIXTURE_LAYOUT, PROJECT_FILE, SHIPPED_STACKS, STACKS_DIR

KEBAB = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def test_get_analyzer_info_lists_every_rule_with_its_metadata(pack: PolicyPackProcess) -> None:
    info = pack.info()
    assert info.name == "ml-messaging-servicebus"
    assert len(info.policies) >= 20
    for policy in info.policies:
        assert KEBAB.match(policy.name), policy.name
        assert policy.description.endswith(".") and policy.description.count(". ") == 0, policy.description
        assert policy.severity in {"low", "medium", "high", "critical"}, policy.name
        assert policy.remediation, policy.name
        assert policy.source, policy.name
        assert policy.url.startswith("https://"), policy.name
        assert policy.policy_type in {"resource", "stack"}


def test_configurable_rules_publish_their_config_schema(pack: PolicyPackProcess) -> None:
    schemas = {p.name: p.config_schema for p in pack.info().policies}
    assert schemas["servicebus-minimum-tls"]["properties"]["minimumVersion"]["default"] == "1.2"
    assert schemas["servicebus-subscription-max-delivery-count"]["properties"]["minimum"]["default"] == 3
    assert schemas["servicebus-subscription-max-delivery-count"]["properties"]["maximum"]["default"] == 100
    assert schemas["required-tags"]["properties"]["requiredTags"]["default"] == [
        "environment",
        "workload",
        "owner",
        "costCenter",
    ]
    assert schemas["servicebus-namespace-name"]["required"] == ["environment"]
    assert "sbns-" in schemas["servicebus-namespace-name"]["properties"]["pattern"]["default"]


def test_stack_policies_and_resource_policies_are_both_present(pack: PolicyPackProcess) -> None:
    kinds = {p.name: p.policy_type for p in pack.info().policies}
    assert kinds["servicebus-subscription-filter-required"] == "stack"
    assert kinds["servicebus-topic-has-subscription"] == "stack"
    assert kinds["servicebus-minimum-tls"] == "resource"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_stack_file_has_a_valid_policy_config_with_the_same_stem(stack: str, pack: PolicyPackProcess) -> None:
    path = PACK_DIR / "config" / f"{stack}.json"
    config = reconcile_config(pack.info(), load_policy_config(path), str(path))
    assert config["environment-tag-matches-stack"].properties["environment"] == stack
    assert config["servicebus-namespace-name"].properties["environment"] == stack


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_every_policy_has_an_explicit_level_in_every_stack_config(stack: str, pack: PolicyPackProcess) -> None:
    # Read before reconciliation, which would fill a forgotten policy in with the pack's default:
    # each stack's level for each rule is a decision written down, not an accident of defaults.
    given = load_policy_config(PACK_DIR / "config" / f"{stack}.json")
    assert set(given) == {p.name for p in pack.info().policies}
    unset = sorted(name for name, entry in given.items() if entry.enforcement_level is None)
    assert unset == [], f"policies/config/{stack}.json sets no enforcementLevel for {unset}"


PROTECTION_POLICIES: dict[str, Callable[[NamespaceSettings], bool]] = {
    "servicebus-namespace-protected": lambda namespace: namespace.protected,
    "servicebus-namespace-delete-lock": lambda namespace: namespace.delete_lock,
}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_protection_policies_are_mandatory_exactly_where_the_stack_asks_for_protection(stack: str) -> None:
    # Asked for: removing it must be blocked. Not asked for: mandatory would block the stack.
    _, settings = load_stack_file(STACKS_DIR / f"Pulumi.{stack}.yaml", PROJECT_FILE)
    levels = load_policy_config(PACK_DIR / "config" / f"{stack}.json")
    for policy, asked in PROTECTION_POLICIES.items():
        assert (levels[policy].enforcement_level == "mandatory") is asked(settings.namespace), policy


def test_prod_blocks_what_dev_tolerates() -> None:
    dev = load_policy_config(FIXTURE_LAYOUT.policy_config("dev"))
    prod = load_policy_config(FIXTURE_LAYOUT.policy_config("prod"))
    for policy in (
        "servicebus-tier-premium",
        *PROTECTION_POLICIES,
    ):
        assert prod[policy].enforcement_level == "mandatory"
        assert dev[policy].enforcement_level in ("advisory", "disabled")


def documented_levels(readme: str) -> tuple[list[str], dict[str, list[str]]]:
    """The rules table of policies/README.md: the stacks it has a level column for (the columns after
    Severity), and each rule's row as cells."""
    lines = readme.splitlines()
    header = next(line for line in lines if line.startswith("| Rule |"))
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    stacks = columns[columns.index("Severity") + 1 :]
    rows = {
        line.split("`")[1]: [cell.strip() for cell in line.strip("|").split("|")]
        for line in lines
        if line.startswith("| `")
    }
    return stacks, rows


def test_readme_documents_every_rule_with_its_levels(pack: PolicyPackProcess) -> None:
    stacks, rows = documented_levels((PACK_DIR / "README.md").read_text())
    assert stacks, "the rules table has no level column"
    # A column for a stack that is gone is stale; a stack without a column (one just added) is fine.
    assert set(stacks) <= set(SHIPPED_STACKS), f"policies/README.md documents levels of missing stacks {stacks}"
    levels = {stack: load_policy_config(PACK_DIR / "config" / f"{stack}.json") for stack in stacks}
    for policy in pack.info().policies:
        cells = rows.get(policy.name)
        assert cells is not None, f"{policy.name} missing from policies/README.md"
        assert cells[-len(stacks) :] == [levels[stack][policy.name].enforcement_level for stack in stacks], cells
        assert policy.severity in cells


def write(tmp_path: Path, content: object) -> Path:
    path = tmp_path / "config.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ([1, 2], "must be a JSON object"),
        (
            {"servicebus-minimum-tls": "strict"},
            '"strict" is not a valid enforcement level; allowed: advisory, mandatory, disabled, remediate',
        ),
        ({"servicebus-minimum-tls": 3}, "must be an enforcement level or an object"),
    ],
)
def test_malformed_policy_config_files_are_rejected(tmp_path: Path, content: object, message: str) -> None:
    with pytest.raises(PolicyConfigError, match=re.escape(message)):
        load_policy_config(write(tmp_path, content))


def test_config_is_validated_against_the_schemas_after_defaults(pack: PolicyPackProcess) -> None:
    given = load_policy_config(FIXTURE_LAYOUT.policy_config("prod"))
    given["servicebus-minimum-tls"] = PolicyConfig(None, {"minimumVersion": "1.0"})
    given["servicebus-subscription-max-delivery-count"] = PolicyConfig(None, {"minimum": "three"})
    del given["environment-tag-matches-stack"]
    with pytest.raises(PolicyConfigError) as caught:
        reconcile_config(pack.info(), given, "prod.json")
    lines = caught.value.lines
    # Worded as the engine words them (gojsonschema): "<policy>: <field>: <text>".
    assert (
        "prod.json: servicebus-minimum-tls: minimumVersion: minimumVersion must be one of the following: "
        in "\n".join(lines)
    )
    assert any(
        line.startswith("prod.json: servicebus-subscription-max-delivery-count: minimum: Invalid type. Expected:")
        for line in lines
    ), lines
    assert "prod.json: environment-tag-matches-stack: environment is required" in lines


def test_a_config_naming_an_unknown_policy_is_an_error(pack: PolicyPackProcess) -> None:
    given = load_policy_config(FIXTURE_LAYOUT.policy_config("prod"))
    given["servicebus-minimum-tsl"] = PolicyConfig(EnforcementLevel.MANDATORY)
    with pytest.raises(PolicyConfigError, match="servicebus-minimum-tsl: no such policy"):
        reconcile_config(pack.info(), given)


def test_a_pack_that_cannot_start_is_reported_not_hung(tmp_path: Path) -> None:
    (tmp_path / "__main__.py").write_text("raise SystemExit('broken pack')\n")
    with (
        pytest.raises(PolicyPackError, match="failed to start"),
        PolicyPackProcess(tmp_path, StackIdentity("o", "p", "s"), start_timeout=30),
    ):
        pass


def parity_rows(readme: str) -> dict[str, str]:
    """The parity table of policies/README.md: each external rule ID and its "Pack rule" cell."""
    lines = readme.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Framework | ID |"))
    rows: dict[str, str] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[1].strip("`")] = cells[-1]
    return rows


def test_parity_table_is_in_step_with_the_pack(pack: PolicyPackProcess) -> None:
    rows = parity_rows((PACK_DIR / "README.md").read_text())
    names = {p.name for p in pack.info().policies}
    assert len(rows) >= 20
    for anchor, cell in rows.items():
        named = re.findall(r"`([a-z0-9-]+)`", cell)
        assert named or cell.startswith("not applicable:"), (anchor, cell)
        assert set(named) <= names, f"{anchor} maps to {named}, not all in the pack"
    for policy in pack.info().policies:
        for tag in policy.tags:
            if tag.startswith("anchor:"):
                anchor = tag.removeprefix("anchor:")
                assert anchor in rows, f"{policy.name}'s anchor {anchor} missing from the parity table"
                assert f"`{policy.name}`" in rows[anchor], (anchor, rows[anchor])


def _setting_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every settings key path as a ``setting:`` tag writes it (``services[].delivery.lockDuration``)."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        keys.add(key)
        for kind in (field.annotation, *typing.get_args(field.annotation)):
            for inner in (kind, *typing.get_args(kind)):
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    is_list = typing.get_origin(field.annotation) is tuple
                    keys |= _setting_keys(inner, key + ("[]." if is_list else "."))
    return keys


def test_every_policy_names_the_stack_setting_it_checks(pack: PolicyPackProcess) -> None:
    """locate points reports at the line of this setting; a missing or stale tag would point at line 1."""
    keys = _setting_keys(StackSettings)
    for policy in pack.info().policies:
        assert policy.tag("setting") in keys, (policy.name, policy.tag("setting"))
