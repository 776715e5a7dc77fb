"""Point a policy diagnostic at the stack file line that sets the offending value.

Each policy names the setting that controls what it checks in its ``setting:`` tag (the pack says it,
``GetAnalyzerInfo`` carries it: no list here to fall out of step); the resource the diagnostic names
tells which service entry, when the setting belongs to one. The line comes from the YAML node marks.
When the exact key is not in the file (a default applies), the nearest enclosing key is used, and
failing that the file's first line.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from preflight.engine.driver import Diagnostic
from preflight.mockrun import ProgramRun, RecordedResource
from settings.model import StackSettings

KeyPath = list[str | int]


@dataclass(frozen=True)
class Location:
    """A place in a stack file."""

    file: str
    line: int
    key: str | None


def service_index(settings: StackSettings, inputs: Mapping[str, Any]) -> int | None:
    """The service entry a resource belongs to: it carries that service's subscription name or principal.

    Principal IDs are GUIDs, compared without case; a service with no ``principalId`` (its identity is
    made by the stack) matches by subscription only.
    """
    subscription = inputs.get("subscriptionName")
    principal = str(inputs.get("principalId") or "").lower()
    for index, service in enumerate(settings.services):
        if subscription == settings.names.subscription(service.name):
            return index
        if principal and service.principal_id is not None and principal == str(service.principal_id).lower():
            return index
    return None


def setting_path(setting: str, settings: StackSettings, resource: RecordedResource | None) -> KeyPath | None:
    """A policy's ``setting:`` tag (``namespace.tier``, ``services[].delivery.lockDuration``) as a key path,
    ``services[]`` resolved to the service the resource belongs to (the services list when none does)."""
    if not setting:
        return None
    head, _, tail = setting.partition("[]")
    path: KeyPath = [part for part in head.split(".") if part]
    if not _:
        return path
    index = service_index(settings, resource.inputs) if resource is not None else None
    if index is None:
        return path
    return [*path, index, *(part for part in tail.split(".") if part)]


def locate(
    diagnostic: Diagnostic,
    run: ProgramRun,
    settings: StackSettings,
    stack_file: Path,
    shown_as: str,
    setting: str,
) -> Location:
    """The stack file line behind a diagnostic; ``setting`` is its policy's ``setting:`` tag in the pack."""
    resource = next((r for r in run.resources if r.urn == diagnostic.urn), None)
    path = setting_path(setting, settings, resource)
    if path is None:
        return Location(shown_as, 1, None)
    line, found = _line_of(stack_file, run.project, path)
    return Location(shown_as, line, f"{run.project}:{_dotted(found)}" if found else None)


def locate_key(stack_file: Path, project: str, path: Sequence[str | int], shown_as: str) -> Location:
    """The stack file line of a settings key (or of the nearest enclosing key present)."""
    if not path:
        return Location(shown_as, 1, None)
    line, found = _line_of(stack_file, project, list(path))
    return Location(shown_as, line, f"{project}:{_dotted(found)}" if found else None)


def _dotted(path: Sequence[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _line_of(stack_file: Path, project: str, path: KeyPath) -> tuple[int, KeyPath]:
    """1-based line of the deepest key of ``path`` present in the file, and that key's path."""
    stat = stack_file.stat()
    root = _composed(stack_file, stat.st_mtime_ns, stat.st_size)
    config = _child(root, "config")
    if config is None:
        return 1, []
    first, *rest = path
    node = _child(config, f"{project}:{first}") or _child(config, str(first))
    if node is None:
        return 1, []
    line, found = _key_line(config, f"{project}:{first}", str(first)), [first]
    for part in rest:
        child = _child(node, part)
        if child is None:
            break
        line = _key_line(node, part) if isinstance(part, str) else child.start_mark.line + 1
        found.append(part)
        node = child
    return line, found


@functools.lru_cache(maxsize=16)
def _composed(stack_file: Path, mtime_ns: int, size: int) -> yaml.Node | None:
    """The stack file's YAML node tree, parsed once per version of the file (not once per diagnostic:
    a 400-service stack with a finding per service re-parsed it 400 times)."""
    del mtime_ns, size  # part of the cache key only
    return yaml.compose(stack_file.read_text(encoding="utf-8"), Loader=_LOADER)


_LOADER = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader


def _child(node: yaml.Node | None, key: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(key, str):
        return next((value for k, value in node.value if k.value == key), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
        item: yaml.Node = node.value[key]
        return item
    return None


def _key_line(mapping: yaml.Node, *keys: str | int) -> int:
    for key_node, _ in mapping.value:
        if key_node.value in keys:
            return int(key_node.start_mark.line) + 1
    return int(mapping.start_mark.line) + 1
