"""The ``--policy-pack-config`` file, and its reconciliation with the pack's own defaults.

As the engine does it (pulumi/pulumi ``pkg/resource/analyzer/config.go``, cited per rule in
docs/engine-parity.md): every policy starts from the defaults in its config schema and its default
enforcement level, then the pack's ``initial_config``, then the file (``all`` first, then each named
policy); the result is validated against each policy's JSON schema.

Parsing follows ``parsePolicyPackConfig``: JSON only; an empty or whitespace-only file is no config;
``"policy": "<level>"`` is shorthand; a non-string ``enforcementLevel`` (``null`` included) is an error;
an entry with neither level nor properties is dropped; ``environments`` names Pulumi ESC environments,
which only the Pulumi Cloud backend resolves (a non-empty list is an error here, as on a local backend).

One deliberate difference, kept because it only ever refuses: a file naming a policy the pack does
not have is an error here. The engine passes such an entry on to the pack, which ignores it when it
has a level and fails ``Configure`` (``invalid enforcement level ""``) when it has only properties;
either way the typo configures nothing it meant to.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema

from preflight.engine.levels import LEVEL_NAMES, EnforcementLevel

if TYPE_CHECKING:
    from preflight.engine.pack import PackInfo


_ABSENT = object()  # "environments" not given (null is given, and refused as the engine refuses it)


class PolicyConfigError(Exception):
    """A policy config file is malformed or does not satisfy the policies' schemas."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


@dataclass(frozen=True)
class PolicyConfig:
    """One policy's enforcement level and properties."""

    enforcement_level: EnforcementLevel | None = None
    properties: dict[str, Any] = field(default_factory=dict)


def load_policy_config(path: Path, shown: str | None = None) -> dict[str, PolicyConfig]:
    """Parse a ``--policy-pack-config`` file the way the engine does; errors name it as ``shown``."""
    label = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyConfigError([f"{label}: file not found"]) from None
    except UnicodeDecodeError as error:
        raise PolicyConfigError([f"{label}: not valid UTF-8 (at byte {error.start}); save it as UTF-8"]) from None
    except OSError as error:
        raise PolicyConfigError([f"{label}: cannot be read: {error.strerror}"]) from None
    return parse_policy_config(text, label)


def parse_policy_config(text: str, label: str) -> dict[str, PolicyConfig]:
    """A config file's text as per-policy settings."""
    if not text.strip():
        return {}  # "if strings.TrimSpace(string(b)) == \"\" { return nil, nil, nil }"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyConfigError([f"{label}:{error.lineno}: invalid JSON: {error.msg}"]) from None
    except RecursionError:
        raise PolicyConfigError([f"{label}: invalid JSON: nested too deeply"]) from None
    if document is None:
        return {}  # Go's json.Unmarshal of null into a map leaves it nil: no config
    if not isinstance(document, dict):
        raise PolicyConfigError([f"{label}: must be a JSON object of policy names to settings"])
    _environments(label, document.pop("environments", _ABSENT))
    entries = {name: _entry(label, name, value) for name, value in document.items()}
    return {name: entry for name, entry in entries.items() if entry.enforcement_level or entry.properties}


def _environments(label: str, value: object) -> None:
    if value is _ABSENT:
        return
    if not isinstance(value, list):
        raise PolicyConfigError([f'{label}: "environments" must be an array of strings, got {type(value).__name__}'])
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise PolicyConfigError([f'{label}: "environments[{index}]" must be a string, got {type(item).__name__}'])
    if value:
        raise PolicyConfigError(
            [
                f"{label}: environments: Pulumi ESC environments ({', '.join(value)}) are resolved only by the "
                "Pulumi Cloud backend; put the values in the file itself"
            ]
        )


def _entry(label: str, name: str, value: object) -> PolicyConfig:
    if isinstance(value, str):
        return PolicyConfig(_level(label, name, value))
    if isinstance(value, dict):
        properties = dict(value)
        if "enforcementLevel" not in properties:
            return PolicyConfig(None, properties)
        level = properties.pop("enforcementLevel")
        if not isinstance(level, str):
            raise PolicyConfigError(
                [
                    f"{label}: {name}.enforcementLevel: {json.dumps(level)} is not a valid enforcement level; "
                    f"must be a string, one of {', '.join(LEVEL_NAMES)}"
                ]
            )
        return PolicyConfig(_level(label, name, level), properties)
    raise PolicyConfigError(
        [f"{label}: {name}: {json.dumps(value)} is not a valid value; must be an enforcement level or an object"]
    )


def _level(label: str, name: str, value: str) -> EnforcementLevel:
    if value not in LEVEL_NAMES:
        raise PolicyConfigError(
            [
                f"{label}: {name}.enforcementLevel: {json.dumps(value)} is not a valid enforcement level; "
                f"allowed: {', '.join(LEVEL_NAMES)}"
            ]
        )
    return EnforcementLevel(value)


