"""Every change rule on a base/head pair, both ways: it blocks the change Azure would refuse (or that
loses messages) and passes the change that deploys cleanly. Both sides are the real program run under
the mock runtime for a fixture stack; only the stack settings differ between them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from preflight.change_rules import RULES, ChangeDiagnostic, evaluate, load_levels
from preflight.changes import ChangeKind, ResourceState, diff
from preflight.engine.policy_config import PolicyConfigError, load_policy_config
from preflight.runner import Layout
from settings.loader import settings_from_config
from tests.support import FIXTURE_LAYOUT, REPO, SHIPPED_STACKS, engine_config, raw_services, run_stack

PROD_NAMESPACE = {"tier": "Premium", "capacity": 1, "minimumTlsVersion": "1.2", "protected": True}


def states(stack: str, overrides: dict[str, Any]) -> list[ResourceState]:
    return [ResourceState.from_recorded(r) for r in run_stack(stack, **overrides).resources]


def judge(
    stack: str, base: dict[str, Any], head: dict[str, Any], before: list[ResourceState] | None = None
) -> list[ChangeDiagnostic]:
    """The change rules' findings when the fixture ``stack`` goes from ``base`` to ``head`` overrides."""
    settings = settings_from_config(engine_config(stack, **head), "ml-messaging", "fixture", stack=stack)
    path = FIXTURE_LAYOUT.change_config(stack)
    changes = diff(before if before is not None else states(stack, base), states(stack, head), "base")
    return evaluate(changes, settings, load_levels(path, str(path)))


def assignment_named_per_service() -> list[ChangeDiagnostic]:
    """A stack deployed when sender grants were named per service, whose publisher was also renamed
    (trainer to training): no alias matches the old assignment, so the new one is created while the
    old one, the same grant under another name, still exists."""
    base = states("prod", {"namespace": PROD_NAMESPACE})
    sender = next(s for s in base if s.name.startswith("ml-pipeline-sender-"))
    old = replace(
        sender,
        urn=sender.urn.rsplit("::", 1)[0] + "::ml-pipeline-trainer-sender",
        name="ml-pipeline-trainer-sender",
        inputs={**sender.inputs, "roleAssignmentName": "c121a366-ef8e-5cef-acd3-badac7f82ee5"},
    )
    return judge("prod", {}, {"namespace": PROD_NAMESPACE}, [old if s is sender else s for s in base])


def rules_hit(found: list[ChangeDiagnostic]) -> set[str]:
    return {diagnostic.policy_name for diagnostic in found}


def without(stack: str, service: str) -> list[dict[str, Any]]:
    return [s for s in raw_services(stack) if s["name"] != service]


def renamed(stack: str, old: str, new: str) -> list[dict[str, Any]]:
    return [{**s, "name": new} if s["name"] == old else s for s in raw_services(stack)]


def test_every_change_rule_is_paired_below() -> None:
    assert {rule.name for rule in RULES} == set(PAIRS)


def removed_locked() -> tuple[str, dict[str, Any], dict[str, Any]]:
    locked = {"namespace": {**PROD_NAMESPACE, "deleteLock": True}}
    return (
        "prod",
        locked,
        {**locked, "services": without("prod", "result-processing"), "retiredServices": ["result-processing"]},
    )


def removed_unlocked() -> tuple[str, dict[str, Any], dict[str, Any]]:
    unlocked = {"namespace": PROD_NAMESPACE}
    return (
        "prod",
        unlocked,
        {**unlocked, "services": without("prod", "result-processing"), "retiredServices": ["result-processing"]},
    )


# rule: (blocked case, passing case), each (stack, base overrides, head overrides).
PAIRS: dict[str, tuple[Any, Any]] = {
    "change-delete-under-lock": (removed_locked, removed_unlocked),
    "change-tier-migration": (
        lambda: ("dev", {}, {"namespace": {"tier": "Premium", "capacity": 1}}),
        lambda: ("dev", {}, {"namespace": {"tier": "Standard", "minimumTlsVersion": "1.3"}}),
    ),
    "change-premium-partitions": (
        lambda: (
            "prod",
            {"namespace": PROD_NAMESPACE},
            {"namespace": {**PROD_NAMESPACE, "capacity": 4, "premiumMessagingPartitions": 4}},
        ),
        lambda: ("prod", {"namespace": PROD_NAMESPACE}, {"namespace": {**PROD_NAMESPACE, "capacity": 4}}),
    ),
    "change-namespace-replaced": (
        lambda: ("prod", {"namespace": PROD_NAMESPACE}, {"namespace": PROD_NAMESPACE, "instance": "002"}),
        lambda: (
            "prod",
            {"namespace": PROD_NAMESPACE},
            {"namespace": PROD_NAMESPACE, "tags": {"owner": "ml-platform", "costCenter": "cc-9"}},
        ),
    ),
    "change-subscription-deleted": (
        lambda: (
            "prod",
            {"namespace": PROD_NAMESPACE},
            {"namespace": PROD_NAMESPACE, "services": without("prod", "result-processing")},
        ),
        removed_unlocked,
    ),
    "change-create-only-property": (
        # Partitions also make the topic partitioned: a create-only topic property.
        lambda: (
            "prod",
            {"namespace": PROD_NAMESPACE},
            {"namespace": {**PROD_NAMESPACE, "capacity": 2, "premiumMessagingPartitions": 2}},
        ),
        lambda: ("prod", {"namespace": PROD_NAMESPACE}, {"namespace": {**PROD_NAMESPACE, "capacity": 2}}),
    ),
    "change-duplicate-role-assignment": (
        assignment_named_per_service,
        # Renaming a publisher that shares its identity with another changes nothing in Azure's grants.
        lambda: (
            "prod",
            {"namespace": PROD_NAMESPACE},
            {
                "namespace": PROD_NAMESPACE,
                "services": renamed("prod", "inference", "scoring"),
                "retiredServices": ["inference"],
            },
        ),
    ),
}


