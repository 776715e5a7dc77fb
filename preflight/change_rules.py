"""Change rules: changes that Azure refuses halfway through ``pulumi up``, or that silently lose messages.

A policy judges a stack's end state; a change rule judges the difference between what is deployed (or
what the base revision would deploy) and what this revision would. Each rule has a kebab-case name, a
one-sentence description, a default enforcement level, and messages that say what Azure would do and
what to do instead. Levels are configured per stack in ``policies/changes/<stack>.json`` (same shape
as a policy config: a level, or ``{"enforcementLevel": ...}``, per rule name or ``all``); without a
file every rule is mandatory. Sources: docs/day2.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from preflight.changes import (
    AZURE_CREATE_ONLY,
    REPLACE_ON_CHANGE,
    ChangeKind,
    ResourceChange,
    ResourceState,
    StackChanges,
)
from preflight.engine.driver import Diagnostic
from preflight.engine.levels import EnforcementLevel
from preflight.engine.policy_config import (
    PolicyConfig,
    PolicyConfigError,
    apply_layer,
    closest_hint,
    load_policy_config,
)
from preflight.locate import service_index
from settings.model import StackSettings

NS = "azure-native:servicebus:Namespace"
SUBSCRIPTION = "azure-native:servicebus:Subscription"
ROLE_ASSIGNMENT = "azure-native:authorization:RoleAssignment"
LOCK = "azure-native:authorization:ManagementLockByScope"
# Change rules cannot remediate: a change is what it is.
LEVELS = (EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY, EnforcementLevel.DISABLED)

LOCK_DOC = "https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources"
MIGRATION_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/service-bus-migrate-standard-premium"
PARTITIONS_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/enable-partitions-premium"
DEAD_LETTER_DOC = "https://learn.microsoft.com/azure/service-bus-messaging/enable-dead-letter"
RBAC_DOC = "https://learn.microsoft.com/azure/role-based-access-control/troubleshooting"
DAY2_DOC = "docs/day2.md"

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True)
class Finding:
    """One violation: the resource, what is wrong and what to do, and the stack-file key behind it."""

    urn: str
    message: str
    key: KeyPath


@dataclass(frozen=True)
class ChangeContext:
    """What a rule may read: the changes, and the head stack's settings."""

    changes: StackChanges
    settings: StackSettings


@dataclass(frozen=True)
class ChangeRule:
    """One change rule."""

    name: str
    description: str
    url: str
    check: Callable[[ChangeContext], Iterator[Finding]]
    default_level: EnforcementLevel = EnforcementLevel.MANDATORY


@dataclass(frozen=True)
class ChangeDiagnostic(Diagnostic):
    """A change-rule violation; ``key`` is the settings path a report points at."""

    key: KeyPath = ()


def _lower(value: object) -> str:
    return str(value or "").lower()


def _service_key(settings: StackSettings, state: ResourceState, *tail: str) -> KeyPath:
    """The head stack's service entry a resource belongs to, else the services list."""
    index = service_index(settings, state.inputs)
    return ("services",) if index is None else ("services", index, *tail)


def _locks(changes: StackChanges) -> list[ResourceState]:
    # ReadOnly locks block deletes too ("can't delete or update"), so every level counts.
    return [c.base for c in changes.changes if c.base is not None and c.base.type == LOCK]


def _under(resource_id: str | None, scope: str) -> bool:
    return bool(resource_id) and (_lower(resource_id) == scope or _lower(resource_id).startswith(scope + "/"))


def check_delete_under_lock(context: ChangeContext) -> Iterator[Finding]:
    """Deletes and replacements below a management lock fail with ScopeLocked."""
    for lock in _locks(context.changes):
        scope = _lower(lock.inputs.get("scope"))
        for change in context.changes.of_kind(ChangeKind.DELETE, ChangeKind.REPLACE):
            base = change.base
            if base is None or base.type == LOCK or not _under(base.id, scope):
                continue
            verb = "deleting" if change.kind is ChangeKind.DELETE else "replacing (delete, then create)"
            yield Finding(
                change.urn,
                f"Azure refuses {verb} {base.type.rsplit(':', 1)[-1]} '{base.name}': the {lock.inputs.get('level')} "
                f"lock '{lock.inputs.get('lockName')}' covers it, so the update stops half-applied with ScopeLocked "
                "(removing the lock in the same update does not order it first). To deploy cleanly: merge a pull "
                "request that only sets namespace.deleteLock: false, then this change, then restore the lock "
                f"({DAY2_DOC}).",
                _service_key(context.settings, base) if base.type != NS else ("namespace",),
            )


def _sku(state: ResourceState | None) -> str:
    sku = state.inputs.get("sku") if state else None
    return str(sku.get("name") or sku.get("tier") or "") if isinstance(sku, Mapping) else ""


def _namespace_updates(changes: StackChanges) -> Iterator[ResourceChange]:
    yield from (c for c in changes.of_kind(ChangeKind.UPDATE, ChangeKind.REPLACE) if c.type == NS)


