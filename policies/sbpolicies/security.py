"""Security: TLS, local (SAS) auth, SAS rules, network exposure, encryption and data-plane RBAC.

Sources are the controls table of docs/azure-facts.md: Azure Policy built-ins
(cited by the leading 8 characters of their definition IDs, as that table gives them), Checkov and
PSRule rule IDs per control.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from sbpolicies.common import (
    CONTRIBUTOR,
    DATA_OWNER,
    DATA_RECEIVER,
    DATA_SENDER,
    OWNER,
    ROLE_NAMES,
    Meta,
    depends_on,
    in_namespace,
    is_list,
    is_namespace_id,
    is_type,
    known_value,
    label,
    namespaces,
    of_type,
    quietly,
    resource_policy,
    schema,
    stack_policy,
    value_at,
)

ENTRA_AUTH_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/authenticate-application"

MINIMUM_TLS = Meta(
    name="servicebus-minimum-tls",
    setting="namespace.minimumTlsVersion",
    description="Namespaces require TLS 1.2 or newer from clients.",
    severity=Severity.HIGH,
    remediation="Set namespace.minimumTlsVersion: '1.2' (or '1.3') in the stack file.",
    source="Checkov CKV_AZURE_205; PSRule Azure.ServiceBus.MinTLS",
    anchors=("Checkov:CKV_AZURE_205", "PSRule:Azure.ServiceBus.MinTLS", "APRL:f075a1bd"),
    url=("https://learn.microsoft.com/azure/service-bus-messaging/transport-layer-security-enforce-minimum-version"),
)
_TLS_ORDER = ["1.0", "1.1", "1.2", "1.3"]


def check_minimum_tls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    required = str(args.get_config()["minimumVersion"])
    found = value_at(args.props, "minimumTlsVersion")
    who = label("Namespace", args.name, args.props, "namespaceName")
    if found is None:
        report(f"{who} does not set minimumTlsVersion; required: {required} or newer.", None)
    elif str(found) not in _TLS_ORDER or _TLS_ORDER.index(str(found)) < _TLS_ORDER.index(required):
        report(f"{who} allows TLS {found}; required: {required} or newer.", None)


LOCAL_AUTH_DISABLED = Meta(
    name="servicebus-local-auth-disabled",
    setting="namespace.localAuthEnabled",
    description="Namespaces disable local (SAS key) authentication so only Entra ID can authorize.",
    severity=Severity.HIGH,
    remediation="Set namespace.localAuthEnabled: false and give each service a principalId (RBAC).",
    source="Azure Policy cfb11c26; Checkov CKV_AZURE_203; PSRule Azure.ServiceBus.DisableLocalAuth",
    anchors=(
        "AzurePolicy:cfb11c26",
        "AzurePolicy:910711a6",
        "Checkov:CKV_AZURE_203",
        "PSRule:Azure.ServiceBus.DisableLocalAuth",
    ),
    url="https://learn.microsoft.com/azure/service-bus-messaging/disable-local-authentication",
)


def check_local_auth_disabled(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    disabled = value_at(args.props, "disableLocalAuth")
    if disabled is not True:
        who = label("Namespace", args.name, args.props, "namespaceName")
        found = "not set (Azure default: enabled)" if disabled is None else f"disableLocalAuth={str(disabled).lower()}"
        report(f"{who} allows SAS keys ({found}); required: disableLocalAuth=true.", None)


NO_NAMESPACE_SAS_RULES = Meta(
    name="servicebus-no-namespace-sas-rules",
    setting="namespace.localAuthEnabled",
    description="No namespace-level SAS rules exist besides the built-in RootManageSharedAccessKey.",
    severity=Severity.HIGH,
    remediation="Remove the NamespaceAuthorizationRule; grant Data Sender/Receiver roles or a topic-scoped rule.",
    source="Azure Policy a1817ec0",
    anchors=("AzurePolicy:a1817ec0",),
    url=ENTRA_AUTH_DOC,
)


def check_no_namespace_sas_rules(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "NamespaceAuthorizationRule"):
        return
    name = value_at(args.props, "authorizationRuleName")
    if name != "RootManageSharedAccessKey":
        report(
            f"NamespaceAuthorizationRule '{name or args.name}' grants namespace-wide SAS access; "
            "required: none besides RootManageSharedAccessKey.",
            None,
        )


PUBLIC_NETWORK = Meta(
    name="servicebus-public-network-access",
    setting="namespace.publicNetworkAccess",
    description="Namespaces are not reachable from every public network.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set namespace.publicNetworkAccess: Disabled with a private endpoint, or add a "
        "NamespaceNetworkRuleSet with defaultAction Deny and the allowed IP ranges (never a /0 range); a "
        "rule set behind a Disabled namespace must not set publicNetworkAccess Enabled."
    ),
    source=(
        "Azure Policy cbd11fd3; Checkov CKV_AZURE_204; a rule set's publicNetworkAccess is the namespace's "
        "(pulumi/pulumi-azure-native#4825, fixed by #4832: no longer sent when unset)"
    ),
    url="https://learn.microsoft.com/azure/service-bus-messaging/network-security",
    anchors=("AzurePolicy:cbd11fd3", "Checkov:CKV_AZURE_204"),
)


def _open_ranges(rule_set: PolicyResource) -> list[str]:
    """The rule set's IP rules that allow every address (a /0 prefix: 0.0.0.0/0, ::/0)."""
    return quietly(_find_open_ranges, rule_set, unknown=[])


