"""The stack spec refuses bad stack files with one clear message naming the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.profiles import PROFILES
from infra.spec import SpecError, load_spec_file, load_stack_spec, parse_config
from tests.conftest import SHIPPED_STACKS

SOURCE = "stacks/Pulumi.test.yaml"


def config(environment: str = "prod", **sections: Any) -> dict[str, Any]:
    base = {"aws:region": "eu-west-1", "scalestack:environment": environment, "scalestack:imageTag": "1.2.3"}
    return {**base, **{f"scalestack:{key}": value for key, value in sections.items()}}


def error_for(cfg: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as raised:
        parse_config(cfg, stack="test", source=SOURCE)
    message = str(raised.value)
    # The file named once, at the start; each further line one more problem.
    assert message.startswith(SOURCE) and message.count(SOURCE) == 1
    assert all(line.startswith("  scalestack:") for line in message.splitlines()[1:])
    return message


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_shipped_stacks_are_valid(stack: str) -> None:
    spec = load_stack_spec(stack)
    assert spec.stack == stack and spec.environment in PROFILES


def test_environment_profiles_size_dev_cheap_and_prod_highly_available() -> None:
    dev = parse_config(config("dev"), stack="test", source=SOURCE)
    prod = parse_config(config("prod"), stack="test", source=SOURCE)
    assert (dev.network.nat_gateways, dev.database.multi_az, dev.database.read_replicas) == (
        "single",
        False,
        0,
    )
    assert (prod.network.availability_zones, prod.network.nat_gateways) == (3, "one-per-az")
    assert prod.database.multi_az and prod.database.read_replicas >= 2 and prod.database.deletion_protection
    assert prod.cache.replicas >= 1 and prod.load_balancer.deletion_protection


def test_file_values_override_the_profile() -> None:
    spec = parse_config(
        config("dev", database={"readReplicas": 1}, web={"maxSize": 5}), stack="t", source=SOURCE
    )
    assert spec.database.read_replicas == 1 and spec.web.max_size == 5
    assert spec.database.instance_class == PROFILES["dev"]["database"]["instanceClass"]


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"database": {"readReplica": 3}},
            "scalestack:database.readReplica: unknown key; did you mean 'readReplicas'?",
        ),
        ({"netwrk": {}}, "scalestack:netwrk: unknown key; did you mean 'network'?"),
        (
            {"web": {"instanceType": "t3.mediun"}},
            "scalestack:web.instanceType: 't3.mediun' is not an EC2 instance type (did you mean t3.medium",
        ),
        (
            {"database": {"instanceClass": "db.fake"}},
            "scalestack:database.instanceClass: 'db.fake' is not an RDS class",
        ),
        (
            {"cache": {"nodeType": "cache.huge"}},
            "scalestack:cache.nodeType: 'cache.huge' is not an ElastiCache node type",
        ),
        (
            {"database": {"readReplicas": 16}},
            "scalestack:database.readReplicas: Input should be less than or equal to 15",
        ),
        (
            {"web": {"minSize": 5, "desiredCapacity": 4}},
            "scalestack:web: needs minSize <= desiredCapacity <= maxSize (got 5 <= 4 <= 12)",
        ),
        ({"network": {"cidr": "10.0.0.0/8"}}, "scalestack:network.cidr: prefix /8 is outside /16 to /20"),
        ({"network": "big"}, "scalestack:network: must be a mapping of keys (got 'big')"),
        (
            {"monitoring": {"logRetentionDays": 10}},
            "scalestack:monitoring.logRetentionDays: must be one of 1, 3, 5, 7, 14",
        ),
        (
            {"cdn": {"priceClass": "cheap"}},
            "scalestack:cdn.priceClass: Input should be 'PriceClass_100', 'PriceClass_200' or 'PriceClass_All'",
        ),
        (
            {"policy": {"waivers": [{"rule": "rds-multi-az"}]}},
            "scalestack:policy.waivers[0].reason: required key is missing",
        ),
        (
            {"database": {"masterUsername": "postgres"}},
            "scalestack:database.masterUsername: 'postgres' is reserved",
        ),
        (
            {"app": {"environment": {"REDIS_URL": "redis://x", "FLAG": "1"}}},
            "scalestack:app.environment: REDIS_URL set by the kit itself",
        ),
        (
            {"app": {"environment": {"lower": "1"}}},
            "scalestack:app.environment.lower (as a name): String should match pattern",
        ),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(sections: dict[str, Any], expected: str) -> None:
    assert expected in error_for(config("prod", **sections))


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"database": {"multiAz": False}},
            "scalestack:database.multiAz: prod needs a Multi-AZ database (true) (got False)",
        ),
        (
            {"database": {"readReplicas": 1}},
            "scalestack:database.readReplicas: prod needs at least 2 read replicas (got 1)",
        ),
        (
            {"network": {"natGateways": "single"}},
            "scalestack:network.natGateways: prod needs a NAT gateway in each availability zone (one-per-az)",
        ),
        (
            {"cache": {"replicas": 0}},
            "scalestack:cache.replicas: prod needs a cache replica for automatic failover (got 0)",
        ),
        (
            {"loadBalancer": {"deletionProtection": False}},
            "scalestack:loadBalancer.deletionProtection: prod needs deletion protection on the load balancer",
        ),
    ],
)
def test_prod_refuses_what_is_not_highly_available(sections: dict[str, Any], expected: str) -> None:
    assert expected in error_for(config("prod", **sections))
    parse_config(config("dev", **sections), stack="test", source=SOURCE)  # the same values are fine in dev


@pytest.mark.parametrize(
    ("sections", "expected"),
    [
        (
            {"database": {"publiclyAccessible": True}},
            "scalestack:database.publiclyAccessible is refused: the database is never reachable from the internet",
        ),
        (
            {"web": {"sshIngressCidrs": ["0.0.0.0/0"]}},
            "scalestack:web.sshIngressCidrs is refused: port 22 is never opened",
        ),
        (
            {"cache": {"transitEncryption": False}},
            "scalestack:cache.transitEncryption is refused: the cache always requires TLS",
        ),
        ({"database": {"storageEncrypted": False}}, "scalestack:database.storageEncrypted is refused"),
    ],
)
def test_insecure_knobs_are_refused_with_the_reason(sections: dict[str, Any], expected: str) -> None:
    assert expected in error_for(config("dev", **sections))


@pytest.mark.parametrize(
    ("cfg", "expected"),
    [
        ({"scalestack:environment": "dev"}, "aws:region is required"),
        (config(environment="qa"), "scalestack:environment must be one of dev, staging, prod (got 'qa')"),
        (
            {**config("dev"), "scalestack:imageTag": "bad tag!"},
            "scalestack:imageTag: String should match pattern",
        ),
        (
            {k: v for k, v in config("dev").items() if k != "scalestack:imageTag"},
            "scalestack:imageTag: required key is missing",
        ),
        ({**config("dev"), "aws:region": "mars"}, "aws:region: 'mars' is not an AWS region"),
    ],
)
def test_top_level_keys(cfg: dict[str, Any], expected: str) -> None:
    assert expected in error_for(cfg)


def test_many_errors_are_all_listed_one_a_line() -> None:
    message = error_for(
        config(
            "dev",
            web={
                "minSize": "x",
                "maxSize": "y",
                "desiredCapacity": "z",
                "cpuTargetPercent": 1,
                "rootVolumeGib": 1,
                "instanceType": "q",
            },
        )
    )
    assert len(message.splitlines()) == 1 + 6  # the file, then every problem (issue 14: not cut at five)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("config: [1, 2", "not valid YAML"),
        ("- just a list", "a stack file is a mapping with a 'config:' mapping"),
        ("config: 3", "a stack file is a mapping with a 'config:' mapping"),
        ("config:\n  1: 2\n", "config key 1 must be a string"),
    ],
)
def test_unusable_files(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "Pulumi.broken.yaml"
    path.write_text(text)
    with pytest.raises(SpecError, match=expected) as raised:
        load_spec_file(path)
    assert str(path) in str(raised.value)


def test_unknown_stack_lists_the_known_ones() -> None:
    with pytest.raises(
        SpecError,
        match=r"no stack 'nope': .*Pulumi.nope.yaml does not exist \(stacks here: dev, prod, staging\)",
    ):
        load_stack_spec("nope")


def test_stack_names_must_make_valid_aws_names() -> None:
    with pytest.raises(SpecError, match="stack name 'Prod_1'"):
        load_stack_spec("Prod_1")


# --- What AWS would refuse, refused here first (issue 9, defects 1, 11 and 14) ---------------------------


@pytest.mark.parametrize("environment", ["dev", "staging", "prod"])
def test_profiles_never_combine_slow_start_with_an_algorithm_that_refuses_it(environment: str) -> None:
    """The ALB refuses slow start with least_outstanding_requests; every profile once asked for both."""
    balancer = parse_config(config(environment), stack="test", source=SOURCE).load_balancer
    assert balancer.slow_start_seconds == 0 or balancer.algorithm == "round_robin", balancer


@pytest.mark.parametrize("algorithm", ["least_outstanding_requests", "weighted_random"])
def test_slow_start_with_another_algorithm_is_refused_naming_both_keys(algorithm: str) -> None:
    message = error_for(config("dev", loadBalancer={"algorithm": algorithm, "slowStartSeconds": 60}))
    assert "scalestack:loadBalancer.slowStartSeconds: 60 cannot be combined with" in message
    assert f"scalestack:loadBalancer.algorithm {algorithm}" in message
    spec = parse_config(
        config("dev", loadBalancer={"algorithm": algorithm, "slowStartSeconds": 0}), stack="t", source=SOURCE
    )
    assert spec.load_balancer.algorithm == algorithm


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        (
            "eu-west-9",
            "aws:region: 'eu-west-9' is not an AWS region (did you mean eu-west-3, eu-west-2, eu-west-1?",
        ),
        ("us-gov-west-1", "aws:region: 'us-gov-west-1' is outside the commercial partition"),
        ("cn-north-1", "aws:region: 'cn-north-1' is outside the commercial partition"),
    ],
)
def test_regions_that_do_not_exist_or_are_not_supported(region: str, expected: str) -> None:
    assert expected in error_for({**config("dev"), "aws:region": region})


def test_every_commercial_region_is_one_the_aws_sdk_knows() -> None:
    import json

    import botocore

    partitions = json.loads((Path(botocore.__file__).parent / "data" / "partitions.json").read_text())
    commercial = next(p for p in partitions["partitions"] if p["id"] == "aws")
    from infra.aws_facts import COMMERCIAL_REGIONS

    assert set(COMMERCIAL_REGIONS) <= set(commercial["regions"])
    assert parse_config({**config("dev"), "aws:region": "ap-southeast-7"}, stack="t", source=SOURCE)


@pytest.mark.parametrize(
    ("cache", "expected"),
    [
        (
            {"engine": "valkey"},
            "scalestack:cache.engineVersion: ElastiCache offers valkey 7.2, 8.0, 8.1, 8.2, 9.0, 9.1 (7.1 is a redis version), not '7.1'",
        ),
        (
            {"engine": "redis", "engineVersion": "8.0"},
            "ElastiCache offers redis 7.0, 7.1 (8.0 is a valkey version)",
        ),
        (
            {"engine": "redis", "engineVersion": "6.2"},
            "redis 6.2 cannot require TLS in transit, as the kit's cache does (ElastiCache accepts "
            "transit_encryption_mode required from Redis OSS 7.0.5): use 7.0, 7.1",
        ),
        (
            {"engine": "valkey", "engineVersion": "7"},
            "ElastiCache offers valkey 7.2, 8.0, 8.1, 8.2, 9.0, 9.1, not '7'",
        ),
    ],
)
def test_cache_engine_versions_elasticache_does_not_offer(cache: dict[str, str], expected: str) -> None:
    assert expected in error_for(config("dev", cache=cache))


@pytest.mark.parametrize(
    ("engine", "version", "family"), [("redis", "7.1", "redis7"), ("valkey", "8.1", "valkey8")]
)
def test_cache_versions_elasticache_offers_and_their_family(engine: str, version: str, family: str) -> None:
    from infra.aws_facts import cache_parameter_group_family

    spec = parse_config(
        config("dev", cache={"engine": engine, "engineVersion": version}), stack="t", source=SOURCE
    )
    assert (spec.cache.engine, spec.cache.engine_version) == (engine, version)
    assert cache_parameter_group_family(engine, version) == family


@pytest.mark.parametrize("version", ["16.99", "16.4", "13", "18", "12.22", "sixteen", "16.x"])
def test_database_versions_rds_does_not_offer(version: str) -> None:
    message = error_for(config("dev", database={"engineVersion": version}))
    assert "scalestack:database.engineVersion: RDS for PostgreSQL offers 14 (14.18-14.20)" in message
    assert f"not '{version}'" in message


@pytest.mark.parametrize(
    ("version", "family"), [("16", "postgres16"), ("16.9", "postgres16"), ("17.7", "postgres17")]
)
def test_database_versions_rds_offers_and_their_family(version: str, family: str) -> None:
    from infra.aws_facts import postgres_parameter_group_family

    spec = parse_config(config("dev", database={"engineVersion": version}), stack="t", source=SOURCE)
    assert postgres_parameter_group_family(spec.database.engine_version) == family


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            "scalestak:web",
            "config key 'scalestak:web': unknown namespace 'scalestak' (did you mean 'scalestack:web'?)",
        ),
        ("ScaleStack:web", "unknown namespace 'ScaleStack' (did you mean 'scalestack:web'?)"),
        (
            "scalestack.database",
            "config key 'scalestack.database' has no namespace; Pulumi config keys are <namespace>:<name> (did you mean 'scalestack:database'?)",
        ),
        ("database", "config key 'database' has no namespace"),
        ("scalestack:", "config key 'scalestack:' names no key"),
    ],
)
def test_namespace_near_misses_are_refused_not_ignored(key: str, expected: str) -> None:
    assert expected in error_for({**config("dev"), key: {"minSize": 2}})


def test_other_namespaces_pulumi_stack_files_hold_are_left_alone() -> None:
    others = {
        "aws:profile": "prod-admin",
        "aws:allowedAccountIds": ["123456789012"],
        "pulumi:tags": {"a": "b"},
        "random:x": 1,
    }
    spec = parse_config({**config("dev"), **others}, stack="t", source=SOURCE)
    assert spec.region == "eu-west-1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "config:\n  aws:region: us-east-1\n  scalestack:environment: dev\n  aws:region: eu-west-1\n",
            "key 'aws:region' appears twice in one mapping (lines 2 and 4)",
        ),
        (
            "config:\n  aws:region: us-east-1\n  scalestack:environment: dev\n  scalestack:imageTag: '1'\n"
            "  scalestack:web:\n    minSize: 1\n    maxSize: 3\n    minSize: 2\n",
            "key 'minSize' appears twice in one mapping (lines 6 and 8)",
        ),
    ],
)
def test_duplicate_keys_are_refused_at_any_depth(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as raised:
        load_spec_file(path)
    assert str(raised.value).startswith(f"{path}: ") and expected in str(raised.value)


def test_yaml_merge_keys_may_still_override() -> None:
    import yaml

    from infra.spec import _UniqueKeyLoader

    text = "base: &b {minSize: 1, maxSize: 2}\nweb:\n  <<: *b\n  minSize: 2\n"
    assert yaml.load(text, Loader=_UniqueKeyLoader)["web"] == {"minSize": 2, "maxSize": 2}


def test_graviton_groups_need_an_arm64_image() -> None:
    message = error_for(config("dev", web={"instanceType": "m7g.large"}))
    assert (
        "scalestack:web.instanceType: m7g.large is arm64 but scalestack:app.architecture is x86_64" in message
    )
    mixed = error_for(config("dev", app={"architecture": "arm64"}, web={"instanceType": "m7g.large"}))
    assert (
        "scalestack:worker.instanceType: t3.small is x86_64 but scalestack:app.architecture is arm64" in mixed
    )
    spec = parse_config(
        config(
            "dev",
            app={"architecture": "arm64"},
            web={"instanceType": "m7g.large"},
            worker={"instanceType": "t4g.small"},
        ),
        stack="t",
        source=SOURCE,
    )
    assert spec.app.architecture == "arm64"


def test_architecture_of_every_instance_type_the_provider_knows() -> None:
    """Graviton types (the attribute letter g after the generation, and a1) are arm64; the rest x86_64."""
    import pulumi_aws as aws

    from infra.aws_facts import instance_architecture

    arm = {t.value for t in aws.ec2.InstanceType if instance_architecture(t.value) == "arm64"}
    for known in (
        "a1.large",
        "t4g.micro",
        "m7g.large",
        "c7gn.xlarge",
        "r6gd.large",
        "x2gd.large",
        "im4gn.large",
        "is4gen.large",
        "m8g.large",
    ):
        assert known in arm, known
    for x86 in (
        "t3.small",
        "m7i.large",
        "m7i-flex.large",
        "g4dn.xlarge",
        "g5.xlarge",
        "m6a.large",
        "c5n.large",
        "inf2.xlarge",
    ):
        assert instance_architecture(x86) == "x86_64", x86


def test_every_spec_constraint_names_real_keys_and_cites_a_source() -> None:
    import re

    from infra.constraints import SPEC_CONSTRAINTS
    from infra.spec import StackSpec

    assert len({c.id for c in SPEC_CONSTRAINTS}) == len(SPEC_CONSTRAINTS)
    for constraint in SPEC_CONSTRAINTS:
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", constraint.id), constraint.id
        assert constraint.source.startswith("https://"), constraint.id
        for key in constraint.keys:
            if key == "aws:region":
                continue
            section, _, name = key.removeprefix("scalestack:").partition(".")
            (model,) = [f.annotation for f in StackSpec.model_fields.values() if f.alias == section]
            if not name:  # a whole section, e.g. the `services` map's names
                continue
            assert name in {f.alias for f in model.model_fields.values()}, key  # type: ignore[union-attr]


def test_every_problem_is_shown_one_a_line_with_the_file_named_once() -> None:
    """Issue 14: the errors were joined on one line and cut after five."""
    message = error_for(
        config(
            "prod",
            network={"availabilityZones": 2, "natGateways": "single"},
            database={"multiAz": False, "readReplicas": 0, "deletionProtection": False},
            cache={"replicas": 0},
            web={"minSize": 1},
        )
    )
    assert message.splitlines() == [
        f"{SOURCE}: 7 problems:",
        "  scalestack:network.availabilityZones: prod needs 3 availability zones (got 2)",
        "  scalestack:network.natGateways: prod needs a NAT gateway in each availability zone (one-per-az) "
        "(got 'single')",
        "  scalestack:database.multiAz: prod needs a Multi-AZ database (true) (got False)",
        "  scalestack:database.readReplicas: prod needs at least 2 read replicas (got 0)",
        "  scalestack:database.deletionProtection: prod needs deletion protection on the database (true) "
        "(got False)",
        "  scalestack:cache.replicas: prod needs a cache replica for automatic failover (got 0)",
        "  scalestack:web.minSize: prod needs at least 2 web instances (got 1)",
    ]


def test_a_number_where_a_string_belongs_gets_a_hint_to_quote_it() -> None:
    message = error_for({**config("dev"), "scalestack:imageTag": 1.10})
    assert message == (
        f"{SOURCE}: scalestack:imageTag: Input should be a valid string (YAML read it as the number 1.1: "
        'quote it as written, e.g. "1.1")'
    )


def test_a_value_from_the_profile_says_so() -> None:
    """dev's instance types are x86_64; the file asks for arm64 and sets no instance type."""
    message = error_for(config("dev", app={"architecture": "arm64"}))
    assert message.splitlines()[1] == (
        "  scalestack:web.instanceType: t3.small is x86_64 but scalestack:app.architecture is arm64 (one "
        "image, one architecture: pick a arm64 type for every group, or change app.architecture) (the dev "
        "profile's value, not this file's: set the key here to change it)"
    )


