"""One policy pack process for the whole test session, and the shipped stacks as the engine sees them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from preflight.analyzer import AnalyzedResource, PolicyPackProcess
from tests.policy_support import PACK_DIR, Resources
from tests.support import run_stack


@pytest.fixture(scope="session")
def pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(PACK_DIR, project="ml-messaging", stack="prod") as process:
        yield process


@pytest.fixture(scope="session")
def prod_resources() -> Resources:
    return [AnalyzedResource.from_recorded(r) for r in run_stack("prod").resources]


@pytest.fixture(scope="session")
def dev_resources() -> Resources:
    return [AnalyzedResource.from_recorded(r) for r in run_stack("dev").resources]