def check_tier_migration(context: ChangeContext) -> Iterator[Finding]:
    """Standard and Premium are different deployments: Azure migrates between them, it does not update."""
    for change in _namespace_updates(context.changes):
        old, new = _sku(change.base), _sku(change.head)
        if old and new and old != new:
            yield Finding(
                change.urn,
                f"Azure does not move namespace '{change.name}' from {old} to {new} in place (a {old} namespace "
                "stays {old}). Keep this stack's tier; create the new namespace as a new stack (copy the stack file "
                f"with another instance number), migrate with Microsoft's procedure ({MIGRATION_DOC}, azure-native "
                "servicebus.MigrationConfig), move the services over, then retire this stack.".replace("{old}", old),
                ("namespace", "tier"),
            )


def _partitions(state: ResourceState | None) -> int:
    value = state.inputs.get("premiumMessagingPartitions") if state else None
    return int(value) if isinstance(value, int | float) else 1


def check_partitions(context: ChangeContext) -> Iterator[Finding]:
    """The number of partitions of a Premium namespace is fixed when it is created."""
    for change in _namespace_updates(context.changes):
        old, new = _partitions(change.base), _partitions(change.head)
        if _sku(change.base) == "Premium" and old != new:
            yield Finding(
                change.urn,
                f"Azure refuses changing premiumMessagingPartitions of namespace '{change.name}' from {old} to {new}: "
                f"partitions are set only when a namespace is created ({PARTITIONS_DOC}). Keep {old}; for {new}, "
                "create a new namespace as a new stack, move the services over, then retire this stack.",
                ("namespace", "premiumMessagingPartitions"),
            )


def check_namespace_replaced(context: ChangeContext) -> Iterator[Finding]:
    """A namespace that is replaced or deleted takes every topic, subscription and message with it."""
    for change in context.changes.of_kind(ChangeKind.REPLACE, ChangeKind.DELETE):
        if change.type != NS:
            continue
        because = (
            f"{', '.join(change.replace_keys)} changed" if change.replace_keys else "it is no longer in the program"
        )
        yield Finding(
            change.urn,
            f"Namespace '{change.name}' would be deleted ({because}): every topic, subscription and "
            "queued message in it is lost, and a protected namespace stops the update. Keep workload, "
            "environment, location and instance as they are; to move, deploy a new stack and retire this one.",
            ("workload",),
        )


def _retired(settings: StackSettings) -> set[str]:
    return {settings.names.subscription(name) for name in settings.retired_services}


def check_subscription_deleted(context: ChangeContext) -> Iterator[Finding]:
    """Deleting a subscription deletes its backlog and dead-letter queue with it."""
    retired = _retired(context.settings)
    for change in context.changes.of_kind(ChangeKind.DELETE, ChangeKind.REPLACE):
        base = change.base
        if base is None or base.type != SUBSCRIPTION:
            continue
        name = str(base.inputs.get("subscriptionName", base.name))
        if name in retired and change.kind is ChangeKind.DELETE:
            continue
        service = name.removeprefix("sbts-")
        how = "deleted" if change.kind is ChangeKind.DELETE else f"replaced ({', '.join(change.replace_keys)})"
        yield Finding(
            change.urn,
            f"Subscription '{name}' would be {how}: its waiting messages and its dead-letter queue go with it "
            f"({DEAD_LETTER_DOC}). Drain it first (stop its publishers, let '{service}' finish), then acknowledge "
            f"the loss by adding '{service}' to ml-messaging:retiredServices in this stack file.",
            ("retiredServices",) if context.settings.retired_services else ("services",),
        )


def check_create_only(context: ChangeContext) -> Iterator[Finding]:
    """Properties Azure sets only at creation: changing one replaces the entity (or is refused)."""
    watched = {
        "azure-native:servicebus:Topic": {"requiresDuplicateDetection", "enablePartitioning"},
        SUBSCRIPTION: set(AZURE_CREATE_ONLY[SUBSCRIPTION]),
        ROLE_ASSIGNMENT: set(AZURE_CREATE_ONLY[ROLE_ASSIGNMENT]),
    }
    for change in context.changes.of_kind(ChangeKind.REPLACE):
        keys = sorted(set(change.replace_keys) & watched.get(change.type, set()))
        if not keys or change.base is None:
            continue
        azure_native_replaces = set(keys) <= REPLACE_ON_CHANGE.get(change.type, frozenset())
        outcome = (
            "azure-native replaces it: it is deleted and created again, and its messages are lost"
            if azure_native_replaces
            else "azure-native plans an in-place update, which Azure refuses, leaving the update half-applied"
        )
        yield Finding(
            change.urn,
            f"{', '.join(keys)} of {change.type.rsplit(':', 1)[-1]} '{change.name}' can only be set when it is "
            f"created: {outcome}. Create a new one with the new setting (for a subscription, a new service name), "
            "move consumers over, then retire the old one.",
            _service_key(context.settings, change.base),
        )


def _grant(state: ResourceState) -> tuple[str, str, str]:
    role = _lower(state.inputs.get("roleDefinitionId")).rsplit("/", 1)[-1]
    return _lower(state.inputs.get("scope")), _lower(state.inputs.get("principalId")), role


