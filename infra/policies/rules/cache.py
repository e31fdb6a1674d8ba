"""ElastiCache (Redis/Valkey) replication groups."""

from __future__ import annotations

from infra.policies import tokens as t
from infra.policies.model import EVERYWHERE, PROD_ONLY, STANDARD, Resource, ResourceRule, Rule, Severity
from infra.policies.rules._checks import at_least, first, flag_is, one_of
from infra.policies.values import is_set


def _auth(resource: Resource) -> str | None:
    if any(is_set(resource.get(key)) for key in ("authToken", "authTokenWo", "userGroupIds")):
        return None
    return (
        "the cache has no AUTH token or RBAC user group, so any client that reaches it can read and flush "
        "it; set authToken (with transit encryption) or userGroupIds."
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
    ),
]
