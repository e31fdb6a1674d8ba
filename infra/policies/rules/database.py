"""RDS PostgreSQL: the primary and its read replicas."""

from __future__ import annotations

import re
from collections.abc import Iterator

from infra.policies import tokens as t
from infra.policies.model import (
    AWS_REQUIRED,
    EVERYWHERE,
    PROD_ONLY,
    STANDARD,
    Category,
    Enforcement,
    Finding,
    Resource,
    ResourceCheck,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
    stack_key,
)
from infra.policies.rules._checks import at_least, flag_is, flag_not, only_if
from infra.policies.values import flag, get, is_set, is_unknown, items, number


def _is_replica(resource: Resource) -> bool:
    return is_set(resource.get("replicateSourceDb"))


def _is_primary(resource: Resource) -> bool:
    return not _is_replica(resource)


def _storage_encrypted(resource: Resource) -> str | None:
    # A same-region replica inherits its source's encryption; only an explicit `false` is its own choice.
    default = None if _is_replica(resource) else False
    raw = resource.get("storageEncrypted", default)
    if raw is None or is_unknown(raw) or flag(raw) is True:
        return None
    return (
        "the database's storage, backups and snapshots are not encrypted, so anyone with a copy of a "
        "snapshot reads the data; set storageEncrypted=true."
    )


def _managed_credentials(resource: Resource) -> str | None:
    if is_set(resource.get("password")):
        return (
            "the master password is passed as `password`, which stores it in the Pulumi state; use "
            "manageMasterUserPassword=true (Secrets Manager) or passwordWo."
        )
    managed = flag(resource.get("manageMasterUserPassword")) is True or is_set(resource.get("passwordWo"))
    if managed or flag(resource.get("iamDatabaseAuthenticationEnabled")) is True:
        return None
    return (
        "the database neither manages its master password in Secrets Manager nor uses IAM authentication, "
        "so its credentials are unmanaged and never rotated; set manageMasterUserPassword=true."
    )


def _major_version(value: object) -> int | None:
    match = re.match(r"\D*(\d+)", str(value)) if value is not None and not is_unknown(value) else None
    return int(match.group(1)) if match else None


def _force_ssl(stack: Stack) -> Iterator[Finding]:
    for db in stack.of_type(*t.DB_INSTANCE):
        if not str(db.get("engine", "postgres")).startswith("postgres") and not _is_replica(db):
            continue
        setting = _force_ssl_setting(stack, db)
        if setting is True or setting is None:
            continue
        yield Finding(
            db,
            "the database accepts unencrypted client connections (rds.force_ssl is not 1), so passwords and "
            "data can cross the VPC in clear text; use a parameter group with rds.force_ssl=1.",
        )


def _force_ssl_setting(stack: Stack, db: Resource) -> bool | None:
    """True/False from the parameter group (or the engine's default group); None when unknowable."""
    for group in stack.sources(db, "parameterGroupName", *t.DB_PARAMETER_GROUP):
        parameters = items(group.get("parameters"))
        if parameters is None:
            return None
        for parameter in parameters:
            if get(parameter, "name") == "rds.force_ssl":
                value = get(parameter, "value")
                return None if is_unknown(value) else str(value).strip() in {"1", "true"}
        family = _major_version(group.get("family"))
        return None if family is None else family >= 15
    # The default PostgreSQL parameter group forces SSL from version 15 on; a replica or an unpinned
    # version gets the current default, which is past 15.
    major = _major_version(db.get("engineVersion"))
    return None if major is None else major >= 15


def _replicas_in_other_zones(stack: Stack) -> Iterator[Finding]:
    for replica in filter(_is_replica, stack.of_type(*t.DB_INSTANCE)):
        zone = replica.get("availabilityZone")
        if is_unknown(zone):
            continue
        for source in stack.sources(replica, "replicateSourceDb", *t.DB_INSTANCE):
            source_zone = source.get("availabilityZone")
            if zone is None:
                yield Finding(
                    replica,
                    "the read replica isn't pinned to an availability zone, so it may share its source's "
                    "zone and fail with it; set availabilityZone to a zone other than the primary's.",
                )
            elif zone == source_zone:
                yield Finding(
                    replica,
                    f"the read replica is in {zone}, the same zone as its source {source.name}, so one zone "
                    "outage takes both down; place it in another zone.",
                )


