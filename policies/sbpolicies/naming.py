"""Naming: the CAF pattern and Azure's naming rules for Service Bus entities.

Source: Microsoft "Naming rules and restrictions for Azure resources" (Microsoft.ServiceBus) and the
Cloud Adoption Framework's abbreviations (sbns, sbt, sbts).
"""

from __future__ import annotations

import re

from pulumi_policy import ReportViolation, ResourceValidationArgs, Severity

from sbpolicies.common import ENVIRONMENT_PROPERTY, Meta, is_type, label, resource_policy, schema, value_at

NAMING_DOC = (
    "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules#microsoftservicebus"
)
DEFAULT_NAMESPACE_PATTERN = r"^sbns-[a-z0-9]+-{environment}-[a-z0-9]+-[0-9]{3}$"

_NAMESPACE_CHARS = re.compile(r"^[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]$")
_ENTITY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")
_TOPIC = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._/-]*[A-Za-z0-9])?$")


def namespace_rule_problem(name: str) -> str | None:
    """Why a namespace name breaks Azure's rules, or None."""
    if not 6 <= len(name) <= 50:
        return f"is {len(name)} characters long; Azure allows 6-50"
    if not _NAMESPACE_CHARS.match(name):
        return "must use only letters, digits and hyphens, start with a letter and end with a letter or digit"
    if name.lower().endswith(("-sb", "-mgmt")):
        return "must not end with '-sb' or '-mgmt' (reserved by Azure)"
    return None


NAMESPACE_NAME = Meta(
    name="servicebus-namespace-name",
    setting="workload",
    description="Service Bus namespace names follow the naming pattern and Azure's naming rules.",
    severity=Severity.MEDIUM,
    remediation=(
        "Name the namespace sbns-<workload>-<env>-<region>-<instance> (settings/naming.py does) and "
        "keep it 6-50 letters, digits and hyphens, starting with a letter, not ending in -sb or -mgmt."
    ),
    source="Microsoft naming rules (Microsoft.ServiceBus/namespaces); CAF abbreviation sbns",
    url=NAMING_DOC,
)


def check_namespace_name(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    config = args.get_config()
    who = label("Namespace", args.name, args.props)
    name = value_at(args.props, "namespaceName")
    if not isinstance(name, str):
        report(f"{who} has no namespaceName; set it explicitly so the name is deterministic.", None)
        return
    problem = namespace_rule_problem(name)
    if problem:
        report(f"{who}: name '{name}' {problem}.", None)
    pattern = str(config["pattern"]).replace("{environment}", re.escape(str(config["environment"])))
    if not re.fullmatch(pattern, name):
        report(f"{who}: name '{name}' does not match the required pattern {pattern}.", None)


ENTITY_NAMES = Meta(
    name="servicebus-entity-names",
    setting="services[].name",
    description="Topic, subscription, rule and SAS rule names use the configured prefixes and Azure's limits.",
    severity=Severity.LOW,
    remediation=(
        "Name topics sbt-..., subscriptions sbts-<service>, SAS rules sas-<service>; keep subscription "
        "and rule names to 1-50 letters, digits, '.', '-', '_', starting and ending alphanumeric."
    ),
    source="Microsoft naming rules (topics, subscriptions, rules, authorizationRules); CAF sbt/sbts",
    url=NAMING_DOC,
)

# type -> (name input, limit, character pattern, prefix config key or None)
_ENTITY_RULES: dict[str, tuple[str, int, re.Pattern[str], str | None]] = {
    "Topic": ("topicName", 260, _TOPIC, "topicPrefix"),
    "Subscription": ("subscriptionName", 50, _ENTITY, "subscriptionPrefix"),
    "Rule": ("ruleName", 50, _ENTITY, None),
    "TopicAuthorizationRule": ("authorizationRuleName", 50, _ENTITY, "authorizationRulePrefix"),
}


def check_entity_names(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = next((k for k in _ENTITY_RULES if is_type(args.resource_type, "servicebus", k)), None)
    if kind is None:
        return
    key, limit, chars, prefix_key = _ENTITY_RULES[kind]
    who = label(kind, args.name, args.props)
    name = value_at(args.props, key)
    if not isinstance(name, str):
        report(f"{who} has no {key}; set it explicitly so the name is deterministic.", None)
        return
    if not 1 <= len(name) <= limit:
        report(f"{who}: {key} '{name}' is {len(name)} characters long; Azure allows 1-{limit}.", None)
    if not chars.match(name):
        report(f"{who}: {key} '{name}' has characters Azure does not allow or bad first/last characters.", None)
    prefix = str(args.get_config()[prefix_key]) if prefix_key else ""
    if prefix and not name.startswith(prefix):
        report(f"{who}: {key} '{name}' must start with '{prefix}'.", None)


POLICIES = [
    resource_policy(
        NAMESPACE_NAME,
        check_namespace_name,
        schema(
            {
                "environment": ENVIRONMENT_PROPERTY,
                "pattern": {
                    "type": "string",
                    "default": DEFAULT_NAMESPACE_PATTERN,
                    "description": "Regular expression the name must match; {environment} is replaced.",
                },
            },
            required=["environment"],
        ),
    ),
    resource_policy(
        ENTITY_NAMES,
        check_entity_names,
        schema(
            {
                "topicPrefix": {"type": "string", "default": "sbt-"},
                "subscriptionPrefix": {"type": "string", "default": "sbts-"},
                "authorizationRulePrefix": {"type": "string", "default": "sas-"},
            }
        ),
    ),
]
