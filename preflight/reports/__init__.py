"""Report formats: text (people at a terminal), json (tools), markdown (pull requests), sarif (code scanning)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from preflight.pricing import Rates
from preflight.runner import Layout, StackResult


@dataclass(frozen=True)
class ReportContext:
    """What every renderer may need besides the results."""

    layout: Layout
    rates: Rates


Renderer = Callable[[Sequence[StackResult], ReportContext], str]


def renderers() -> dict[str, Renderer]:
    """Format name to renderer."""
    from preflight.reports import json_report, markdown, sarif, text

    return {"text": text.render, "json": json_report.render, "markdown": markdown.render, "sarif": sarif.render}
