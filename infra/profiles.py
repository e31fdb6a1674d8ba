"""Defaults per environment, written as a stack file would be (camelCase keys).

A stack file overrides any of these; the merged result is validated by `infra.spec`. dev is cheap
(one NAT gateway, no standby, no replicas), prod is highly available (3 AZs, NAT per AZ, Multi-AZ
database, two read replicas, a cache replica with automatic failover, deletion protection), staging sits
between: production's shape at a smaller size, so a change is rehearsed on the same topology.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BASE: Mapping[str, Any] = {
    # existingVpcId/existingSubnetIds: None creates the VPC (DESIGN.md, "Bring your own").
    "network": {
        "cidr": "10.0.0.0/16",
        "interfaceEndpoints": True,
        "existingVpcId": None,
        "existingSubnetIds": None,
    },
    # round_robin with a 30 s slow start in every environment: a new instance (scale-out, each refresh step)
    # is coldest when it joins, and least_outstanding_requests would send it the most requests right then
    # (it has none outstanding), while AWS forbids slow start with that algorithm; the app's requests are
    # short and alike, so round robin loses little balance.
    "loadBalancer": {"idleTimeoutSeconds": 60, "algorithm": "round_robin", "slowStartSeconds": 30},
    "app": {
        "architecture": "x86_64",
        "port": 8000,
        "readinessPath": "/readyz",
        "livenessPath": "/healthz",
        "workerCommand": ["celery", "-A", "app.tasks", "worker", "--loglevel=INFO"],
        "migrateCommand": ["python", "-m", "app.migrate"],
        "environment": {},
        # The app a deploy builds (scripts/deploy/app_source.py): null is the kit's own app_template/.
        "buildContext": None,
        "smokePath": "/api/tags",
        "staticDir": "app/static",
    },
    "web": {"cpuTargetPercent": 50, "requestsPerTarget": 1000, "healthCheckGracePeriodSeconds": 120},
    # The worker key consumes Celery's default queue; 50 waiting tasks per worker before another starts.
    "worker": {
        "cpuTargetPercent": 60,
        "healthCheckGracePeriodSeconds": 120,
        "queues": ["celery"],
        "targetMessagesPerWorker": 50,
    },
    "database": {
        "engineVersion": "16",
        "performanceInsights": True,
        "slowQueryMs": 500,
        "databaseName": "app",
        "masterUsername": "app_admin",
    },
    "cache": {"engine": "redis", "engineVersion": "7.1"},
    "cdn": {"accessLogs": True},
    "monitoring": {
        "alarmEmail": None,
        "errorRatePercent": 1.0,
        "p99LatencyMs": 1500,
        "replicaLagSeconds": 30,
    },
    "tags": {},
    "services": {},
}

_DEV: Mapping[str, Any] = {
    "network": {"availabilityZones": 2, "natGateways": "single"},
    "loadBalancer": {
        "deregistrationDelaySeconds": 10,
        "deletionProtection": False,
        "accessLogRetentionDays": 7,
    },
    "web": {
        "instanceType": "t3.small",
        "minSize": 1,
        "desiredCapacity": 1,
        "maxSize": 2,
        "rootVolumeGib": 16,
        "minHealthyPercent": 50,
        "warmPoolSize": 0,
    },
    "worker": {
        "minHealthyPercent": 50,
        "instanceType": "t3.small",
        "minSize": 1,
        "desiredCapacity": 1,
        "maxSize": 1,
        "rootVolumeGib": 16,
        "spot": True,
    },
    "database": {
        "instanceClass": "db.t4g.micro",
        "allocatedStorageGib": 20,
        "maxAllocatedStorageGib": 50,
        "multiAz": False,
        "readReplicas": 0,
        "backupRetentionDays": 1,
        "deletionProtection": False,
        "monitoringIntervalSeconds": 0,
    },
    "cache": {"nodeType": "cache.t4g.micro", "replicas": 0, "snapshotRetentionDays": 1},
    "cdn": {"priceClass": "PriceClass_100", "webAcl": False},
    "monitoring": {"logRetentionDays": 14},
}

_STAGING: Mapping[str, Any] = {
    "network": {"availabilityZones": 2, "natGateways": "one-per-az"},
    "loadBalancer": {
        "deregistrationDelaySeconds": 30,
        "deletionProtection": False,
        "accessLogRetentionDays": 30,
    },
    "web": {
        "instanceType": "t3.medium",
        "minSize": 2,
        "desiredCapacity": 2,
        "maxSize": 4,
        "rootVolumeGib": 20,
        "minHealthyPercent": 90,
        "warmPoolSize": 0,
    },
    "worker": {
        "minHealthyPercent": 90,
        "instanceType": "t3.medium",
        "minSize": 1,
        "desiredCapacity": 1,
        "maxSize": 2,
        "rootVolumeGib": 20,
        "spot": True,
    },
    "database": {
        "instanceClass": "db.t4g.medium",
        "allocatedStorageGib": 50,
        "maxAllocatedStorageGib": 200,
        "multiAz": True,
        "readReplicas": 1,
        "backupRetentionDays": 7,
        "deletionProtection": False,
        "monitoringIntervalSeconds": 60,
    },
    "cache": {"nodeType": "cache.t4g.small", "replicas": 1, "snapshotRetentionDays": 3},
    "cdn": {"priceClass": "PriceClass_100", "webAcl": True},
    "monitoring": {"logRetentionDays": 30},
}

_PROD: Mapping[str, Any] = {
    "network": {"availabilityZones": 3, "natGateways": "one-per-az"},
    "loadBalancer": {
        "deregistrationDelaySeconds": 30,
        "deletionProtection": True,
        "accessLogRetentionDays": 90,
    },
    "web": {
        "instanceType": "m7i.large",
        "minSize": 3,
        "desiredCapacity": 3,
        "maxSize": 12,
        "rootVolumeGib": 30,
        "minHealthyPercent": 90,
        "warmPoolSize": 1,
    },
    "worker": {
        "minHealthyPercent": 90,
        "instanceType": "m7i.large",
        "minSize": 2,
        "desiredCapacity": 2,
        "maxSize": 6,
        "rootVolumeGib": 30,
        "spot": False,
    },
    "database": {
        "instanceClass": "db.r7g.large",
        "allocatedStorageGib": 100,
        "maxAllocatedStorageGib": 1000,
        "multiAz": True,
        "readReplicas": 2,
        "backupRetentionDays": 14,
        "deletionProtection": True,
        "monitoringIntervalSeconds": 30,
    },
    "cache": {"nodeType": "cache.r7g.large", "replicas": 2, "snapshotRetentionDays": 7},
    "cdn": {"priceClass": "PriceClass_200", "webAcl": True},
    # A year of logs: what incident investigations and most audit regimes ask for (logs-retention-prod).
    "monitoring": {"logRetentionDays": 365},
}


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`, mapping by mapping; any other value in `override` replaces the base's."""
    merged = dict(base)
    for key, value in override.items():
        below = merged.get(key)
        merged[key] = (
            deep_merge(below, value) if isinstance(below, Mapping) and isinstance(value, Mapping) else value
        )
    return merged


PROFILES: Mapping[str, Mapping[str, Any]] = {
    "dev": deep_merge(BASE, _DEV),
    "staging": deep_merge(BASE, _STAGING),
    "prod": deep_merge(BASE, _PROD),
}
