"""ElastiCache (Redis/Valkey) replication groups."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from infra import aws_facts
from infra.policies import tokens as t
from infra.policies.model import (
    AWS_REQUIRED,
    EVERYWHERE,
    PROD_ONLY,
    STANDARD,
    Category,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
    stack_key,
)
from infra.policies.rules._checks import at_least, first, flag_is, one_of
from infra.policies.values import is_set, is_unknown


def _auth(resource: Resource) -> str | None:
    if any(is_set(resource.get(key)) for key in ("authToken", "authTokenWo", "userGroupIds")):
        return None
    return (
        "the cache has no AUTH token or RBAC user group, so any client that reaches it can read and flush "
        "it; set authToken (with transit encryption) or userGroupIds."
    )


def _token_rotated(stack: Stack) -> Iterator[Finding]:
    """The AUTH token's value is a secret version whose secret Secrets Manager rotates on a schedule."""
    for group in stack.of_type(*t.CACHE_REPLICATION_GROUP):
        if not any(is_set(group.get(key)) for key in ("authToken", "authTokenWo")):
            continue  # RBAC/IAM users, or no auth at all (elasticache-auth)
        origins = set(group.deps.get("authToken", ())) | set(group.deps.get("authTokenWo", ()))
        secrets = {
            urn
            for version in stack.of_type(*t.SECRET_VERSION)
            if origins & set(version.deps.get("secretString", ()))
            for urn in version.deps.get("secretId", ())
        }
        rotations = [
            rotation
            for rotation in stack.of_type(*t.SECRET_ROTATION)
            if secrets & set(rotation.deps.get("secretId", ()))
            and is_set(rotation.get("rotationRules"))
            and rotation.get("rotationEnabled") is not False
        ]
        if not rotations:
            yield Finding(
                group,
                "the cache's AUTH token never changes, so a token that leaks (a log, a core dump, a departed "
                "engineer) works for as long as the cache exists; keep it in a Secrets Manager secret with a "
                "SecretRotation schedule whose function rotates the group's token (ROTATE, then SET).",
            )


# What ElastiCache offers (one table, with its sources, in infra/aws_facts.py).
SUPPORTED_VERSIONS_PAGE: Final = aws_facts.CACHE_ENGINE_VERSIONS_PAGE
ENGINE_VERSIONS: Final = aws_facts.ELASTICACHE_ENGINE_VERSIONS
# CacheParameterGroupFamily per engine and major version; a family the table lacks is not judged.
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-elasticache-parametergroup.html
PARAMETER_GROUP_FAMILIES: Final[dict[tuple[str, str], str]] = {
    ("redis", "4"): "redis4.0",
    ("redis", "5"): "redis5.0",
    ("redis", "6"): "redis6.x",
    ("redis", "7"): "redis7",
    ("valkey", "7"): "valkey7",
    ("valkey", "8"): "valkey8",
}


def _engine_version(resource: Resource) -> str | None:
    engine, version = resource.get("engine", "redis"), resource.get("engineVersion")
    if is_unknown(engine) or is_unknown(version) or version is None:
        return None
    allowed = ENGINE_VERSIONS.get(str(engine))
    if allowed is None:
        return (
            f"the cache engine {engine!r} is not one ElastiCache replication groups run, so AWS refuses "
            f"it; use {' or '.join(sorted(ENGINE_VERSIONS))}."
        )
    if str(version) in allowed:
        return None
    return (
        f"ElastiCache offers no {engine} {version}, so AWS refuses the replication group; use one of "
        f"{', '.join(sorted(allowed))}."
    )


