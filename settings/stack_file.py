"""Read ``Pulumi.yaml`` and ``stacks/Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

For offline tools (preflight, tests): project config defaults first, then the stack's values;
top-level scalars become text as the engine passes them; ``secure:`` values are marked as
secrets that cannot be decrypted here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from settings.errors import SettingsError
from settings.loader import render_path, settings_from_config
from settings.model import StackSettings
from settings.yaml_reader import Retyped, YamlError, read_yaml

SettingsPath = tuple[str | int, ...]

# Top-level keys the CLI understands in a stack file besides `config`.
STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})


@dataclass(frozen=True)
class StackConfig:
    """A stack file as the engine would see it: flat ``ns:key`` values, secrets marked."""

    path: Path
    project: str
    values: dict[str, Any]
    secret_keys: frozenset[str] = field(default_factory=frozenset)
    retyped: Mapping[SettingsPath, Retyped] = field(default_factory=dict)
    """Unquoted scalars YAML made non-text, by settings path (``("namespace", "minimumTlsVersion")``)."""
    encrypted: tuple[SettingsPath, ...] = ()
    """Paths of this program's own settings written as ``secure:`` values (nested ones included)."""

    def for_engine(self) -> dict[str, str]:
        """Values as ``PULUMI_CONFIG`` carries them: strings, structured values as JSON text."""
        return {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in self.values.items()
            if key not in self.secret_keys
        }

    def for_offline_run(self) -> dict[str, str]:
        """The config as an offline run hands it to the program: ``secure:`` values cannot be decrypted
        here, so each is the placeholder ``[secret]`` (the program sees a secret of unknown value)."""
        return {**self.for_engine(), **dict.fromkeys(self.secret_keys, "[secret]")}


def load_stack_file(
    path: Path, project_file: Path, stack: str | None = None, shown: Callable[[Path], str] = str
) -> tuple[StackConfig, StackSettings]:
    """Read and validate one stack file, applying the project's config defaults first.

    ``stack`` (the stack's name) makes ``environment`` checked against it; ``shown`` renders paths in
    messages (e.g. relative to the repository).
    """
    config = read_stack_config(path, project_file, shown)
    label = shown(path)
    if config.encrypted:
        raise SettingsError(
            f"{label}: {config.project}:{render_path(where)}: is encrypted (secure:), so it cannot be read "
            "offline, and the program needs its value; this program's settings hold no secrets (services "
            "authenticate with Entra ID): write the plain value"
            for where in config.encrypted
        )
    return config, settings_from_config(
        {k: v for k, v in config.values.items() if k not in config.secret_keys},
        config.project,
        label,
        stack=stack,
        hints={where: retyped.explain() for where, retyped in config.retyped.items()},
    )


def read_stack_config(path: Path, project_file: Path, shown: Callable[[Path], str] = str) -> StackConfig:
    """Parse ``Pulumi.yaml`` and a stack file into a StackConfig, without validating settings."""
    project_doc = read_yaml_mapping(project_file, shown).data
    project = project_doc.get("name")
    if not isinstance(project, str) or not project:
        raise SettingsError([f"{shown(project_file)}: name: the project must have a name"])
    document = read_yaml_mapping(path, shown)
    stack_doc = document.data
    unknown = sorted(set(stack_doc) - STACK_FILE_KEYS)
    if unknown:
        raise SettingsError(
            [f"{shown(path)}: {unknown[0]}: unknown top-level key; allowed: {', '.join(sorted(STACK_FILE_KEYS))}"]
        )
    raw = stack_doc.get("config") or {}
    if not isinstance(raw, dict):
        raise SettingsError([f"{shown(path)}: config: must be a mapping of '<namespace>:<key>' to values"])
    values = {**_project_defaults(project_doc, project, shown(project_file))}
    secret_keys: set[str] = set()
    for key, value in raw.items():
        full_key = _qualify(str(key), project)
        if _is_secure(value):
            secret_keys.add(full_key)
        values[full_key] = _engine_scalar(value)
    return StackConfig(
        path,
        project,
        values,
        frozenset(secret_keys),
        retyped=_own_retyped(document.retyped, project),
        encrypted=tuple(
            where
            for full_key, value in values.items()
            if full_key.startswith(f"{project}:")
            for where in _secure_paths(value, (full_key.partition(":")[2],))
        ),
    )


def _own_retyped(retyped: Mapping[SettingsPath, Retyped], project: str) -> dict[SettingsPath, Retyped]:
    # YAML paths ("config", "<ns>:<key>", ...) of this program's keys, as settings paths (<key>, ...).
    own: dict[SettingsPath, Retyped] = {}
    for where, scalar in retyped.items():
        if len(where) > 1 and where[0] == "config":
            namespace, _, key = _qualify(str(where[1]), project).partition(":")
            top_level_text_unchanged = len(where) == 2 and _engine_scalar(scalar.value) == scalar.written
            if namespace == project and not top_level_text_unchanged:
                own[(key, *where[2:])] = scalar
    return own


def _is_secure(value: object) -> bool:
    # Pulumi's encrypted values are written `{secure: <ciphertext>}`, at the top level or nested.
    return isinstance(value, dict) and set(value) == {"secure"}


def _secure_paths(value: object, where: SettingsPath) -> Iterator[SettingsPath]:
    if _is_secure(value):
        yield where
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _secure_paths(item, (*where, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _secure_paths(item, (*where, index))


def _qualify(key: str, project: str) -> str:
    # The CLI puts bare keys in the project's namespace.
    return key if ":" in key else f"{project}:{key}"


def _engine_scalar(value: Any) -> Any:
    # The engine hands top-level scalars to programs as text; YAML's `true` or `8` become "true"/"8".
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _project_defaults(project_doc: Mapping[str, Any], project: str, source: str) -> dict[str, Any]:
    declared = project_doc.get("config") or {}
    if not isinstance(declared, dict):
        raise SettingsError([f"{source}: config: must be a mapping"])
    defaults: dict[str, Any] = {}
    for key, spec in declared.items():
        value = spec.get("default") if isinstance(spec, dict) and ("default" in spec or "type" in spec) else spec
        if value is not None:
            defaults[_qualify(str(key), project)] = _engine_scalar(value)
    return defaults


@dataclass(frozen=True)
class _Mapping:
    data: dict[str, Any]
    retyped: Mapping[tuple[str | int, ...], Retyped]


def read_yaml_mapping(path: Path, shown: Callable[[Path], str]) -> _Mapping:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SettingsError([f"{shown(path)}: file not found"]) from None
    except OSError as error:
        raise SettingsError([f"{shown(path)}: cannot be read: {error.strerror}"]) from None
    try:
        document = read_yaml(data)
    except YamlError as problem:
        where = f":{problem.line}" if problem.line is not None else ""
        key = f" {_yaml_key(problem.path)}:" if problem.path else ""
        raise SettingsError([f"{shown(path)}{where}:{key} {problem.message}"]) from None
    if document.data is None:
        return _Mapping({}, {})
    if not isinstance(document.data, dict):
        raise SettingsError([f"{shown(path)}: must be a YAML mapping at the top level"])
    return _Mapping(document.data, document.retyped)


def _yaml_key(path: tuple[str | int, ...]) -> str:
    # Inside `config:`, name the key the way errors name settings: `ml-messaging:namespace.tier`.
    inside_config = path[1:] if len(path) > 1 and path[0] == "config" else path
    return render_path(inside_config)
