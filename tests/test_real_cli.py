"""The real Pulumi CLI path. These tests need the CLI and cloud credentials and skip cleanly without them."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support import REPO, SHIPPED_STACKS

pytestmark = pytest.mark.cli
NEEDED = ("PULUMI_BACKEND_URL", "ARM_SUBSCRIPTION_ID", "ARM_TENANT_ID")
missing = [name for name in NEEDED if not os.environ.get(name)]


@pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not installed")
@pytest.mark.skipif(bool(missing), reason=f"cloud credentials not configured ({', '.join(missing)} unset)")
@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_real_preview_with_the_policy_pack_passes(stack: str) -> None:
    done = subprocess.run(
        [
            "pulumi",
            "preview",
            "--stack",
            stack,
            "--non-interactive",
            "--diff",
            "--policy-pack",
            "policies",
            "--policy-pack-config",
            f"policies/config/{stack}.json",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