def test_a_value_the_file_sets_is_not_said_to_come_from_the_profile() -> None:
    message = error_for(config("dev", app={"architecture": "arm64"}, web={"instanceType": "t3.small"}))
    assert "profile" not in message.splitlines()[1] and "profile's value" in message.splitlines()[2]


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        (
            "qa",
            "scalestack:environment must be one of dev, staging, prod (it is missing); the stack's name 'qa' "
            "is not one of them and picks no profile: any name works, with scalestack:environment saying "
            "which defaults and requirements apply",
        ),
        ("dev", "scalestack:environment must be one of dev, staging, prod (it is missing)"),
    ],
)
def test_the_stack_name_is_not_the_profile(stack: str, expected: str) -> None:
    cfg = {"aws:region": "eu-west-1", "scalestack:imageTag": "1.2.3"}
    with pytest.raises(SpecError) as raised:
        parse_config(cfg, stack=stack, source=SOURCE)
    assert str(raised.value) == f"{SOURCE}: {expected}"


def test_any_stack_name_takes_a_profile() -> None:
    spec = parse_config(config("staging"), stack="qa", source=SOURCE)
    assert (spec.stack, spec.environment, spec.name_prefix) == ("qa", "staging", "scalestack-qa")
    assert spec.database.multi_az == PROFILES["staging"]["database"]["multiAz"]
