"""Turn the flat ``<project>:<key>`` config map into ``StackSettings``, or one line per problem.

The program (config from the engine) and ``settings.stack_file`` (config read from YAML by
offline tools) both validate through ``settings_from_config``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from settings.errors import KeyedError, SettingsError
from settings.model import StackSettings, shorten

# Config namespaces that belong to providers or the engine, not to this program.
FOREIGN_NAMESPACES = frozenset({"azure-native", "pulumi"})


def settings_from_config(
    config: Mapping[str, Any],
    project: str,
    source: str,
    *,
    stack: str | None = None,
    hints: Mapping[tuple[str | int, ...], str] | None = None,
) -> StackSettings:
    """Validate a flat ``<project>:<key>`` config map; raise SettingsError naming ``source``.

    ``stack``: the stack being deployed, whose name ``environment`` must equal (names, tags and the
    policy config all follow it). ``hints``: per settings path, a clause added to an error about a
    text value there (how YAML retyped it, see ``settings.yaml_reader``).
    """
    own: dict[str, Any] = {}
    for full_key, value in config.items():
        namespace, _, key = full_key.partition(":")
        if namespace == project:
            own[key] = _decode(key, value)
        elif namespace not in FOREIGN_NAMESPACES:
            raise SettingsError(
                [
                    f"{source}: {full_key}: unknown config namespace '{namespace}'; "
                    f"use {project}:<key> for this program's settings"
                ]
            )
    try:
        settings = StackSettings.model_validate(own)
    except ValidationError as error:
        raise SettingsError(f"{source}: {line}" for line in describe_errors(error, project, hints or {})) from None
    if stack is not None and settings.environment != stack:
        raise SettingsError(
            [f"{source}: {project}:environment: '{settings.environment}' must equal the stack name '{stack}'"]
        )
    return settings


def describe_errors(
    error: ValidationError, project: str, hints: Mapping[tuple[str | int, ...], str] | None = None
) -> list[str]:
    """One ``<project>:<key.path>: <what is wrong and what is allowed>`` line per pydantic error."""
    details = error.errors(include_url=False)
    # pydantic also reports a list as too short when its only items failed; the item errors say why.
    deeper = [tuple(d["loc"]) for d in details]
    return [
        _describe(detail, project, hints or {})
        for detail in details
        if not (
            detail["type"] == "too_short"
            and any(
                len(loc) > len(detail["loc"]) and loc[: len(detail["loc"])] == tuple(detail["loc"]) for loc in deeper
            )
        )
    ]


def _describe(detail: ErrorDetails, project: str, hints: Mapping[tuple[str | int, ...], str]) -> str:
    loc = list(detail["loc"])
    context = detail.get("ctx") or {}
    cause = context.get("error")
    if isinstance(cause, KeyedError):
        loc.append(cause.key)
    key = f"{project}:{render_path(loc)}" if loc else project
    kind = detail["type"]
    value = detail.get("input")
    hint = hints.get(tuple(loc))
    if hint and _expects_text(kind, context, value):
        return f"{key}: {hint}; {_describe(detail, project, {}).removeprefix(f'{key}: ')}"
    if kind == "missing":
        return f"{key}: is required"
    if kind == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(StackSettings, loc[:-1]))
        return f"{key}: unknown key; allowed here: {allowed}"
    if kind in ("literal_error", "enum"):
        expected = str(context.get("expected", "")).replace(" or ", ", ")
        return f"{key}: {_show(value)} is not one of {expected}"
    if kind in _PLAIN_MESSAGES:
        return f"{key}: {_PLAIN_MESSAGES[kind].format(**context)} (got {_show(value)})"
    if kind == "string_pattern_mismatch":
        return f"{key}: {value!r} is not valid: {_field_help(loc)} (pattern {context.get('pattern')})"
    message = detail["msg"].removeprefix("Value error, ")
    if kind == "value_error" or isinstance(value, dict | list):
        return f"{key}: {message}"
    return f"{key}: {message} (got {_show(value)})"


# pydantic's wording for common mistakes, said the way a stack file's author thinks of them.
_PLAIN_MESSAGES = {
    "time_delta_parsing": "must be an ISO 8601 duration such as PT1M or P14D",
    "time_delta_type": "must be an ISO 8601 duration such as PT1M or P14D",
    "uuid_parsing": "must be a GUID (the Entra object ID of a managed identity)",
    "uuid_type": "must be a GUID (the Entra object ID of a managed identity)",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "dict_type": "must be a mapping of keys to values",
    "model_type": "must be a mapping of keys to values",
    "too_short": "must have at least {min_length} item(s)",
    "bool_parsing": "must be true or false",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
}


def _expects_text(kind: str, context: Mapping[str, Any], value: object) -> bool:
    """Whether the error is about a text value, so a number or boolean YAML made of it may be the cause."""
    if kind in ("string_type", "enum", "string_pattern_mismatch"):
        return True
    if kind == "literal_error":
        return "'" in str(context.get("expected", ""))
    return kind == "value_error" and isinstance(value, str)


def _show(value: object) -> str:
    if isinstance(value, str):
        return shorten(value)
    text = str(value)
    return text if len(text) <= 60 else f"{text[:56]}..."


def render_path(loc: Sequence[int | str]) -> str:
    """``("services", 0, "name")`` as ``services[0].name``, the way messages name a key."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _model_at(model: type[BaseModel], loc: list[int | str]) -> type[BaseModel] | None:
    """Follow alias names (and list indices) from ``model`` down to the nested model at ``loc``."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        by_alias = {info.alias or name: info for name, info in current.model_fields.items()}
        info = by_alias.get(part)
        if info is None:
            return None
        current = _nested_model(info.annotation)
    return current


def _nested_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _nested_model(arg)
        if found:
            return found
    return None


def _allowed_keys(model: type[BaseModel], loc: list[int | str]) -> list[str]:
    target = _model_at(model, loc)
    if target is None:
        return []
    return sorted(info.alias or name for name, info in target.model_fields.items())


def _field_help(loc: list[int | str]) -> str:
    parent = _model_at(StackSettings, loc[:-1])
    leaf = loc[-1] if loc else None
    if parent is None or not isinstance(leaf, str):
        return "see settings/model.py"
    for name, info in parent.model_fields.items():
        if (info.alias or name) == leaf and info.description:
            return info.description.rstrip(".")
    return "see settings/model.py"


def _decode(key: str, value: Any) -> Any:
    # Structured values reach a program as JSON text; scalars stay plain strings.
    if isinstance(value, str) and key in _STRUCTURED_KEYS:
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


_STRUCTURED_KEYS = frozenset(
    info.alias or name for name, info in StackSettings.model_fields.items() if info.annotation not in (str, str | None)
)


def settings_from_engine() -> StackSettings:
    """The running stack's settings as the engine passed them; a ``RunError`` (no traceback) if bad."""
    import pulumi
    from pulumi.runtime.config import CONFIG, get_config_env

    config = {**get_config_env(), **CONFIG.get()}
    stack = pulumi.get_stack()
    source = f"stacks/Pulumi.{stack}.yaml"
    try:
        return settings_from_config(config, pulumi.get_project(), source, stack=stack)
    except SettingsError as error:
        raise pulumi.RunError(str(error)) from None
