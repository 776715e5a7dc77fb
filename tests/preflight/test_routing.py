"""The one correlation-filter evaluation everything routes with (preflight/routing.py)."""

from __future__ import annotations

from typing import Any

import pytest

from preflight.routing import correlation_matches, gaps, receivers, routing
from tests.invariants import run_stack_file
from tests.support import IDENTITY_STACK_FILE, REPO


@pytest.mark.parametrize(
    ("correlation_filter", "message", "matches"),
    [
        ({"label": "model.trained"}, {"label": "model.trained"}, True),
        ({"label": "model.trained"}, {"label": "model.registered"}, False),
        # String comparison is case-sensitive (Microsoft Learn, topic-filters#correlation-filters).
        ({"label": "model.trained"}, {"label": "Model.Trained"}, False),
        # The emulator's Config.json spells the same properties in PascalCase.
        ({"Label": "model.trained"}, {"label": "model.trained"}, True),
        # Every property the filter sets must match, system and user properties alike.
        ({"label": "a", "contentType": "application/json"}, {"label": "a"}, False),
        ({"label": "a", "properties": {"tenant": "x"}}, {"label": "a", "properties": {"tenant": "x"}}, True),
        ({"label": "a", "properties": {"tenant": "x"}}, {"label": "a", "properties": {"tenant": "y"}}, False),
        # azure-native's requiresPreprocessing is how the broker handles the filter, not a condition.
        ({"label": "a", "requiresPreprocessing": True}, {"label": "a"}, True),
    ],
)
def test_correlation_filter(correlation_filter: dict[str, Any], message: dict[str, Any], matches: bool) -> None:
    assert correlation_matches(correlation_filter, message) is matches


@pytest.mark.parametrize("bad", [{}, {"requiresPreprocessing": True}, {"sqlExpression": "1=1"}])
def test_a_filter_that_sets_nothing_known_is_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="correlation filter"):
        correlation_matches(bad, {"label": "a"})


def test_rules_of_a_subscription_are_ored() -> None:
    filters = {"sbts-a": [{"label": "x"}, {"label": "y"}], "sbts-b": [{"label": "y"}]}
    assert receivers(filters, "x") == ["sbts-a"]
    assert receivers(filters, "y") == ["sbts-a", "sbts-b"]
    assert receivers(filters, "z") == []


def test_gaps_name_dropped_event_types_and_unfed_consumers() -> None:
    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    routes = routing(stack.settings, stack.run)
    found = gaps(routes)
    assert found.unreceived == ("data.audited",)
    assert found.unfed == ()


def test_the_markdown_report_lists_routing_gaps() -> None:
    from preflight.reports.markdown import _routing_gaps  # the section alone: the full report needs the pack

    stack = run_stack_file(REPO, IDENTITY_STACK_FILE)
    lines = "\n".join(_routing_gaps(routing(stack.settings, stack.run)))
    assert "### Routing gaps" in lines
    assert "**Published, received by no subscription:** `data.audited`" in lines
    assert "Consumers no publisher feeds" not in lines