def _parameter_group_family(stack: Stack) -> Iterator[Finding]:
    for group in stack.of_type(*t.CACHE_REPLICATION_GROUP):
        engine, version = group.get("engine", "redis"), group.get("engineVersion")
        if is_unknown(engine) or is_unknown(version) or version is None:
            continue
        wanted = PARAMETER_GROUP_FAMILIES.get((str(engine), re.split(r"\D", str(version))[0]))
        for parameters in stack.sources(group, "parameterGroupName", *t.CACHE_PARAMETER_GROUP):
            family = parameters.get("family")
            if wanted is None or is_unknown(family) or family == wanted:
                continue
            yield Finding(
                group,
                f"the cache runs {engine} {version} with parameter group {parameters.name} of family "
                f"{family!r}, which AWS refuses for that engine version; use a {wanted} parameter group.",
            )


_FAILOVER_MESSAGE = (
    "the cache has no automatic Multi-AZ failover, so losing the primary node's zone takes sessions and "
    "queues down; set automaticFailoverEnabled=true and multiAzEnabled=true with 2+ nodes."
)

RULES: list[Rule] = [
    ResourceRule(
        id="elasticache-encryption-at-rest",
        description="Cache data is encrypted at rest.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=t.CACHE_REPLICATION_GROUP,
        check=flag_is(
            "atRestEncryptionEnabled",
            True,
            "the cache's disks and backups are not encrypted, so session data and tokens are readable from "
            "a snapshot; set atRestEncryptionEnabled=true.",
            default=False,
        ),
    ),
    ResourceRule(
        id="elasticache-encryption-in-transit",
        description="Cache connections require TLS.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=t.CACHE_REPLICATION_GROUP,
        check=first(
            flag_is(
                "transitEncryptionEnabled",
                True,
                "clients talk to the cache in clear text, so anything on the network path can read or alter "
                "cached data; set transitEncryptionEnabled=true.",
                default=False,
            ),
            one_of(
                "transitEncryptionMode",
                {"required"},
                "the cache still accepts unencrypted connections (transitEncryptionMode={value}), so "
                "clients can fall back to clear text; set it to 'required'.",
                default="required",
            ),
        ),
    ),
    ResourceRule(
        id="elasticache-auth",
        description="Caches require authentication (AUTH token or RBAC users).",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        types=t.CACHE_REPLICATION_GROUP,
        check=_auth,
    ),
    StackRule(
        id="elasticache-auth-token-rotated",
        description="A cache's AUTH token is a Secrets Manager secret rotated on a schedule.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.CACHE_REPLICATION_GROUP + t.SECRET_ROTATION,
        check=_token_rotated,
    ),
    ResourceRule(
        id="elasticache-automatic-failover",
        description="Production caches fail over automatically across availability zones.",
        severity=Severity.HIGH,
        enforcement=PROD_ONLY,
        types=t.CACHE_REPLICATION_GROUP,
        check=first(
            flag_is("automaticFailoverEnabled", True, _FAILOVER_MESSAGE, default=False),
            flag_is("multiAzEnabled", True, _FAILOVER_MESSAGE, default=False),
        ),
        fix=stack_key("cache.replicas"),
    ),
    ResourceRule(
        id="elasticache-snapshot-retention",
        description="Caches keep at least one daily snapshot.",
        severity=Severity.MEDIUM,
        enforcement=STANDARD,
        types=t.CACHE_REPLICATION_GROUP,
        check=at_least(
            "snapshotRetentionLimit",
            1,
            "the cache keeps no snapshots (snapshotRetentionLimit={value}), so a node loss or flush can't be "
            "undone; keep at least 1.",
        ),
        fix=stack_key("cache.snapshotRetentionDays"),
    ),
    ResourceRule(
        id="elasticache-engine-version",
        description="A replication group runs an engine version ElastiCache offers (Valkey from 7.2 on).",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        types=t.CACHE_REPLICATION_GROUP,
        check=_engine_version,
        category=Category.AWS,
        source=SUPPORTED_VERSIONS_PAGE,
    ),
    StackRule(
        id="elasticache-parameter-group-family",
        types=t.CACHE_REPLICATION_GROUP + t.CACHE_PARAMETER_GROUP,
        description="A cache parameter group's family matches the cache's engine and major version.",
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_parameter_group_family,
        category=Category.AWS,
        source="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/ParameterGroups.Engine.html",
    ),
]
