"""Read ``Pulumi.yaml`` and ``stacks/Pulumi.<stack>.yaml`` the way the Pulumi CLI does.

For offline tools (preflight, tests): project config defaults first, then the stack's values;
top-level scalars become text as the engine passes them; ``secure:`` values are marked as
secrets that cannot be decrypted here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from settings.errors import SettingsError
from settings.loader import settings_from_config
from settings.model import StackSettings

# Top-level keys the CLI understands in a stack file besides `config`.
STACK_FILE_KEYS = frozenset({"config", "secretsprovider", "encryptedkey", "encryptionsalt", "environment"})


@dataclass(frozen=True)
class StackConfig:
    """A stack file as the engine would see it: flat ``ns:key`` values, secrets marked."""

    path: Path
    project: str
    values: dict[str, Any]
    secret_keys: frozenset[str] = field(default_factory=frozenset)

    def for_engine(self) -> dict[str, str]:
        """Values as ``PULUMI_CONFIG`` carries them: strings, structured values as JSON text."""
        return {
            key: value if isinstance(value, str) else json.dumps(value)
            for key, value in self.values.items()
            if key not in self.secret_keys
        }


def load_stack_file(path: Path, project_file: Path) -> tuple[StackConfig, StackSettings]:
    """Read and validate one stack file, applying the project's config defaults first."""
    config = read_stack_config(path, project_file)
    return config, settings_from_config(
        {k: v for k, v in config.values.items() if k not in config.secret_keys},
        config.project,
        str(path),
    )


def read_stack_config(path: Path, project_file: Path) -> StackConfig:
    """Parse ``Pulumi.yaml`` and a stack file into a StackConfig, without validating settings."""
    project_doc = _read_yaml_mapping(project_file)
    project = project_doc.get("name")
    if not isinstance(project, str) or not project:
        raise SettingsError([f"{project_file}: name: the project must have a name"])
    stack_doc = _read_yaml_mapping(path)
    unknown = sorted(set(stack_doc) - STACK_FILE_KEYS)
    if unknown:
        raise SettingsError(
            [f"{path}: {unknown[0]}: unknown top-level key; allowed: {', '.join(sorted(STACK_FILE_KEYS))}"]
        )
    raw = stack_doc.get("config") or {}
    if not isinstance(raw, dict):
        raise SettingsError([f"{path}: config: must be a mapping of '<namespace>:<key>' to values"])
    values = {**_project_defaults(project_doc, project, project_file)}
    secret_keys: set[str] = set()
    for key, value in raw.items():
        full_key = _qualify(str(key), project)
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(full_key)
        values[full_key] = _engine_scalar(value)
    return StackConfig(path, project, values, frozenset(secret_keys))


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


def _project_defaults(project_doc: Mapping[str, Any], project: str, source: Path) -> dict[str, Any]:
    declared = project_doc.get("config") or {}
    if not isinstance(declared, dict):
        raise SettingsError([f"{source}: config: must be a mapping"])
    defaults: dict[str, Any] = {}
    for key, spec in declared.items():
        value = spec.get("default") if isinstance(spec, dict) and ("default" in spec or "type" in spec) else spec
        if value is not None:
            defaults[_qualify(str(key), project)] = _engine_scalar(value)
    return defaults


def _read_yaml_mapping(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError([f"{path}: file not found"]) from None
    except OSError as error:
        raise SettingsError([f"{path}: cannot be read: {error.strerror}"]) from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise SettingsError([f"{path}{where}: invalid YAML: {problem}"]) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SettingsError([f"{path}: must be a YAML mapping at the top level"])
    return document