def _find_open_ranges(rule_set: PolicyResource) -> list[str]:
    found = []
    for rule in value_at(rule_set.props, "ipRules") or []:
        mask = str(value_at(rule, "ipMask") or "").strip()
        if mask.endswith("/0") and value_at(rule, "action") in (None, "Allow"):
            found.append(mask)
    return found


def _denies(rule_set: PolicyResource) -> bool:
    return bool(value_at(rule_set.props, "defaultAction") == "Deny")


def check_public_network(args: StackValidationArgs, report: ReportViolation) -> None:
    rule_sets = of_type(args.resources, "servicebus", "NamespaceNetworkRuleSet")
    for namespace in namespaces(args.resources):
        who = label("Namespace", namespace.name, namespace.props, "namespaceName")
        own = [rs for rs in rule_sets if in_namespace(rs, namespace)]
        open_ranges = {rs.urn: _open_ranges(rs) for rs in own}
        for rule_set in own:
            for mask in open_ranges[rule_set.urn]:
                report(
                    f"{who}: network rule set '{rule_set.name}' allows {mask}, every address; required: only "
                    "the ranges that need access (or none, with a private endpoint).",
                    rule_set.urn,
                )
        ok, access = known_value(namespace.props, "publicNetworkAccess")
        if not ok:
            continue  # unknown during preview: judged on the next run
        if access == "Disabled":
            # The rule set's publicNetworkAccess is the namespace's own setting: "Enabled" there re-opens
            # it. Unset is fine: since pulumi/pulumi-azure-native#4832 (fixing #4825) the provider no longer
            # sends the spec default "Enabled" and Azure keeps the namespace's value; the pinned 3.29.0
            # SDK leaves it out (namespace_network_rule_set.py), unlike Namespace's, which fills "Enabled".
            for rule_set in own:
                ok, rs_access = known_value(rule_set.props, "publicNetworkAccess")
                if ok and rs_access == "Enabled":
                    report(
                        f"{who} has publicNetworkAccess=Disabled but network rule set '{rule_set.name}' sets "
                        "publicNetworkAccess=Enabled, which re-opens it; required: Disabled (or unset) on the "
                        "rule set too.",
                        rule_set.urn,
                    )
            continue
        restricted = any(quietly(_denies, rs, unknown=True) and not open_ranges[rs.urn] for rs in own)
        if not restricted:
            report(
                f"{who} has publicNetworkAccess={access or 'Enabled (default)'} and no network rule set "
                "denying by default; required: publicNetworkAccess Disabled with a private endpoint, or a "
                "NamespaceNetworkRuleSet with defaultAction Deny.",
                namespace.urn,
            )


CUSTOMER_MANAGED_KEY = Meta(
    name="servicebus-customer-managed-key",
    setting="namespace.customerManagedKey",
    description="Premium namespaces encrypt data at rest with a customer-managed key they can reach.",
    severity=Severity.MEDIUM,
    remediation=(
        "Configure encryption with keySource Microsoft.KeyVault, keyVaultProperties with keyName and "
        "keyVaultUri, and a namespace identity that can read the key: the user-assigned identity named by "
        "the key's identity.userAssignedIdentity, or a system-assigned identity."
    ),
    source="Azure Policy 295fc8b1; Checkov CKV_AZURE_201",
    url="https://learn.microsoft.com/azure/service-bus-messaging/configure-customer-managed-key",
    anchors=("AzurePolicy:295fc8b1", "Checkov:CKV_AZURE_201"),
)


def _identity_types(props: Mapping[str, Any]) -> set[str]:
    kind = value_at(props, "identity", "type")
    return {part.strip() for part in str(kind or "").split(",") if part.strip() and part.strip() != "None"}


