"""Routing: every subscription filters its events; every topic has a subscription.

A new subscription gets a ``$Default`` rule with a TrueFilter and so receives every message on the
topic until that rule is replaced; adding another rule does not remove it (Microsoft "Topic
filters and actions"; docs/azure-facts.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import PolicyResource, ReportViolation, Severity, StackValidationArgs
from pulumi_policy.proxy import UnknownValueError

from sbpolicies.common import Meta, Referrers, is_type, known_value, label, stack_policy, value_at

FILTERS_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/topic-filters"
_MATCH_FIELDS = (
    "label",
    "properties",
    "correlationId",
    "messageId",
    "to",
    "replyTo",
    "sessionId",
    "replyToSessionId",
    "contentType",
)
# A SQL filter that is always true: TRUE, or a literal compared with itself (1=1, 2 = 2, 'a'='a'),
# in any case and spacing, optionally in parentheses.
_ALWAYS_TRUE_SQL = re.compile(r"^(?:true|(-?\d+(?:\.\d+)?|'[^']*')=\1)$")

FILTER_REQUIRED = Meta(
    name="servicebus-subscription-filter-required",
    setting="services[].consumes",
    description="Every subscription replaces its catch-all $Default rule and has no rule that matches every message.",
    severity=Severity.HIGH,
    remediation=(
        "List the event types the service consumes under `consumes:`; the component then replaces the "
        "$Default rule (servicebus.DefaultRule) with a correlation filter on them; remove any extra Rule whose "
        "filter is always true (SQL 1=1 or TRUE, or a correlation filter that sets no property)."
    ),
    source="Microsoft 'Topic filters and actions' ($Default TrueFilter receives every message)",
    url=FILTERS_DOC,
)


def always_true_sql(expression: str) -> bool:
    """Whether a SQL filter expression matches every message (``1=1``, ``2 = 2``, ``TRUE``, ...)."""
    text = re.sub(r"\s+", "", expression).lower()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1]
    return bool(_ALWAYS_TRUE_SQL.match(text))


def filter_problem(props: Mapping[str, Any]) -> str | None:
    """Why a rule's filter would still match every message, or None if it is selective (or unknown)."""
    try:
        return _filter_problem(props)
    except UnknownValueError:
        return None  # unknown during preview: judged on the next run


def _filter_problem(props: Mapping[str, Any]) -> str | None:
    filter_type = value_at(props, "filterType")
    if filter_type == "CorrelationFilter":
        correlation = value_at(props, "correlationFilter") or {}
        if not any(correlation.get(field) for field in _MATCH_FIELDS):
            return "its correlation filter matches on nothing"
        return None
    if filter_type == "SqlFilter":
        expression = str(value_at(props, "sqlFilter", "sqlExpression") or "").strip()
        if not expression or always_true_sql(expression):
            return f"its SQL filter '{expression or '(empty)'}' matches every message"
        return None
    return f"its filterType is {filter_type or '(not set)'}"


def _subscription_keys() -> tuple[str, ...]:
    return ("subscriptionName", "name")


def _replaces_default(rule: PolicyResource) -> bool:
    """Whether a rule that references a subscription replaces its ``$Default`` rule."""
    if is_type(rule.resource_type, "servicebus", "DefaultRule"):
        return True
    ok, name = known_value(rule.props, "ruleName")
    return ok and name == "$Default"


def check_filter_required(args: StackValidationArgs, report: ReportViolation) -> None:
    rules = [
        r
        for r in args.resources
        if is_type(r.resource_type, "servicebus", "DefaultRule") or is_type(r.resource_type, "servicebus", "Rule")
    ]
    # Indexed once: asking every rule about every subscription was quadratic in the pipeline's size.
    rules_of = Referrers(rules, "subscriptionName")
    for subscription in (r for r in args.resources if is_type(r.resource_type, "servicebus", "Subscription")):
        who = label("Subscription", subscription.name, subscription.props, "subscriptionName")
        own = rules_of.of(subscription, _subscription_keys())
        replacements = [rule for rule in own if _replaces_default(rule)]
        if not replacements:
            report(
                f"{who} keeps the $Default TrueFilter and would receive every event on the topic; "
                "required: a DefaultRule with a filter for its own event types.",
                subscription.urn,
            )
            continue
        for rule in replacements:
            problem = filter_problem(rule.props)
            if problem:
                report(f"{who}: the rule replacing $Default ({rule.name}) is not selective: {problem}.", rule.urn)
        for rule in own:
            if rule in replacements or not is_type(rule.resource_type, "servicebus", "Rule"):
                continue
            problem = filter_problem(rule.props)
            if problem:
                report(
                    f"{who}: its extra rule '{rule.name}' makes it receive every event on the topic: {problem}; "
                    "required: a filter for its own event types, or remove the rule.",
                    rule.urn,
                )


TOPIC_HAS_SUBSCRIPTION = Meta(
    name="servicebus-topic-has-subscription",
    setting="services",
    description="Every topic has at least one subscription, so published events are not discarded.",
    severity=Severity.MEDIUM,
    remediation="Add a consuming service (a service with `consumes:`) or remove the topic.",
    source="Microsoft 'Topics and subscriptions' (a message to a topic with no subscription is not kept)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/service-bus-queues-topics-subscriptions",
)


def check_topic_has_subscription(args: StackValidationArgs, report: ReportViolation) -> None:
    subscriptions = Referrers(
        (r for r in args.resources if is_type(r.resource_type, "servicebus", "Subscription")), "topicName"
    )
    for topic in (r for r in args.resources if is_type(r.resource_type, "servicebus", "Topic")):
        if not subscriptions.of(topic, ("topicName", "name")):
            who = label("Topic", topic.name, topic.props, "topicName")
            report(f"{who} has no subscription; required: at least one.", topic.urn)


POLICIES = [
    stack_policy(FILTER_REQUIRED, check_filter_required),
    stack_policy(TOPIC_HAS_SUBSCRIPTION, check_topic_has_subscription),
]
