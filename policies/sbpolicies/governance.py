"""Tags and protection: who owns and pays for it, which environment it is, and that it stays put."""

from __future__ import annotations

from collections.abc import Mapping

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from sbpolicies.common import (
    ENVIRONMENT_PROPERTY,
    Meta,
    is_type,
    known_value,
    label,
    references,
    resource_policy,
    schema,
    stack_policy,
    value_at,
)

TAGS_DOC = "https://learn.microsoft.com/azure/cloud-adoption-framework/ready/azure-best-practices/resource-tagging"
LOCK_DOC = "https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources"
PROTECT_DOC = "https://www.pulumi.com/docs/iac/concepts/options/protect/"
DEFAULT_REQUIRED_TAGS = ["environment", "workload", "owner", "costCenter"]


def _tagged_kind(resource_type: str) -> str | None:
    if is_type(resource_type, "servicebus", "Namespace"):
        return "Namespace"
    if is_type(resource_type, "resources", "ResourceGroup"):
        return "ResourceGroup"
    return None


REQUIRED_TAGS = Meta(
    name="required-tags",
    setting="tags",
    description="Namespaces and resource groups carry the required governance tags.",
    severity=Severity.LOW,
    remediation=("Set owner and costCenter under the stack file's tags; the program adds environment and workload."),
    source="Cloud Adoption Framework 'Define your tagging strategy'",
    url=TAGS_DOC,
)


def check_required_tags(args: ResourceValidationArgs, report: ReportViolation) -> None:
    kind = _tagged_kind(args.resource_type)
    if kind is None:
        return
    tags = value_at(args.props, "tags") or {}
    missing = [tag for tag in args.get_config()["requiredTags"] if not str(tags.get(tag) or "").strip()]
    if missing:
        who = label(kind, args.name, args.props)
        report(
            f"{who} lacks tag(s) {', '.join(missing)}; required: {', '.join(args.get_config()['requiredTags'])}.",
            None,
        )


ENVIRONMENT_TAG = Meta(
    name="environment-tag-matches-stack",
    setting="environment",
    description="Every resource's environment tag matches the environment this policy configuration judges.",
    severity=Severity.HIGH,
    remediation=(
        "Run the pack with policies/config/<stack>.json for the stack being deployed, and keep the stack "
        "file's environment equal to the stack name."
    ),
    source="This repo's GitOps contract: one policy config per stack file, same stem",
    url=TAGS_DOC,
)


def check_environment_tag(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ok, tags = known_value(args.props, "tags")
    if not ok or not isinstance(tags, Mapping) or "environment" not in tags:
        return
    expected = str(args.get_config()["environment"])
    found = tags["environment"]
    if found != expected:
        report(
            f"{args.resource_type.rsplit(':', 1)[-1]} '{args.name}' is tagged environment={found}, but this "
            f"policy configuration judges {expected}; use the matching policies/config file.",
            None,
        )


NAMESPACE_PROTECTED = Meta(
    name="servicebus-namespace-protected",
    setting="namespace.protected",
    description="Namespaces are protected against deletion by Pulumi.",
    severity=Severity.HIGH,
    remediation="Set namespace.protected: true in the stack file (the component then sets protect).",
    source="Pulumi resource option `protect`",
    url=PROTECT_DOC,
)


def check_namespace_protected(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    if not args.opts.protect:
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(f"{who} has protect=false; required: protect=true.", None)


DELETE_LOCK = Meta(
    name="servicebus-namespace-delete-lock",
    setting="namespace.deleteLock",
    description="A CanNotDelete management lock covers each namespace.",
    severity=Severity.HIGH,
    remediation="Set namespace.deleteLock: true; the component adds a CanNotDelete ManagementLockByScope.",
    source="Microsoft 'Lock your resources to protect your infrastructure'",
    url=LOCK_DOC,
)
_LOCK_KINDS = ("ManagementLockByScope", "ManagementLockAtResourceLevel", "ManagementLockAtResourceGroupLevel")


def _covers(lock: PolicyResource, namespace: PolicyResource) -> bool:
    if value_at(lock.props, "level") != "CanNotDelete":
        return False
    if is_type(lock.resource_type, "authorization", "ManagementLockByScope"):
        return references(lock, "scope", namespace, ("id",))
    if is_type(lock.resource_type, "authorization", "ManagementLockAtResourceLevel"):
        return references(lock, "resourceName", namespace, ("namespaceName", "name"))
    return references(lock, "resourceGroupName", namespace, ()) or any(
        dep.urn in {d.urn for d in namespace.property_dependencies.get("resourceGroupName", [])}
        for dep in lock.property_dependencies.get("resourceGroupName", [])
    )


def check_delete_lock(args: StackValidationArgs, report: ReportViolation) -> None:
    locks = [r for r in args.resources if any(is_type(r.resource_type, "authorization", k) for k in _LOCK_KINDS)]
    for namespace in (r for r in args.resources if is_type(r.resource_type, "servicebus", "Namespace")):
        if not any(_covers(lock, namespace) for lock in locks):
            who = label("Namespace", namespace.name, namespace.props, "namespaceName")
            report(f"{who} has no CanNotDelete management lock; required: one on the namespace.", namespace.urn)


POLICIES = [
    resource_policy(
        REQUIRED_TAGS,
        check_required_tags,
        schema(
            {
                "requiredTags": {
                    "type": "array",
                    "items": {"type": "string", "minLength": 1},
                    "default": DEFAULT_REQUIRED_TAGS,
                }
            }
        ),
    ),
    resource_policy(
        ENVIRONMENT_TAG, check_environment_tag, schema({"environment": ENVIRONMENT_PROPERTY}, ["environment"])
    ),
    resource_policy(NAMESPACE_PROTECTED, check_namespace_protected),
    stack_policy(DELETE_LOCK, check_delete_lock),
]