def _log_exports(resource: Resource) -> str | None:
    exports = items(resource.get("enabledCloudwatchLogsExports"))
    if exports is None or "postgresql" in exports:
        return None
    return (
        "the database doesn't export its postgresql log to CloudWatch, so errors and slow queries vanish "
        "with the instance; add 'postgresql' to enabledCloudwatchLogsExports."
    )


def _performance_insights(resource: Resource) -> str | None:
    if resource.get("databaseInsightsMode") == "advanced":
        return None
    return flag_is(
        "performanceInsightsEnabled",
        True,
        "Performance Insights is off, so a slow or overloaded database can't be diagnosed after the fact; "
        "set performanceInsightsEnabled=true.",
        default=False,
    )(resource)


def _source(stack: Stack, db: Resource) -> Resource | None:
    """A replica's source instance; None for a primary (or a source outside the plan)."""
    return next(iter(stack.sources(db, "replicateSourceDb", *t.DB_INSTANCE)), None)


def _parameter_group_family(stack: Stack) -> Iterator[Finding]:
    for db in stack.of_type(*t.DB_INSTANCE):
        # A replica runs its source's engine and version.
        origin = _source(stack, db) if _is_replica(db) else db
        if origin is None or not str(origin.get("engine", "")).startswith("postgres"):
            continue
        major = _major_version(origin.get("engineVersion"))
        if major is None or major < 10:
            continue
        wanted = f"postgres{major}"
        for group in stack.sources(db, "parameterGroupName", *t.DB_PARAMETER_GROUP):
            family = group.get("family")
            if is_unknown(family) or family == wanted:
                continue
            yield Finding(
                db,
                f"the database runs PostgreSQL {major} with parameter group {group.name} of family "
                f"{family!r}, which AWS refuses for that version; use a {wanted} parameter group.",
            )


def _replica_storage(stack: Stack) -> Iterator[Finding]:
    for replica in filter(_is_replica, stack.of_type(*t.DB_INSTANCE)):
        source = _source(stack, replica)
        ceiling = number(source.get("maxAllocatedStorage")) if source else None
        if source is None or not ceiling:
            continue
        own_ceiling = replica.get("maxAllocatedStorage")
        if is_unknown(own_ceiling):
            continue
        if (number(own_ceiling) or 0) < ceiling:
            yield Finding(
                replica,
                f"the read replica's storage stops at {own_ceiling or 'its initial size'} while its source "
                f"{source.name} grows to {ceiling:g} GiB, so replication halts once the replica fills up; "
                "set maxAllocatedStorage to at least the source's.",
            )
        allocated, source_allocated = (
            number(replica.get("allocatedStorage")),
            number(source.get("allocatedStorage")),
        )
        if allocated is not None and source_allocated is not None and allocated < source_allocated:
            yield Finding(
                replica,
                f"the read replica has {allocated:g} GiB while its source {source.name} has "
                f"{source_allocated:g} GiB, so it can't hold the source's data; allocate at least as much.",
            )


def _primary_rule(
    rule_id: str,
    description: str,
    severity: Severity,
    enforcement: Enforcement,
    check: ResourceCheck,
    fix: str = "",
) -> Rule:
    """A rule about the primary: replicas inherit backups, credentials and deletion settings."""
    return ResourceRule(
        id=rule_id,
        description=description,
        severity=severity,
        enforcement=enforcement,
        types=t.DB_INSTANCE,
        check=only_if(_is_primary, check),
        fix=fix,
    )


