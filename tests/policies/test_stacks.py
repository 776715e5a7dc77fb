"""Stacks run under mocks and judged by the pack with their config files.

Shipped stacks (``stacks/``) must pass with their own policy configs, whatever they hold; the exact
verdicts on variations run on the fixture stacks with the fixture policy configs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from preflight.engine.driver import PolicyReport
from preflight.engine.pack import PolicyPackProcess
from preflight.harness import judge
from preflight.mockrun import ProgramRun
from tests.invariants import run_root_stack
from tests.policy_support import PACK_DIR
from tests.support import FIXTURE_LAYOUT, FIXTURE_STACKS, REPO, SHIPPED_STACKS, run_stack, stack_config

# The only warnings the template's stacks are meant to carry: accepted, documented trade-offs.
# What each fixture stack knowingly leaves at advisory level, and why.
ACCEPTED_ADVISORIES = {
    # Dev is Standard: no private endpoint, and it spends nothing on diagnostics, alerts or identity.
    "dev": {
        "servicebus-public-network-access",
        "servicebus-resource-logs",
        "servicebus-subscription-alerts",
        "servicebus-managed-identity",
        "servicebus-topic-duplicate-detection",
    },
    # Prod: a customer-managed key needs a vault of yours; DR pairing and autoscale are not built yet.
    "prod": {
        "servicebus-customer-managed-key",
        "servicebus-premium-autoscale",
        "servicebus-geo-replication",
    },
}


def verdict(pack: PolicyPackProcess, run: ProgramRun, config: Path | None = None) -> PolicyReport:
    """A fixture stack's run judged with its fixture policy config (or ``config``)."""
    return judge(pack, run, config or FIXTURE_LAYOUT.policy_config(run.stack))


def blocked_by(report: PolicyReport) -> set[str]:
    return {d.policy_name for d in report.mandatory}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_have_no_mandatory_violation(stack: str, pack: PolicyPackProcess) -> None:
    report = judge(pack, run_root_stack(REPO, stack).run, PACK_DIR / "config" / f"{stack}.json")
    assert report.mandatory == [], [d.message for d in report.mandatory]


@pytest.mark.parametrize("stack", FIXTURE_STACKS)
def test_fixture_stacks_pass_with_only_the_accepted_advisories(stack: str, pack: PolicyPackProcess) -> None:
    report = verdict(pack, run_stack(stack))
    assert report.mandatory == []
    assert {d.policy_name for d in report.advisory} <= ACCEPTED_ADVISORIES[stack]


def prod_namespace(**changes: Any) -> dict[str, Any]:
    """The fixture prod namespace (private networking, diagnostics, alerts, protection) with changes."""
    namespace: dict[str, Any] = stack_config("prod").values["ml-messaging:namespace"]
    return {**namespace, **changes}


def test_prod_on_standard_is_blocked(pack: PolicyPackProcess) -> None:
    # Standard has no private endpoints, so the namespace is public as well: two blocks.
    standard = {k: v for k, v in prod_namespace().items() if k not in ("capacity", "privateNetworking")}
    run = run_stack("prod", namespace={**standard, "tier": "Standard", "publicNetworkAccess": "Enabled"})
    assert blocked_by(verdict(pack, run)) == {"servicebus-tier-premium", "servicebus-public-network-access"}


def test_prod_with_tls_1_0_is_blocked(pack: PolicyPackProcess) -> None:
    run = run_stack("prod", namespace=prod_namespace(minimumTlsVersion="1.0"))
    assert blocked_by(verdict(pack, run)) == {"servicebus-minimum-tls"}


def test_prod_with_a_subscription_missing_its_filter_is_blocked(pack: PolicyPackProcess) -> None:
    run = run_stack("prod")
    without = tuple(r for r in run.resources if r.name != "ml-pipeline-inference-default-rule")
    assert len(without) == len(run.resources) - 1
    report = verdict(pack, ProgramRun(run.project, run.stack, without, run.outputs, run.secret_outputs))
    assert blocked_by(report) == {"servicebus-subscription-filter-required"}
    (diagnostic,) = report.mandatory
    assert "sbts-inference" in diagnostic.message


def test_prod_without_protection_is_blocked(pack: PolicyPackProcess) -> None:
    run = run_stack("prod", namespace=prod_namespace(protected=False, deleteLock=False))
    # The namespace's managed identity defaults on with protection, so it goes too.
    assert blocked_by(verdict(pack, run)) == {
        "servicebus-namespace-protected",
        "servicebus-namespace-delete-lock",
        "servicebus-managed-identity",
    }


def test_the_dev_config_on_the_prod_stack_is_caught(pack: PolicyPackProcess) -> None:
    report = verdict(pack, run_stack("prod"), FIXTURE_LAYOUT.policy_config("dev"))
    assert "environment-tag-matches-stack" in blocked_by(report)
    assert "servicebus-namespace-name" in blocked_by(report)


def test_prod_with_every_feature_on_passes_without_a_single_finding(pack: PolicyPackProcess) -> None:
    # Customer-managed key, autoscale and geo-replication on top of the fixture prod stack: what the
    # pack leaves advisory for prod (CMK, APRL autoscale, PSRule GeoReplica) is then satisfied too.
    features = {
        "customerManagedKey": {
            "keyUri": "https://kv-mlpipe-prod.vault.azure.net/keys/cmk-servicebus",
            "userAssignedIdentityId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-sec"
            "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id-cmk",
        },
        "autoscale": {"minimumCapacity": 1, "maximumCapacity": 4},
        "geoReplication": {"secondaryLocation": "northeurope"},
    }
    report = verdict(pack, run_stack("prod", namespace=prod_namespace(**features)))
    assert report.diagnostics == (), [f"{d.policy_name}: {d.message}" for d in report.diagnostics]
