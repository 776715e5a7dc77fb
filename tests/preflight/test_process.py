from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from preflight.process import MIDDLE_COLLECTIONS_PER_FULL, defer_full_collections


@pytest.fixture
def thresholds() -> Iterator[tuple[int, int, int]]:
    """The thresholds before the test, restored after it (the test process is shared)."""
    before = gc.get_threshold()
    yield before
    gc.set_threshold(*before)


def test_full_collections_are_deferred_and_the_younger_generations_kept(thresholds: tuple[int, int, int]) -> None:
    gc.set_threshold(700, 10, 10)  # CPython's defaults
    defer_full_collections()
    assert gc.get_threshold() == (700, 10, MIDDLE_COLLECTIONS_PER_FULL)
    assert gc.isenabled()


def test_the_old_generation_is_not_collected_while_a_run_allocates(thresholds: tuple[int, int, int]) -> None:
    # What the setting is for: many surviving containers (a run's Outputs and records) trigger no
    # full collection, where CPython's defaults trigger several.
    def full_collections_while_allocating() -> int:
        gc.collect()
        gc.freeze()  # the worker's own heap out of the count: the old generation starts empty
        try:
            before: int = gc.get_stats()[2]["collections"]
            kept = [[index] for index in range(200_000)]
            after: int = gc.get_stats()[2]["collections"]
            del kept
        finally:
            gc.unfreeze()
        return after - before

    gc.set_threshold(700, 10, 10)
    assert full_collections_while_allocating() > 0
    defer_full_collections()
    assert full_collections_while_allocating() == 0
