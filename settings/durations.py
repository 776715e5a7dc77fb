"""ISO 8601 durations: how Azure writes them, and the range check every duration setting uses."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AfterValidator


def iso8601(value: timedelta) -> str:
    """Render a duration the way Azure's API expects it, e.g. ``PT1M`` or ``P14D``."""
    days = value.days
    seconds = value.seconds
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    time_part = "".join(f"{amount}{unit}" for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S")) if amount)
    date_part = f"{days}D" if days else ""
    if not date_part and not time_part:
        return "PT0S"
    return f"P{date_part}" + (f"T{time_part}" if time_part else "")


def within(low: timedelta, high: timedelta | None, what: str) -> AfterValidator:
    """A duration from ``low`` to ``high`` (no upper bound when None); the error says both in ISO 8601."""

    def check(value: timedelta) -> timedelta:
        if value < low or (high is not None and value > high):
            bounds = f"between {iso8601(low)} and {iso8601(high)}" if high is not None else f"at least {iso8601(low)}"
            raise ValueError(f"{what} must be {bounds} (got {iso8601(value)})")
        return value

    return AfterValidator(check)
