"""Read a stack file's YAML the safe way: bounded, strict about repeated keys, honest about retyping.

A stack file is edited by hand and reviewed in pull requests, so reading one must never hang, exhaust
memory or silently drop a value:

- the file is bounded in size, and the document in nesting depth and in the number of values it
  holds once YAML aliases are expanded (an "alias bomb" of 1.6 KB otherwise expands to billions of
  values); the Pulumi CLI's YAML library refuses excessive aliasing too (gopkg.in/yaml.v3,
  ``decode.go``: "document contains excessive aliasing");
- a key written twice in one mapping is an error naming both lines (yaml.v3 refuses it too:
  ``decode.go``, "mapping key %#v already defined at line %d"), where PyYAML keeps the last one;
- only plain data (text, numbers, booleans, null, lists, mappings) is accepted; timestamps stay text,
  as yaml.v3 keeps them when decoding into ``interface{}`` ("for backward compatibility reasons we set
  it as a string"), which is how Pulumi reads config values;
- every unquoted scalar that YAML turned into something other than text (``1.2`` a number, ``010``
  the octal number 8, ``no`` false) is recorded with the text as written, so that an error about it
  can say "quote it" instead of contradicting itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

MAX_FILE_BYTES = 512 * 1024
"""A 500-service stack file is about 60 KiB; anything near this bound is not a hand-written stack."""
MAX_VALUES = 100_000
"""Values in the document once aliases are expanded (a 500-service stack has about 6,000)."""
MAX_DEPTH = 32
"""Nesting depth; the stack schema needs five."""

Path = tuple[str | int, ...]

_TEXT_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_DATA_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("str", "int", "float", "bool", "null", "seq", "map", "timestamp", "merge")
)


@dataclass(frozen=True)
class Retyped:
    """An unquoted scalar that YAML read as something other than text."""

    written: str
    """The scalar exactly as written in the file, e.g. ``010``."""
    value: object
    """What YAML made of it, e.g. ``8``."""
    line: int
    """1-based line of the scalar."""

    def explain(self) -> str:
        """One clause for an error message: what YAML did and how to keep the text."""
        kind = "a boolean" if isinstance(self.value, bool) else "a number" if self.value is not None else "null"
        shown = str(self.value).lower() if isinstance(self.value, bool) else str(self.value)
        read_as = kind if shown == self.written or self.value is None else f"{kind.replace('a ', 'the ')} {shown}"
        return f'YAML reads the unquoted {self.written} as {read_as}; write it in quotes ("{self.written}")'


@dataclass(frozen=True)
class YamlDocument:
    """A parsed document and the retyped scalars in it, by path from the top."""

    data: Any
    retyped: dict[Path, Retyped]


class YamlError(Exception):
    """Why a document was refused; ``path`` is where in the document (empty: the whole file)."""

    def __init__(self, message: str, line: int | None = None, path: Path = ()) -> None:
        self.message = message
        self.line = line
        self.path = path
        super().__init__(message)


class _Loader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """The safe loader, with timestamps kept as the text they were written as (like yaml.v3)."""


_Loader.add_constructor("tag:yaml.org,2002:timestamp", yaml.SafeLoader.construct_yaml_str)


def read_yaml(data: bytes) -> YamlDocument:
    """Parse one YAML document from ``data``; raise YamlError for anything a stack file must not be."""
    if len(data) > MAX_FILE_BYTES:
        raise YamlError(f"the file has {len(data):,} bytes; a stack file may have at most {MAX_FILE_BYTES:,}")
    text = _decode(data)
    loader = _Loader(text)
    try:
        _check_depth(text)
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, {})
        retyped = _Inspection(loader).inspect(node)
        return YamlDocument(loader.construct_document(node), retyped)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlError(f"invalid YAML: {_one_line(error.problem or error)}", mark.line + 1 if mark else None) from None
    except yaml.reader.ReaderError as error:
        line = text[: error.position].count("\n") + 1
        raise YamlError(f"invalid YAML: character #x{error.character:04x} is not allowed in YAML text", line) from None
    except yaml.YAMLError as error:
        raise YamlError(f"invalid YAML: {_one_line(error)}") from None
    except RecursionError:
        raise YamlError(f"invalid YAML: nested deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()


def _one_line(problem: object) -> str:
    return " ".join(str(problem).split())


def _check_depth(text: str) -> None:
    # libyaml's composer recurses once per level and crashes the process (SIGSEGV) on a few tens of
    # thousands of nested `[`; its event parser is a state machine, so the depth is measured from the
    # events first, before anything recursive runs.
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                raise YamlError(f"nested deeper than {MAX_DEPTH} levels", mark.line + 1 if mark else None)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise YamlError(f"not valid UTF-8 (byte 0x{data[error.start]:02x}); save the file as UTF-8", line) from None


class _Inspection:
    """One walk over the composed node graph, before any Python value is built from it."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._measures: dict[int, tuple[int, int]] = {}
        self._open: set[int] = set()
        self._retyped: dict[Path, Retyped] = {}

    def inspect(self, node: yaml.Node) -> dict[Path, Retyped]:
        total, _ = self._measure(node, (), 1)
        if total > MAX_VALUES:
            raise YamlError(
                f"the document expands to {total:,} values through YAML aliases; at most {MAX_VALUES:,} are allowed"
            )
        return self._retyped

    def _measure(self, node: yaml.Node, path: Path, depth: int) -> tuple[int, int]:
        """(values, height) of ``node`` with aliases expanded, each node measured once."""
        # Aliases make the node graph share (or even loop back to) nodes: measures are memoised per
        # node, so an alias bomb costs one visit per distinct node, and a node still open is a loop.
        key = id(node)
        if key in self._open:
            raise YamlError("a YAML alias refers to a value that contains it", _line(node), path)
        if key not in self._measures:
            self._measures[key] = self._measure_new(node, path, depth)
        size, height = self._measures[key]
        if depth + height - 1 > MAX_DEPTH:  # only through aliases: _check_depth bounded what is written
            raise YamlError(f"nested deeper than {MAX_DEPTH} levels through YAML aliases", _line(node), path[:2])
        return size, height

    def _measure_new(self, node: yaml.Node, path: Path, depth: int) -> tuple[int, int]:
        if node.tag not in _PLAIN_DATA_TAGS:
            raise YamlError(
                f"the YAML tag {node.tag.replace('tag:yaml.org,2002:', '!!')} is not allowed; "
                "use text, numbers, booleans, lists and mappings",
                _line(node),
                path,
            )
        self._open.add(id(node))
        size, height = 1, 1
        for child_path, child in self._children(node, path):
            child_size, child_height = self._measure(child, child_path, depth + 1)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_VALUES:
                raise YamlError(
                    f"the document expands to more than {MAX_VALUES:,} values through YAML aliases", _line(node), path
                )
        self._open.discard(id(node))
        if isinstance(node, yaml.ScalarNode):
            self._note_retyping(node, path)
        return size, height

    def _children(self, node: yaml.Node, path: Path) -> Iterator[tuple[Path, yaml.Node]]:
        if isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                yield (*path, index), item
        elif isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise YamlError("a mapping key must be plain text", _line(key_node), path)
                name = str(key_node.value)
                if key_node.tag != _MERGE_TAG:
                    if name in seen:
                        raise YamlError(
                            f"key given twice (lines {seen[name]} and {_line(key_node)}); keep one",
                            _line(key_node),
                            (*path, name),
                        )
                    seen[name] = _line(key_node)
                yield (*path, name), key_node
                yield (*path, name), value_node

    def _note_retyping(self, node: yaml.ScalarNode, path: Path) -> None:
        # Plain style is None from PyYAML's parser and "" from libyaml's.
        if node.style or node.tag in (_TEXT_TAG, _MERGE_TAG, "tag:yaml.org,2002:timestamp") or not node.value:
            return  # quoted, block, text or empty: no retyping to explain
        value = self._loader.construct_object(node)
        self._retyped.setdefault(path, Retyped(str(node.value), value, _line(node)))


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1
