"""How preflight's own processes start and end: full collections only rarely, and no teardown.

A mock run allocates objects that nearly all live to the end of the process: every ``Output``, task
and future the SDK makes for each resource, and the recorded states. CPython's full collection scans
every tracked object; it runs after ``threshold2`` collections of the middle generation once the
objects that survived to the old generation since the last full collection are more than 25 % of it
(CPython 3.11 ``Modules/gcmodule.c``, the ``long_lived_pending / long_lived_total`` note;
https://docs.python.org/3/library/gc.html#gc.set_threshold). A heap that only grows therefore gets
a full scan each time it has grown by a quarter, and at scale those scans were most of a run.
Full collections: measured (docs/benchmarks.md), the program under mocks for 300 consuming services took 12.1 s with
the default thresholds and 5.5 s with full collections deferred, peak memory 376 and 375 MiB; with
the collector off, 4.7 s but 431 MiB.

The young and middle generations are collected as usual, so short-lived cycles are still freed and
peak memory does not grow. Nothing a program or a policy can observe changes except when an
unreachable cycle that has reached the old generation is freed; a program that depends on that
(a finalizer with side effects on a cycle) would be as fragile under the Pulumi CLI.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import NoReturn

MIDDLE_COLLECTIONS_PER_FULL = 1_000
"""Collections of the middle generation between two full collections (CPython's default: 10)."""


def defer_full_collections() -> None:
    """Keep the young and middle thresholds; make full collections rare. Call once, at process start."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, MIDDLE_COLLECTIONS_PER_FULL)


def end_without_teardown(code: int) -> NoReturn:
    """Flush stdout and stderr and end the process at once, without the interpreter's finalisation.

    Finalisation frees every object of a mock run one by one and runs a last full collection: 0.25 s
    after ``preflight dev``, 1.6 s after a 300-service run (docs/benchmarks.md), for nothing. Call it only
    once everything is written and closed, the policy packs and base runs stopped and their temporary
    directories removed: no ``atexit`` handler runs after it.
    """
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # stdout closed under us (a pipe whose reader left): what was not written is lost
        code = code or 1
    os._exit(code)
