"""One policy pack process for the whole test session, and the shipped stacks as the engine sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preflight.engine.pack import PolicyPackProcess, StackIdentity
from preflight.harness import engine_resources
from tests.policy_support import PACK_DIR, Resources
from tests.support import run_stack


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK_DIR, StackIdentity("organization", "ml-messaging", "prod")) as process:
        yield process


@pytest.fixture(scope="session")
def prod_resources() -> Resources:
    return list(engine_resources(run_stack("prod")))


@pytest.fixture(scope="session")
def dev_resources() -> Resources:
    return list(engine_resources(run_stack("dev")))
