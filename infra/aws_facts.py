"""What AWS offers, as far as a stack file can ask for it: regions, engine versions, families, architectures.

One home for each fact, each with the page that states it. The spec (`infra.spec`) refuses a stack file
that asks for something outside these lists, and the components derive names (parameter-group families,
AMI architectures) from the same functions, so the two cannot disagree. This module imports nothing
heavy: `import infra.spec` must stay fast (no pulumi_aws).

When AWS adds a region or an engine version, add it here with its source; the spec's error names this file.
"""

from __future__ import annotations

import re
from typing import Literal

Architecture = Literal["x86_64", "arm64"]

REGIONS_SOURCE = "https://docs.aws.amazon.com/global-infrastructure/latest/regions/aws-regions.html"
# The commercial partition (`aws`) only. GovCloud (`aws-us-gov`) and China (`aws-cn`) use other ARN
# partitions, other CloudFront and ACM arrangements and their own accounts; the kit writes `arn:aws:` and
# puts CloudFront's certificate in us-east-1, so it does not support them. A test checks that every region
# here is one botocore's endpoint data (data/partitions.json, partition `aws`) also lists.
COMMERCIAL_REGIONS: tuple[str, ...] = (
    "af-south-1",
    "ap-east-1",
    "ap-east-2",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-6",
    "ap-southeast-7",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
)
OTHER_PARTITION_PREFIXES = ("us-gov-", "cn-", "us-iso", "eu-isoe-", "eusc-")

ELB_ALGORITHMS_SOURCE = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-target-group-attributes.html"
)
# The routing algorithms of an ALB target group (attribute load_balancing.algorithm.type; weighted_random
# came with Automatic Target Weights in 2023). The user guide's "Slow start mode" section says slow start
# cannot be enabled with least outstanding requests. For weighted random the same page lists slow start
# among what it does not support; this machine's documentation store could not confirm that sentence, so
# the kit refuses the pair conservatively (a refusal costs a 0, an acceptance would cost a failed update).
ALB_ALGORITHMS = ("round_robin", "least_outstanding_requests", "weighted_random")
ALB_ALGORITHMS_WITH_SLOW_START = ("round_robin",)

CACHE_VERSIONS_SOURCE = (
    "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/supported-engine-versions.html"
)
CACHE_TRANSIT_MODE_SOURCE = (
    "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/in-transit-encryption.html"
)
CACHE_ENGINE_VERSIONS_PAGE = "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/engine-versions.html"
# Versions ElastiCache offers for node-based replication groups, as the API's EngineVersion takes them (the
# full version before 6, major.minor or "6.x" after; the provider's engineVersion argument). Valkey starts
# at 7.2 and has 9.0 and 9.1 (engine versions page); Redis OSS stops at 7.1 (there is no Redis OSS 8 on
# ElastiCache). The policy rule `elasticache-engine-version` judges any replication group by this table.
ELASTICACHE_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    "redis": ("4.0.10", "5.0.6", "6.0", "6.2", "6.x", "7.0", "7.1"),
    "valkey": ("7.2", "8.0", "8.1", "8.2", "9.0", "9.1"),
}
# The kit's own cache sets transit_encryption_mode "required", which ElastiCache accepts from Redis OSS
# 7.0.5 on (in-transit encryption page), so a stack file may choose Redis OSS 7.0 and 7.1 only.
CACHE_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    "redis": tuple(v for v in ELASTICACHE_ENGINE_VERSIONS["redis"] if v.split(".")[0] == "7"),
    "valkey": ELASTICACHE_ENGINE_VERSIONS["valkey"],
}

