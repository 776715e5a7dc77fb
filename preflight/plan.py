"""The plan: resources as a tree under the stack and its components, like ``pulumi preview`` shows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from preflight.engine.resources import STACK_TYPE
from preflight.mockrun import ProgramRun, RecordedResource


@dataclass(frozen=True)
class PlanRow:
    """One line of the plan: depth in the tree, the resource, and its tree-drawing prefix."""

    depth: int
    prefix: str
    type: str
    name: str
    protect: bool
    urn: str = ""


def plan_rows(run: ProgramRun) -> list[PlanRow]:
    """The stack first, then its children depth-first, siblings sorted by type then name."""
    children: dict[str, list[RecordedResource]] = {}
    for resource in run.resources:
        children.setdefault(resource.parent or run.stack_urn, []).append(resource)
    rows = [PlanRow(0, "", STACK_TYPE, f"{run.project}-{run.stack}", False, run.stack_urn)]
    rows.extend(_walk(children, run.stack_urn, "", 1))
    return rows


def _walk(children: dict[str, list[RecordedResource]], parent: str, indent: str, depth: int) -> Iterator[PlanRow]:
    kids = sorted(children.get(parent, []), key=lambda r: (r.type, r.name))
    for index, resource in enumerate(kids):
        last = index == len(kids) - 1
        yield PlanRow(
            depth, f"{indent}{'└─ ' if last else '├─ '}", resource.type, resource.name, resource.protect, resource.urn
        )
        yield from _walk(children, resource.urn, indent + ("   " if last else "│  "), depth + 1)


def to_create(run: ProgramRun) -> int:
    """Resources a first ``pulumi up`` would create, the stack resource included (as the CLI counts)."""
    return len(run.resources) + 1


def count_by_type(run: ProgramRun) -> dict[str, int]:
    """How many resources of each type, sorted by type."""
    counts: dict[str, int] = {}
    for resource in run.resources:
        counts[resource.type] = counts.get(resource.type, 0) + 1
    return dict(sorted(counts.items()))