def reconcile_config(
    pack: PackInfo, given: Mapping[str, PolicyConfig], source: str = "policy config", *, cli_wording: bool = False
) -> dict[str, PolicyConfig]:
    """Defaults, then the pack's initial config, then ``given``; validated against each schema.

    ``cli_wording`` words schema errors the way the CLI prints them (``error: validating policy config:
    <pack> <version>  <policy>: <field>: <text>``, ``pkg/engine/update.go``) instead of naming the file.
    """
    prefix = f"error: validating policy config: {pack.name} {pack.version}  " if cli_wording else f"{source}: "
    names = sorted(p.name for p in pack.policies)
    unknown = sorted(set(given) - set(names) - {"all"})
    everything = given.get("all")
    if everything is not None and everything.enforcement_level is None:
        # The engine sends "all" on to Configure, which refuses an entry without a level.
        raise PolicyConfigError(
            [f'{source}: all: has properties but no enforcementLevel (invalid enforcement level "")']
        )
    if unknown:
        raise PolicyConfigError(
            f"{source}: {name}: no such policy in pack {pack.name}; {closest_hint(name, names)}"
            f"allowed: all, {', '.join(names)}"
            for name in unknown
        )
    result = {
        policy.name: PolicyConfig(
            policy.enforcement_level,
            {
                key: spec["default"]
                for key, spec in policy.config_schema.get("properties", {}).items()
                if isinstance(spec, dict) and "default" in spec
            },
        )
        for policy in pack.policies
    }
    for layer in (pack.initial_config, given):
        result = apply_layer(result, layer)
    errors = sorted(
        f"{prefix}{line}" for policy in pack.policies for line in validate(policy.name, policy.config_schema, result)
    )
    if errors:
        raise PolicyConfigError(errors)
    return result


def validate(name: str, schema: Mapping[str, Any], config: Mapping[str, PolicyConfig]) -> list[str]:
    """Schema errors for one policy, worded as the engine (gojsonschema) words them: ``policy: field: text``.

    Every policy of the pack is validated, disabled ones included (``config.go``, ``validateConfig``);
    only ``properties`` and ``required`` of the schema are used.
    """
    document = {"type": "object", **{k: v for k, v in schema.items() if k in ("properties", "required")}}
    validator = jsonschema.Draft7Validator(document)
    properties = config[name].properties if name in config else {}
    return [f"{name}: {_go_message(error)}" for error in validator.iter_errors(properties)]


def _go_message(error: jsonschema.ValidationError) -> str:
    """gojsonschema's DefaultLocale wording for the validators a policy schema uses."""
    field_path = ".".join(str(p) for p in error.absolute_path)
    field = field_path.rsplit(".", 1)[-1] if field_path else "(root)"
    kind = str(error.validator)
    expected: Any = error.validator_value
    instance: Any = error.instance
    if kind == "required":
        # jsonschema reports one error per missing key, its name quoted first in its message.
        missing = str(error.message).split("'")[1] if error.message.startswith("'") else error.message
        return f"{missing} is required"
    text = {
        "type": lambda: f"Invalid type. Expected: {expected}, given: {_go_type(instance)}",
        "maxLength": lambda: f"String length must be less than or equal to {expected}",
        "minLength": lambda: f"String length must be greater than or equal to {expected}",
        "enum": lambda: f"{field} must be one of the following: {', '.join(json.dumps(v) for v in expected)}",
        "const": lambda: f"{field} does not match: {json.dumps(expected)}",
        "minimum": lambda: f"Must be greater than or equal to {expected}",
        "maximum": lambda: f"Must be less than or equal to {expected}",
        "minItems": lambda: f"Array must have at least {expected} items",
        "maxItems": lambda: f"Array must have at most {expected} items",
        "pattern": lambda: f"Does not match pattern '{expected}'",
    }.get(kind, lambda: error.message)()
    return f"{field_path}: {text}" if field_path else text


def _go_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return "integer"
    if isinstance(value, float):
        return "number"
    if value is None:
        return "null"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def closest_hint(name: str, names: Sequence[str]) -> str:
    """``did you mean <name>? `` for a near miss, else nothing."""
    close = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {close[0]}? " if close else ""


def apply_layer(result: dict[str, PolicyConfig], layer: Mapping[str, PolicyConfig]) -> dict[str, PolicyConfig]:
    """One layer over the current config: ``all``'s level on every entry, then each named entry."""
    everything = layer.get("all")
    if everything is not None and everything.enforcement_level:
        result = {name: PolicyConfig(everything.enforcement_level, cfg.properties) for name, cfg in result.items()}
    for name, config in layer.items():
        if name == "all" or name not in result:
            continue
        current = result[name]
        result[name] = PolicyConfig(
            config.enforcement_level or current.enforcement_level,
            {**current.properties, **config.properties},
        )
    return result
