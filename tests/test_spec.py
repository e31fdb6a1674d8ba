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
    assert message.startswith(SOURCE) and "\n" not in message
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
            "scalestack:database.multiAz: a prod stack requires true (got False)",
        ),
        (
            {"database": {"readReplicas": 1}},
            "scalestack:database.readReplicas: a prod stack requires >= 2 (got 1)",
        ),
        (
            {"network": {"natGateways": "single"}},
            "scalestack:network.natGateways: a prod stack requires one-per-az",
        ),
        ({"cache": {"replicas": 0}}, "scalestack:cache.replicas: a prod stack requires >= 1"),
        (
            {"loadBalancer": {"deletionProtection": False}},
            "scalestack:loadBalancer.deletionProtection: a prod stack requires true",
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
        ({**config("dev"), "aws:region": "mars"}, "aws:region: String should match pattern"),
    ],
)
def test_top_level_keys(cfg: dict[str, Any], expected: str) -> None:
    assert expected in error_for(cfg)


def test_many_errors_are_summarised_in_one_paragraph() -> None:
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
    assert "(and 1 more)" in message


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