def check_duplicate_role_assignment(context: ChangeContext) -> Iterator[Finding]:
    """Azure holds one role assignment per (scope, principal, role); a second name for it is refused."""
    deployed: dict[tuple[str, str, str], list[ResourceState]] = {}
    for change in context.changes.changes:
        if change.base is not None and change.base.type == ROLE_ASSIGNMENT:
            deployed.setdefault(_grant(change.base), []).append(change.base)
    planned: dict[tuple[str, str, str], ResourceState] = {}
    for change in context.changes.changes:
        head = change.head
        if head is None or head.type != ROLE_ASSIGNMENT:
            continue
        grant = _grant(head)
        twin = planned.setdefault(grant, head)
        if twin is not head:
            yield _duplicate(context, head, f"'{twin.name}' in the same stack")
        if change.kind not in (ChangeKind.CREATE, ChangeKind.REPLACE):
            continue
        # A replacement of an explicitly named assignment deletes the old one first (azure-native
        # provider.go, deleteBeforeReplace); every other holder of the grant is still there when the
        # new one is created, because the engine deletes removed resources last.
        others = [held for held in deployed.get(grant, []) if change.base is None or held.urn != change.base.urn]
        for held in others:
            yield _duplicate(context, head, f"the deployed assignment '{held.name}'")


def _duplicate(context: ChangeContext, head: ResourceState, other: str) -> Finding:
    return Finding(
        head.urn,
        f"Role assignment '{head.name}' grants the same role to the same principal at the same scope as {other}: "
        f"Azure answers 409 RoleAssignmentExists ({RBAC_DOC}). Name assignments from (scope, principal, role) "
        "so that one grant has one name, and grant a shared identity once.",
        _service_key(context.settings, head, "principalId"),
    )


RULES: tuple[ChangeRule, ...] = (
    ChangeRule(
        "change-delete-under-lock",
        "No delete or replacement below a management lock, which Azure refuses with ScopeLocked.",
        LOCK_DOC,
        check_delete_under_lock,
    ),
    ChangeRule(
        "change-tier-migration",
        "No in-place move between Standard and Premium; Microsoft's migration is the route.",
        MIGRATION_DOC,
        check_tier_migration,
    ),
    ChangeRule(
        "change-premium-partitions",
        "No change of a Premium namespace's partition count, which is fixed at creation.",
        PARTITIONS_DOC,
        check_partitions,
    ),
    ChangeRule(
        "change-namespace-replaced",
        "No replacement or deletion of the namespace, which loses every message in it.",
        LOCK_DOC,
        check_namespace_replaced,
    ),
    ChangeRule(
        "change-subscription-deleted",
        "No subscription deleted or replaced with its backlog unless the stack file retires its service.",
        DEAD_LETTER_DOC,
        check_subscription_deleted,
    ),
    ChangeRule(
        "change-create-only-property",
        "No change of a property Azure sets only at creation, which replaces the entity or is refused.",
        PARTITIONS_DOC,
        check_create_only,
    ),
    ChangeRule(
        "change-duplicate-role-assignment",
        "No second role assignment for a (scope, principal, role) that already has one.",
        RBAC_DOC,
        check_duplicate_role_assignment,
    ),
)


def rule_names() -> list[str]:
    """Every change rule's name, sorted."""
    return sorted(rule.name for rule in RULES)


def load_levels(path: Path, shown: str) -> dict[str, EnforcementLevel]:
    """Enforcement level per rule for one stack: defaults, then ``all``, then named entries (the policy
    config's own layering, ``apply_layer``)."""
    defaults = {rule.name: PolicyConfig(rule.default_level) for rule in RULES}
    given = load_policy_config(path, shown) if path.is_file() else {}
    problems = []
    for name, config in given.items():
        if name != "all" and name not in defaults:
            hint = closest_hint(name, rule_names())
            problems.append(f"{shown}: {name}: no such change rule; {hint}allowed: all, {', '.join(rule_names())}")
        elif config.enforcement_level not in (None, *LEVELS):
            allowed = ", ".join(level.value for level in LEVELS)
            problems.append(f"{shown}: {name}: '{config.enforcement_level}' is not one of {allowed}")
    if problems:
        raise PolicyConfigError(problems)
    return {
        name: config.enforcement_level or EnforcementLevel.MANDATORY
        for name, config in apply_layer(defaults, given).items()
    }


def evaluate(
    changes: StackChanges, settings: StackSettings, levels: Mapping[str, EnforcementLevel]
) -> list[ChangeDiagnostic]:
    """Every rule over one stack's changes, at its configured level (disabled rules do not run)."""
    context = ChangeContext(changes, settings)
    found: list[ChangeDiagnostic] = []
    for rule in RULES:
        level = levels.get(rule.name, rule.default_level)
        if level is EnforcementLevel.DISABLED:
            continue
        for finding in rule.check(context):
            found.append(
                ChangeDiagnostic(
                    rule.name, level, "high", rule.description, finding.message, finding.urn, "change", finding.key
                )
            )
    return sorted(found, key=lambda d: (d.policy_name, d.urn, d.message))