RULES: list[Rule] = [
    ResourceRule(
        id="rds-storage-encrypted",
        description="Database storage is encrypted at rest.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.DB_INSTANCE,
        check=_storage_encrypted,
    ),
    ResourceRule(
        id="rds-no-public-access",
        description="Databases are not publicly accessible.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.DB_INSTANCE,
        check=flag_not(
            "publiclyAccessible",
            True,
            "the database is publicly accessible, which gives it an internet-resolvable address anyone can "
            "try passwords against; set publiclyAccessible=false.",
        ),
    ),
    _primary_rule(
        "rds-backups-enabled",
        "Databases keep automated backups (retention of at least 1 day).",
        Severity.HIGH,
        STANDARD,
        at_least(
            "backupRetentionPeriod",
            1,
            "automated backups are off (backupRetentionPeriod={value}), so there is no point-in-time restore "
            "after data loss; set backupRetentionPeriod to at least 1.",
        ),
        stack_key("database.backupRetentionDays"),
    ),
    _primary_rule(
        "rds-backup-retention",
        "Production databases keep automated backups for at least 7 days.",
        Severity.MEDIUM,
        PROD_ONLY,
        at_least(
            "backupRetentionPeriod",
            7,
            "backups are kept for {value} days, so corruption noticed after a long weekend can't be "
            "rolled back; keep at least 7.",
        ),
        stack_key("database.backupRetentionDays"),
    ),
    _primary_rule(
        "rds-multi-az",
        "Production databases run Multi-AZ with a standby.",
        Severity.HIGH,
        PROD_ONLY,
        flag_is(
            "multiAz",
            True,
            "the database has no standby in another zone, so a zone outage or host failure is a full "
            "outage; set multiAz=true.",
            default=False,
        ),
        stack_key("database.multiAz"),
    ),
    _primary_rule(
        "rds-deletion-protection",
        "Production databases have deletion protection on.",
        Severity.HIGH,
        PROD_ONLY,
        flag_is(
            "deletionProtection",
            True,
            "the database has no deletion protection, so one API call or an accidental replace "
            "destroys it; set deletionProtection=true.",
            default=False,
        ),
        stack_key("database.deletionProtection"),
    ),
    _primary_rule(
        "rds-final-snapshot",
        "Production databases take a final snapshot when deleted.",
        Severity.MEDIUM,
        PROD_ONLY,
        flag_not(
            "skipFinalSnapshot",
            True,
            "the database is deleted without a final snapshot, so a mistaken delete loses the data for good; "
            "set skipFinalSnapshot=false with a finalSnapshotIdentifier.",
        ),
        stack_key("database.deletionProtection"),
    ),
    _primary_rule(
        "rds-managed-credentials",
        "Database credentials are managed by Secrets Manager or IAM, never a password in state.",
        Severity.HIGH,
        STANDARD,
        _managed_credentials,
    ),
    StackRule(
        id="rds-force-ssl",
        description="PostgreSQL databases refuse non-TLS connections (rds.force_ssl=1).",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_force_ssl,
    ),
    ResourceRule(
        id="rds-minor-upgrades",
        description="Databases take automatic minor version upgrades.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        types=t.DB_INSTANCE,
        check=flag_not(
            "autoMinorVersionUpgrade",
            False,
            "automatic minor upgrades are off, so security patches to PostgreSQL are never applied; set "
            "autoMinorVersionUpgrade=true.",
        ),
    ),
    ResourceRule(
        id="rds-performance-insights",
        description="Databases have Performance Insights enabled.",
        severity=Severity.LOW,
        enforcement=STANDARD,
        types=t.DB_INSTANCE,
        check=_performance_insights,
        fix=stack_key("database.performanceInsights"),
    ),
    _primary_rule(
        "rds-log-exports",
        "Databases export their PostgreSQL log to CloudWatch.",
        Severity.MEDIUM,
        STANDARD,
        _log_exports,
    ),
    StackRule(
        id="rds-replica-other-az",
        description="Read replicas sit in a different availability zone from their source.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        check=_replicas_in_other_zones,
    ),
    StackRule(
        id="rds-parameter-group-family",
        types=t.DB_INSTANCE + t.DB_PARAMETER_GROUP,
        description="A DB parameter group's family matches the engine's major version (postgres16 for 16.x).",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_parameter_group_family,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/AmazonRDS/latest/APIReference/API_CreateDBParameterGroup.html",
    ),
    StackRule(
        id="rds-replica-storage-tracks-source",
        types=t.DB_INSTANCE,
        description="A read replica's storage can grow as far as its source's (maxAllocatedStorage).",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_replica_storage,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html",
    ),
]
