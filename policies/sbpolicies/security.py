"""Security: TLS, local (SAS) auth, SAS rules, network exposure, encryption and data-plane RBAC.

Sources are the controls table of docs/azure-facts.md: Azure Policy built-ins
(cited by the leading 8 characters of their definition IDs, as that table gives them), Checkov and
PSRule rule IDs per control.
"""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    Severity,
    StackValidationArgs,
)

from sbpolicies.common import (
    DATA_RECEIVER,
    DATA_SENDER,
    ROLE_NAMES,
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

ENTRA_AUTH_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/authenticate-application"

MINIMUM_TLS = Meta(
    name="servicebus-minimum-tls",
    description="Namespaces require TLS 1.2 or newer from clients.",
    severity=Severity.HIGH,
    remediation="Set namespace.minimumTlsVersion: '1.2' (or '1.3') in the stack file.",
    source="Checkov CKV_AZURE_205; PSRule Azure.ServiceBus.MinTLS",
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
    description="Namespaces disable local (SAS key) authentication so only Entra ID can authorize.",
    severity=Severity.HIGH,
    remediation="Set namespace.localAuthEnabled: false and give each service a principalId (RBAC).",
    source="Azure Policy cfb11c26; Checkov CKV_AZURE_203; PSRule Azure.ServiceBus.DisableLocalAuth",
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
    description="No namespace-level SAS rules exist besides the built-in RootManageSharedAccessKey.",
    severity=Severity.HIGH,
    remediation="Remove the NamespaceAuthorizationRule; grant Data Sender/Receiver roles or a topic-scoped rule.",
    source="Azure Policy a1817ec0",
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
    description="Namespaces are not reachable from every public network.",
    severity=Severity.MEDIUM,
    remediation=(
        "Set namespace.publicNetworkAccess: Disabled with a private endpoint, or add a "
        "NamespaceNetworkRuleSet with defaultAction Deny and the allowed IP ranges."
    ),
    source="Azure Policy cbd11fd3; Checkov CKV_AZURE_204",
    url="https://learn.microsoft.com/azure/service-bus-messaging/network-security",
    enforcement_level=EnforcementLevel.ADVISORY,
)


def check_public_network(args: StackValidationArgs, report: ReportViolation) -> None:
    rule_sets = [r for r in args.resources if is_type(r.resource_type, "servicebus", "NamespaceNetworkRuleSet")]
    for namespace in (r for r in args.resources if is_type(r.resource_type, "servicebus", "Namespace")):
        access = value_at(namespace.props, "publicNetworkAccess")
        if access == "Disabled":
            continue
        restricted = any(
            references(rs, "namespaceName", namespace, ("namespaceName", "name"))
            and value_at(rs.props, "defaultAction") == "Deny"
            for rs in rule_sets
        )
        if not restricted:
            who = label("Namespace", namespace.name, namespace.props, "namespaceName")
            report(
                f"{who} has publicNetworkAccess={access or 'Enabled (default)'} and no network rule set "
                "denying by default; required: Disabled or restricted. Advisory while this program has "
                "no private networking.",
                namespace.urn,
            )


CUSTOMER_MANAGED_KEY = Meta(
    name="servicebus-customer-managed-key",
    description="Premium namespaces encrypt data at rest with a customer-managed key.",
    severity=Severity.LOW,
    remediation="Configure encryption with keySource Microsoft.KeyVault and a managed identity on the namespace.",
    source="Azure Policy 295fc8b1; Checkov CKV_AZURE_201",
    url="https://learn.microsoft.com/azure/service-bus-messaging/configure-customer-managed-key",
    enforcement_level=EnforcementLevel.ADVISORY,
)


def check_customer_managed_key(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if not is_type(args.resource_type, "servicebus", "Namespace"):
        return
    if value_at(args.props, "sku", "name") != "Premium":
        return  # Only Premium supports customer-managed keys.
    source = value_at(args.props, "encryption", "keySource")
    if source != "Microsoft.KeyVault":
        who = label("Namespace", args.name, args.props, "namespaceName")
        report(
            f"{who} uses keySource {source or 'Microsoft-managed (default)'}; required: Microsoft.KeyVault.",
            None,
        )


RBAC_LEAST_PRIVILEGE = Meta(
    name="servicebus-rbac-least-privilege",
    description="Role assignments on Service Bus scopes grant only Data Sender or Data Receiver.",
    severity=Severity.CRITICAL,
    remediation=(
        "Grant Azure Service Bus Data Sender on the topic to publishers and Data Receiver on their own "
        "subscription to consumers; never Owner, Contributor or Data Owner on the namespace."
    ),
    source="Microsoft 'Authenticate and authorize an application with Entra ID to access Service Bus'",
    url=ENTRA_AUTH_DOC,
)
_SERVICE_BUS_SCOPE = "/providers/microsoft.servicebus/"


def _on_service_bus_scope(assignment: PolicyResource) -> bool:
    if any(
        dep.resource_type.startswith("azure-native:servicebus")
        for dep in assignment.property_dependencies.get("scope", [])
    ):
        return True
    ok, scope = known_value(assignment.props, "scope")
    return ok and isinstance(scope, str) and _SERVICE_BUS_SCOPE in scope.lower()


def check_rbac_least_privilege(args: StackValidationArgs, report: ReportViolation) -> None:
    allowed = {str(role).lower() for role in args.get_config()["allowedRoleDefinitionIds"]}
    for assignment in args.resources:
        if not is_type(assignment.resource_type, "authorization", "RoleAssignment") or not _on_service_bus_scope(
            assignment
        ):
            continue
        role_id = str(value_at(assignment.props, "roleDefinitionId") or "")
        guid = role_id.rsplit("/", 1)[-1].lower()
        if guid not in allowed:
            role = ROLE_NAMES.get(guid, guid or "(not set)")
            report(
                f"RoleAssignment '{assignment.name}' grants {role} on a Service Bus scope; required: "
                "Azure Service Bus Data Sender or Data Receiver only.",
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
    stack_policy(PUBLIC_NETWORK, check_public_network),
    resource_policy(CUSTOMER_MANAGED_KEY, check_customer_managed_key),
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
