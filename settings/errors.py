"""Errors that carry enough context to print one clear line per problem."""

from __future__ import annotations

from collections.abc import Iterable


class SettingsError(Exception):
    """Bad stack config: one line per problem, each naming the file, the key and what is allowed."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        super().__init__("\n".join(self.lines))


class KeyedError(ValueError):
    """A cross-field error that knows which key it is about (pydantic keeps it in ``ctx``)."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(message)