def cmk_problems(props: Mapping[str, Any]) -> list[str]:
    """Why a namespace's encryption is not a usable customer-managed key (empty when it is)."""
    source = value_at(props, "encryption", "keySource")
    if source != "Microsoft.KeyVault":
        return [f"uses keySource {source or 'Microsoft-managed (default)'}; required: Microsoft.KeyVault"]
    keys = value_at(props, "encryption", "keyVaultProperties")
    if not is_list(keys) or not keys:
        return ["sets keySource Microsoft.KeyVault but no keyVaultProperties; required: a key (keyName, keyVaultUri)"]
    problems = []
    types = _identity_types(props)
    assigned = {str(i).lower() for i in value_at(props, "identity", "userAssignedIdentities") or []}
    for index, key in enumerate(keys):
        missing = [field for field in ("keyName", "keyVaultUri") if not value_at(key, field)]
        if missing:
            problems.append(f"key {index} lacks {' and '.join(missing)}")
        user = value_at(key, "identity", "userAssignedIdentity")
        if user:
            if "UserAssigned" not in types or str(user).lower() not in assigned:
                problems.append(
                    f"key {index} uses identity {user}, which is not among the namespace's user-assigned identities"
                )
        elif "SystemAssigned" not in types:
            problems.append(f"key {index} names no user-assigned identity and the namespace has no system-assigned one")
    return problems


def check_customer_managed_key(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    if value_at(args.props, "sku", "name") != "Premium":
        return  # Only Premium supports customer-managed keys.
    problems = cmk_problems(args.props)
    if problems:
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(f"{who} {'; '.join(problems)}. Fix: {CUSTOMER_MANAGED_KEY.remediation}", None)


DOUBLE_ENCRYPTION = Meta(
    name="servicebus-double-encryption",
    setting="namespace.customerManagedKey",
    description="Namespaces with a customer-managed key also require infrastructure (double) encryption.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set encryption.requireInfrastructureEncryption: true with the customer-managed key; it can only be "
        "set when the namespace is created, so a change replaces it (migrate the messages first)."
    ),
    source="Azure Policy ebaf4f25; Checkov CKV_AZURE_199",
    url="https://learn.microsoft.com/azure/service-bus-messaging/configure-customer-managed-key",
    anchors=("AzurePolicy:ebaf4f25", "Checkov:CKV_AZURE_199"),
)


