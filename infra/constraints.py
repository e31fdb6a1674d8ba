"""AWS constraints the stack spec enforces before any resource exists, each with the source that states it.

Constraints that need the planned resources are policy rules of category `aws-constraint`
(`infra.policies`); the ones a stack file alone can break live here, so `docs/aws-constraints.md` lists
both from one place each.
"""

from __future__ import annotations

from dataclasses import dataclass

from infra import aws_facts, hosts, routing


@dataclass(frozen=True)
class SpecConstraint:
    id: str
    """kebab-case, unique among spec constraints and policy rules."""
    keys: tuple[str, ...]
    """The stack-file keys it judges, e.g. ("scalestack:cache.engine", "scalestack:cache.engineVersion")."""
    statement: str
    """What AWS requires, in one sentence."""
    source: str
    """The AWS documentation page (or provider source) that states it."""


SPEC_CONSTRAINTS: tuple[SpecConstraint, ...] = (
    SpecConstraint(
        id="alb-slow-start-needs-round-robin",
        keys=("scalestack:loadBalancer.algorithm", "scalestack:loadBalancer.slowStartSeconds"),
        statement="A target group's slow start mode cannot be enabled with the least outstanding requests "
        "or weighted random routing algorithm.",
        source=aws_facts.ELB_ALGORITHMS_SOURCE,
    ),
    SpecConstraint(
        id="alb-slow-start-range",
        keys=("scalestack:loadBalancer.slowStartSeconds",),
        statement="Slow start duration is 0 (off) or 30 to 900 seconds.",
        source=aws_facts.ELB_ALGORITHMS_SOURCE,
    ),
    SpecConstraint(
        id="aws-region-exists",
        keys=("aws:region",),
        statement="The region is one of the AWS commercial partition's regions (GovCloud and China are "
        "other partitions, not supported by the kit).",
        source=aws_facts.REGIONS_SOURCE,
    ),
    SpecConstraint(
        id="elasticache-engine-version-offered",
        keys=("scalestack:cache.engine", "scalestack:cache.engineVersion"),
        statement="ElastiCache offers Valkey from 7.2 (7.2, 8.0, 8.1, 8.2) and Redis OSS up to 7.1; the "
        "parameter-group family (redis7, valkey7, valkey8) follows the engine and major version.",
        source=aws_facts.CACHE_VERSIONS_SOURCE,
    ),
    SpecConstraint(
        id="elasticache-transit-encryption-mode-version",
        keys=("scalestack:cache.engine", "scalestack:cache.engineVersion"),
        statement="TransitEncryptionMode (set to required by the kit) needs Redis OSS 7.0.5 or later, or "
        "Valkey.",
        source=aws_facts.CACHE_TRANSIT_MODE_SOURCE,
    ),
    SpecConstraint(
        id="rds-postgres-engine-version-offered",
        keys=("scalestack:database.engineVersion",),
        statement="RDS creates PostgreSQL instances only on the major and minor versions of its release "
        "calendar; the parameter-group family is postgres<major>.",
        source=aws_facts.POSTGRES_VERSIONS_SOURCE,
    ),
    SpecConstraint(
        id="rds-postgres-read-replicas",
        keys=("scalestack:database.readReplicas",),
        statement="An RDS for PostgreSQL instance has at most 15 read replicas.",
        source="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.html",
    ),
    SpecConstraint(
        id="elasticache-replicas-per-shard",
        keys=("scalestack:cache.replicas",),
        statement="A Valkey or Redis OSS shard has at most 5 read replicas.",
        source="https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/Replication.html",
    ),
    SpecConstraint(
        id="cloudwatch-log-retention-values",
        keys=("scalestack:monitoring.logRetentionDays",),
        statement="CloudWatch Logs accepts only its listed retention periods (1, 3, 5, 7, 14, 30, ... days).",
        source="https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html",
    ),
    SpecConstraint(
        id="alb-rule-condition-values",
        # The web key's and every `services` web entry's.
        keys=("scalestack:web.pathPatterns", "scalestack:web.hostNames"),
        statement="A listener rule takes at most 5 condition values and 5 wildcards in total (not "
        "adjustable); the kit's origin-header condition uses one value, so a web service has 4 routes.",
        source=routing.RULE_CONDITIONS_SOURCE,
    ),
    SpecConstraint(
        id="alb-rule-priority-unique",
        keys=("scalestack:web.priority",),
        statement="Each rule of a listener has its own priority, 1 to 50000, evaluated lowest first.",
        source=routing.PRIORITY_SOURCE,
    ),
    SpecConstraint(
        id="cloudfront-alias-wildcard-form",
        keys=("scalestack:web.hostNames",),
        statement="A CloudFront alternate domain name is lowercase and takes a wildcard only as a whole "
        "leftmost label (*.example.com), never part or middle of a name; Route 53 wildcards and ACM names "
        "are read the same way, so a routed host is the stack's domain or a name under it, `*.` at most.",
        source=hosts.CLOUDFRONT_WILDCARD_SOURCE,
    ),
    SpecConstraint(
        id="acm-domain-names-per-certificate",
        keys=("scalestack:web.hostNames", "scalestack:services"),
        statement=f"An ACM certificate names at most {hosts.ACM_NAMES_PER_CERTIFICATE} domain names by "
        "default; the origin certificate names origin.<domain>, the domain and every routed host, the "
        "CloudFront certificate the domain and every routed host.",
        source=hosts.ACM_NAMES_SOURCE,
    ),
    SpecConstraint(
        id="cloudfront-aliases-per-distribution",
        keys=("scalestack:web.hostNames", "scalestack:services"),
        statement=f"A distribution has at most {hosts.CLOUDFRONT_ALIASES_PER_DISTRIBUTION} alternate domain "
        "names by default: the domain and every routed host.",
        source=hosts.CLOUDFRONT_QUOTAS_SOURCE,
    ),
    SpecConstraint(
        id="elb-target-group-name-length",
        keys=("scalestack:services",),
        statement="A target group's name is at most 32 characters, so a service name (which the target "
        "group's name carries with Pulumi's 8-character suffix) is at most 21.",
        source="https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_CreateTargetGroup.html",
    ),
    SpecConstraint(
        id="image-architecture-matches-instances",
        keys=("scalestack:app.architecture", "scalestack:web.instanceType", "scalestack:worker.instanceType"),
        statement="An instance runs only images of its CPU architecture; Graviton types (attribute letter g, "
        "and a1) are arm64, the others x86_64, so every group's type must match the image's.",
        source=aws_facts.INSTANCE_NAMES_SOURCE,
    ),
)