def findings(case: Any) -> list[ChangeDiagnostic]:
    made = case()
    return made if isinstance(made, list) else judge(*made)


@pytest.mark.parametrize("rule", sorted(PAIRS))
def test_the_rule_blocks_its_bad_change(rule: str) -> None:
    found = [d for d in findings(PAIRS[rule][0]) if d.policy_name == rule]
    assert found, rule
    assert all(d.enforcement_level == "mandatory" and d.blocking for d in found)


@pytest.mark.parametrize("rule", sorted(PAIRS))
def test_the_rule_passes_the_change_that_deploys_cleanly(rule: str) -> None:
    assert rule not in rules_hit(findings(PAIRS[rule][1]))


def test_a_session_change_on_a_subscription_is_the_replacement_azure_makes_it() -> None:
    # azure-native plans an update for requiresSession; Azure sets it only at creation.
    base = states("prod", {"namespace": PROD_NAMESPACE})
    head = [
        replace(s, inputs={**s.inputs, "requiresSession": True}) if s.name == "ml-pipeline-training-subscription" else s
        for s in base
    ]
    changes = diff(base, head, "base")
    (changed,) = [c for c in changes.changes if c.kind is ChangeKind.REPLACE]
    assert changed.replace_keys == ("requiresSession",)
    settings = settings_from_config(engine_config("prod"), "ml-messaging", "fixture", stack="prod")
    found = evaluate(changes, settings, load_levels(FIXTURE_LAYOUT.change_config("prod"), "prod.json"))
    assert rules_hit(found) == {"change-create-only-property", "change-subscription-deleted"}
    (create_only,) = [d for d in found if d.policy_name == "change-create-only-property"]
    assert "azure-native plans an in-place update, which Azure refuses" in create_only.message
    assert create_only.key == ("services", 1)


def test_deleting_a_subscription_is_advisory_in_dev_and_names_the_acknowledgement() -> None:
    found = judge("dev", {}, {"services": without("dev", "result-processing")})
    (deleted,) = [d for d in found if d.policy_name == "change-subscription-deleted"]
    assert deleted.enforcement_level == "advisory" and not deleted.blocking
    assert "adding 'result-processing' to ml-messaging:retiredServices" in deleted.message


def test_a_change_rule_config_naming_an_unknown_rule_lists_the_rules(tmp_path: Path) -> None:
    config = tmp_path / "prod.json"
    config.write_text('{"change-subscription-delete": "advisory"}')
    with pytest.raises(PolicyConfigError, match="did you mean change-subscription-deleted\\? allowed: all, "):
        load_levels(config, "policies/changes/prod.json")


def test_without_a_change_rule_config_every_rule_is_mandatory(tmp_path: Path) -> None:
    assert set(load_levels(tmp_path / "absent.json", "absent.json").values()) == {"mandatory"}


def test_every_shipped_stack_has_a_level_for_every_change_rule() -> None:
    for stack in SHIPPED_STACKS:
        path = Layout(REPO).change_config(stack)
        if path.is_file():
            assert set(load_policy_config(path)) == {rule.name for rule in RULES}, path


def test_the_policies_readme_documents_every_change_rule_with_its_levels() -> None:
    text = (REPO / "policies" / "README.md").read_text()
    section = text.split("## Change rules", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1:-1] for line in section.splitlines() if line.startswith("| `")]
    header = next(line for line in section.splitlines() if line.startswith("| Rule"))
    stacks = [cell.strip() for cell in header.split("|")[3:-1]]
    documented = {row[0].strip().strip("`"): [cell.strip() for cell in row[1:]] for row in rows}
    assert set(documented) == {rule.name for rule in RULES}
    for rule in RULES:
        description, *levels = documented[rule.name]
        assert description == rule.description
        for stack, level in zip(stacks, levels, strict=True):
            path = Layout(REPO).change_config(stack)
            assert path.is_file(), f"the table has a column for {stack}, which has no {path.name}"
            assert load_levels(path, path.name)[rule.name] == level, (stack, rule.name)