def check_double_encryption(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    if value_at(args.props, "encryption", "keySource") != "Microsoft.KeyVault":
        return  # Judged only with a customer-managed key (servicebus-customer-managed-key asks for one).
    if value_at(args.props, "encryption", "requireInfrastructureEncryption") is not True:
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(
            f"{who} uses a customer-managed key without requireInfrastructureEncryption; required: true "
            "(set at creation).",
            None,
        )


MANAGED_IDENTITY = Meta(
    name="servicebus-managed-identity",
    setting="namespace.systemAssignedIdentity",
    description="Namespaces have a managed identity to reach Key Vault and other Azure services without secrets.",
    severity=Severity.MEDIUM,
    remediation="Set identity.type SystemAssigned or UserAssigned (with userAssignedIdentities) on the namespace.",
    source="Checkov CKV_AZURE_202",
    url="https://learn.microsoft.com/azure/service-bus-messaging/service-bus-managed-service-identity",
    anchors=("Checkov:CKV_AZURE_202",),
)


def check_managed_identity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    if not _identity_types(args.props):
        who = label("Namespace", args.name, args.props, "namespaceName")
        found = value_at(args.props, "identity", "type")
        report(
            f"{who} has no managed identity (identity.type {found or 'not set'}); required: SystemAssigned "
            "or UserAssigned.",
            None,
        )


PRIVATE_LINK = Meta(
    name="servicebus-private-endpoint",
    setting="namespace.privateNetworking",
    description="Premium namespaces are reached through a private endpoint for the namespace group.",
    severity=Severity.HIGH,
    remediation=(
        "Add a network.PrivateEndpoint whose privateLinkServiceConnections name the namespace ID with "
        "groupIds ['namespace'] (with its PrivateDnsZoneGroup for privatelink.servicebus.windows.net)."
    ),
    source="Azure Policy 1c06e275",
    url="https://learn.microsoft.com/azure/service-bus-messaging/private-link-service",
    anchors=("AzurePolicy:1c06e275", "AzurePolicy:7d890f7f", "AzurePolicy:f0fcf93c"),
)


def _serves(endpoint: PolicyResource, namespace: PolicyResource) -> bool:
    for key in ("privateLinkServiceConnections", "manualPrivateLinkServiceConnections"):
        ok, connections = known_value(endpoint.props, key)
        if not ok:
            if depends_on(endpoint, key, namespace):
                return True  # unknown during preview but built from the namespace
            continue
        for connection in connections or []:
            groups = [str(g).lower() for g in value_at(connection, "groupIds") or []]
            if "namespace" not in groups:
                continue
            target = value_at(connection, "privateLinkServiceId")
            if is_namespace_id(target, namespace) or depends_on(endpoint, key, namespace):
                return True
    return False


def _serves_quietly(endpoint: PolicyResource, namespace: PolicyResource) -> bool:
    return quietly(_serves, endpoint, namespace, unknown=True)


def check_private_link(args: StackValidationArgs, report: ReportViolation) -> None:
    endpoints = of_type(args.resources, "network", "PrivateEndpoint")
    for namespace in namespaces(args.resources):
        if known_value(namespace.props, "sku", "name") != (True, "Premium"):
            continue  # private link is a Premium feature; servicebus-tier-premium asks for Premium
        if not any(_serves_quietly(endpoint, namespace) for endpoint in endpoints):
            who = label("Namespace", namespace.name, namespace.props, "namespaceName")
            report(
                f"{who} has no private endpoint with group 'namespace' pointing at it; required: a "
                "network.PrivateEndpoint whose privateLinkServiceId is the namespace ID and groupIds ['namespace'].",
                namespace.urn,
            )


SAS_NO_MANAGE = Meta(
    name="servicebus-sas-no-manage",
    setting="namespace.localAuthEnabled",
    description="Topic and queue SAS rules never grant Manage, which can change or delete the entity.",
    severity=Severity.HIGH,
    remediation="Grant only Send or Listen on the TopicAuthorizationRule/QueueAuthorizationRule, or use RBAC.",
    source="Microsoft 'Service Bus access control with Shared Access Signatures' (Manage implies Send and Listen)",
    url="https://learn.microsoft.com/azure/service-bus-messaging/service-bus-sas",
)


def _grants_manage(rights: list[Any]) -> bool:
    return any(str(right).lower() == "manage" for right in rights)


def check_sas_no_manage(args: ResourceValidationArgs, report: ReportViolation) -> None:
    for kind, name_key in (("TopicAuthorizationRule", "topicName"), ("QueueAuthorizationRule", "queueName")):
        if not is_type(args.resource_type, "servicebus", kind):
            continue
        ok, rights = known_value(args.props, "rights")
        if not ok or not is_list(rights):
            return
        if quietly(_grants_manage, rights, unknown=False):
            rule = value_at(args.props, "authorizationRuleName") or args.name
            report(
                f"{kind} '{rule}' on {name_key.removesuffix('Name')} grants Manage; required: Send and/or Listen only.",
                None,
            )


RBAC_LEAST_PRIVILEGE = Meta(
    name="servicebus-rbac-least-privilege",
    setting="services[].principalId",
    description="Data roles go only on the topic (Sender) or the service's own subscription (Receiver).",
    severity=Severity.CRITICAL,
    remediation=(
        "Grant Azure Service Bus Data Sender on the topic to publishers and Data Receiver on their own "
        "subscription to consumers; never Owner, Contributor or a Service Bus data role on the namespace, "
        "its resource group or the Azure subscription."
    ),
    source="Microsoft 'Authenticate and authorize an application with Entra ID to access Service Bus'",
    url=ENTRA_AUTH_DOC,
)
_SB = "/providers/microsoft.servicebus/namespaces/"
# Refused at namespace, resource group, Azure subscription or management group scope.
_BROAD_ROLES = {OWNER, CONTRIBUTOR, DATA_OWNER, DATA_SENDER, DATA_RECEIVER}
# Which data role belongs on which Service Bus entity.
_ENTITY_ROLES = {"topic": {DATA_SENDER}, "subscription": {DATA_RECEIVER}, "queue": {DATA_SENDER, DATA_RECEIVER}}
_DEP_KINDS = (  # most specific first
    ("servicebus", "Subscription", "subscription"),
    ("servicebus", "Topic", "topic"),
    ("servicebus", "Queue", "queue"),
    ("servicebus", "Namespace", "namespace"),
    ("resources", "ResourceGroup", "resource group"),
)


def _kind_from_id(scope: str) -> str | None:
    text = scope.strip().lower().rstrip("/")
    if _SB in text:
        parts = text.split(_SB, 1)[1].split("/")
        kinds = {1: "namespace", 3: {"topics": "topic", "queues": "queue"}.get(parts[1] if len(parts) > 1 else "")}
        if len(parts) == 5 and parts[1] == "topics" and parts[3] == "subscriptions":
            return "subscription"
        return kinds.get(len(parts)) or "service bus"
    if re.fullmatch(r"/subscriptions/[^/]+/resourcegroups/[^/]+", text):
        return "resource group"
    if re.fullmatch(r"/subscriptions/[^/]+", text):
        return "subscription scope"
    if re.fullmatch(r"/providers/microsoft\.management/managementgroups/[^/]+", text):
        return "management group"
    return None  # some other resource: not this rule's concern


def scope_kind(assignment: PolicyResource) -> str | None:
    """What a role assignment's scope is: namespace, topic, subscription (of a topic), queue, another
    Service Bus scope, resource group, subscription scope (Azure subscription), management group, or None."""
    ok, scope = known_value(assignment.props, "scope")
    if ok and isinstance(scope, str):
        return _kind_from_id(scope)
    deps = assignment.property_dependencies.get("scope", [])
    for module, kind, name in _DEP_KINDS:
        if any(is_type(dep.resource_type, module, kind) for dep in deps):
            return name
    if any(dep.resource_type.startswith("azure-native:servicebus") for dep in deps):
        return "service bus"
    return None


_WHERE = {
    "namespace": "a Service Bus scope (the whole namespace)",
    "service bus": "a Service Bus scope",
    "topic": "a Service Bus scope (a topic)",
    "subscription": "a Service Bus scope (a topic subscription)",
    "queue": "a Service Bus scope (a queue)",
    "resource group": "resource group scope",
    "subscription scope": "Azure subscription scope",
    "management group": "management group scope",
}


def check_rbac_least_privilege(args: StackValidationArgs, report: ReportViolation) -> None:
    allowed = {str(role).lower() for role in args.get_config()["allowedRoleDefinitionIds"]}
    for assignment in of_type(args.resources, "authorization", "RoleAssignment"):
        kind = scope_kind(assignment)
        if kind is None:
            continue
        ok, role_id = known_value(assignment.props, "roleDefinitionId")
        if not ok:
            continue  # unknown during preview: judged on the next run
        guid = str(role_id or "").rsplit("/", 1)[-1].lower()
        role = ROLE_NAMES.get(guid, guid or "(not set)")
        where = _WHERE[kind]
        if kind in ("resource group", "subscription scope", "management group"):
            if guid in _BROAD_ROLES:
                report(
                    f"RoleAssignment '{assignment.name}' grants {role} at {where}, which covers every Service "
                    "Bus namespace below it; required: Data Sender on the topic or Data Receiver on the "
                    "service's own subscription.",
                    assignment.urn,
                )
            continue
        fitting = _ENTITY_ROLES.get(kind, set()) & allowed
        if guid not in fitting:
            need = (
                "Azure Service Bus Data Sender on the topic or Data Receiver on the service's own subscription"
                if kind in ("namespace", "service bus")
                else " or ".join(ROLE_NAMES[r] for r in sorted(fitting)) or "no role allowed by the configuration"
            )
            report(
                f"RoleAssignment '{assignment.name}' grants {role} on {where}; required: {need} only.",
                assignment.urn,
            )


POLICIES = [
    resource_policy(
        MINIMUM_TLS,
        check_minimum_tls,
        schema({"minimumVersion": {"type": "string", "enum": ["1.2", "1.3"], "default": "1.2"}}),
    ),
    resource_policy(LOCAL_AUTH_DISABLED, check_local_auth_disabled),
    resource_policy(NO_NAMESPACE_SAS_RULES, check_no_namespace_sas_rules),
    resource_policy(SAS_NO_MANAGE, check_sas_no_manage),
    stack_policy(PUBLIC_NETWORK, check_public_network),
    stack_policy(PRIVATE_LINK, check_private_link),
    resource_policy(CUSTOMER_MANAGED_KEY, check_customer_managed_key),
    resource_policy(DOUBLE_ENCRYPTION, check_double_encryption),
    resource_policy(MANAGED_IDENTITY, check_managed_identity),
    stack_policy(
        RBAC_LEAST_PRIVILEGE,
        check_rbac_least_privilege,
        schema(
            {
                "allowedRoleDefinitionIds": {
                    "type": "array",
                    "items": {"type": "string", "pattern": "^[0-9a-fA-F-]{36}$"},
                    "default": [DATA_SENDER, DATA_RECEIVER],
                    "description": "Role definition GUIDs allowed on Service Bus scopes.",
                }
            }
        ),
    ),
]