POSTGRES_VERSIONS_SOURCE = (
    "https://docs.aws.amazon.com/AmazonRDS/latest/PostgreSQLReleaseNotes/postgresql-release-calendar.html"
)
# Major version -> (oldest minor RDS still creates, newest minor the kit knows of). RDS stopped creating
# instances on 14.14-14.17, 15.9-15.12, 16.5-16.8 and 17.1-17.4 from 2026-05-01 (end of standard support
# 2026-05-31) and upgrades them to 14.20, 15.15, 16.11, 17.7 or later, so those exist. PostgreSQL 13 left
# RDS standard support on 2026-02-28 (Extended Support only, charged per vCPU-hour): not offered for a new
# stack. A major alone ("16") lets RDS pick its default minor, which is the recommended form.
POSTGRES_MINORS: dict[int, tuple[int, int]] = {14: (18, 20), 15: (13, 15), 16: (9, 11), 17: (5, 7)}

INSTANCE_NAMES_SOURCE = "https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html"
# A type's name is series, generation, then attribute letters ("m7gd": series m, generation 7, attributes
# gd); the attribute "g" says AWS Graviton (arm64). a1 is the first Graviton generation and has no letter.
_FAMILY = re.compile(r"^(?P<series>[a-z]+)(?P<generation>[0-9]+)(?P<attributes>[a-z-]*)")
DOCKER_PLATFORMS: dict[Architecture, str] = {"x86_64": "linux/amd64", "arm64": "linux/arm64"}


class UnknownVersion(ValueError):
    """An engine version AWS does not offer; the message says which are offered."""


def instance_architecture(instance_type: str) -> Architecture:
    """The CPU architecture of an EC2 instance type, from its name (the instance type naming page)."""
    family = instance_type.split(".", 1)[0]
    if family == "a1":
        return "arm64"
    match = _FAMILY.match(family)
    return "arm64" if match and match["attributes"].startswith("g") else "x86_64"


def region_problem(region: str) -> str | None:
    """Why the kit cannot use this region, or None when it can."""
    if region in COMMERCIAL_REGIONS:
        return None
    if region.startswith(OTHER_PARTITION_PREFIXES):
        return f"'{region}' is outside the commercial partition (GovCloud, China, ISO): not supported"
    return f"'{region}' is not an AWS region"


def check_cache_version(engine: str, version: str) -> str:
    """The version when ElastiCache offers it for this engine; UnknownVersion otherwise."""
    offered = CACHE_ENGINE_VERSIONS[engine]
    if version in ELASTICACHE_ENGINE_VERSIONS[engine] and version not in offered:
        raise UnknownVersion(
            f"{engine} {version} cannot require TLS in transit, as the kit's cache does (ElastiCache accepts "
            f"transit_encryption_mode required from Redis OSS 7.0.5): use {', '.join(offered)}"
        )
    if version not in offered:
        elsewhere = [e for e, versions in CACHE_ENGINE_VERSIONS.items() if version in versions]
        hint = f" ({version} is a {elsewhere[0]} version)" if elsewhere else ""
        raise UnknownVersion(f"ElastiCache offers {engine} {', '.join(offered)}{hint}, not '{version}'")
    return version


def cache_parameter_group_family(engine: str, version: str) -> str:
    """The parameter-group family of an ElastiCache engine version: redis7, valkey7, valkey8."""
    return f"{engine}{check_cache_version(engine, version).split('.')[0]}"


def check_postgres_version(version: str) -> str:
    """The version when RDS creates PostgreSQL instances on it ("16" or "16.9"); UnknownVersion otherwise."""
    offered = ", ".join(
        f"{major} ({major}.{low}-{major}.{high})" for major, (low, high) in POSTGRES_MINORS.items()
    )
    match = re.fullmatch(r"(?P<major>[0-9]{1,2})(\.(?P<minor>[0-9]{1,2}))?", version)
    bounds = POSTGRES_MINORS.get(int(match["major"])) if match else None
    if match is None or bounds is None:
        raise UnknownVersion(f"RDS for PostgreSQL offers {offered}, not '{version}'")
    if match["minor"] is not None and not bounds[0] <= int(match["minor"]) <= bounds[1]:
        raise UnknownVersion(f"RDS for PostgreSQL offers {offered}, not '{version}'")
    return version


def postgres_parameter_group_family(version: str) -> str:
    """The parameter-group family of an RDS PostgreSQL version: postgres16 for 16 and 16.x."""
    return f"postgres{check_postgres_version(version).split('.')[0]}"
