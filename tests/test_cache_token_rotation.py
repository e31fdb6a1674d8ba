"""The cache AUTH token rotation: the Lambda handler against stand-ins that model what AWS documents.

ElastiCache (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html#auth-modifyng-token): ROTATE
adds a token and keeps the existing one, so both are accepted; SET is allowed only after a ROTATE and
leaves only the given token. Secrets Manager
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html): the four
steps, staging labels, and AWSPREVIOUS moving to the version AWSCURRENT leaves.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from infra.components.cache import AUTH_TOKEN_ROTATION_DAYS, MAX_INSTANCE_LIFETIME_DAYS
from infra.rotation import cache_auth_token
from tests.conftest import plan_of

GROUP = "prod-cache"
ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:cache-auth"


class FakeCache:
    def __init__(self, token: str) -> None:
        self.tokens = [token]
        self.rotated_since_set = False

    def describe_replication_groups(self, ReplicationGroupId: str) -> dict[str, Any]:
        assert ReplicationGroupId == GROUP
        return {"ReplicationGroups": [{"ReplicationGroupId": GROUP, "Status": "available"}]}

    def modify_replication_group(self, **request: Any) -> None:
        assert request["ReplicationGroupId"] == GROUP and request["ApplyImmediately"] is True
        token, strategy = request["AuthToken"], request["AuthTokenUpdateStrategy"]
        if strategy == "ROTATE":
            if len(self.tokens) >= 2:
                raise ValueError("InvalidParameterCombination: the group already has two AUTH tokens")
            self.tokens.append(token)
            self.rotated_since_set = True
        elif strategy == "SET":
            if not self.rotated_since_set or token not in self.tokens:
                raise ValueError("InvalidParameterCombination: SET is allowed only after ROTATE")
            self.tokens, self.rotated_since_set = [token], False
        else:
            raise ValueError(strategy)

    def accepts(self, token: str) -> bool:
        return token in self.tokens


class FakeSecrets:
    class exceptions:
        class ResourceNotFoundException(Exception):
            pass

    def __init__(self, value: str) -> None:
        self.values = {"v0": value}
        self.stages: dict[str, list[str]] = {"v0": ["AWSCURRENT"]}
        self.passwords = (f"token-{n}" for n in itertools.count(1))

    def describe_secret(self, SecretId: str) -> dict[str, Any]:
        return {"VersionIdsToStages": {v: list(s) for v, s in self.stages.items()}}

    def get_secret_value(
        self, SecretId: str, VersionStage: str, VersionId: str | None = None
    ) -> dict[str, str]:
        for version, stages in self.stages.items():
            if VersionStage in stages and VersionId in (None, version):
                return {"SecretString": self.values[version]}
        raise self.exceptions.ResourceNotFoundException(VersionStage)

    def get_random_password(self, PasswordLength: int, ExcludePunctuation: bool) -> dict[str, str]:
        assert ExcludePunctuation and 16 <= PasswordLength <= 128
        return {"RandomPassword": next(self.passwords)}

    def put_secret_value(
        self, SecretId: str, ClientRequestToken: str, SecretString: str, VersionStages: list[str]
    ) -> None:
        self.values[ClientRequestToken] = SecretString
        self.stages[ClientRequestToken] = list(VersionStages)

    def update_secret_version_stage(
        self, SecretId: str, VersionStage: str, MoveToVersionId: str, RemoveFromVersionId: str
    ) -> None:
        assert VersionStage == "AWSCURRENT"
        for stages in self.stages.values():
            if "AWSPREVIOUS" in stages:
                stages.remove("AWSPREVIOUS")
        self.stages[RemoveFromVersionId] = ["AWSPREVIOUS"]
        self.stages[MoveToVersionId] = ["AWSCURRENT"]

    def current(self) -> str:
        return self.get_secret_value(ARN, "AWSCURRENT")["SecretString"]


def rotate(secrets: FakeSecrets, cache: FakeCache, version: str) -> None:
    """What Secrets Manager does on each scheduled rotation: create the version, then the four steps."""
    secrets.stages.setdefault(version, [])
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        event = {"SecretId": ARN, "ClientRequestToken": version, "Step": step}
        cache_auth_token.handler(event, None, (secrets, cache))


@pytest.fixture(autouse=True)
def _group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPLICATION_GROUP_ID", GROUP)


def test_each_token_works_for_two_rotations_and_then_stops() -> None:
    secrets, cache = FakeSecrets("token-0"), FakeCache("token-0")
    held = ["token-0"]  # what containers started after each rotation read
    for rotation in range(1, 5):
        rotate(secrets, cache, f"v{rotation}")
        held.append(secrets.current())
        assert secrets.current() == f"token-{rotation}"
        # The new token and the one before it work; every older one is retired.
        assert [t for t in held if cache.accepts(t)] == held[-2:]


def test_a_retried_step_changes_nothing() -> None:
    secrets, cache = FakeSecrets("token-0"), FakeCache("token-0")
    rotate(secrets, cache, "v1")
    rotate(secrets, cache, "v1")  # Secrets Manager retries: the version is already current
    assert secrets.current() == "token-1" and cache.tokens == ["token-0", "token-1"]


def test_instances_are_replaced_before_their_token_is_retired() -> None:
    # A container reads the current token at start; it is retired two rotations after it became current,
    # at least one full rotation period later, and no instance lives that long.
    assert MAX_INSTANCE_LIFETIME_DAYS < AUTH_TOKEN_ROTATION_DAYS
    _, plan = plan_of("prod")
    groups = [r for r in plan.resources if r.type == "aws:autoscaling/group:Group"]
    assert {r.inputs["maxInstanceLifetime"] for r in groups} == {MAX_INSTANCE_LIFETIME_DAYS * 86400}
    rotation = next(r for r in plan.resources if r.type == "aws:secretsmanager/secretRotation:SecretRotation")
    assert rotation.inputs["rotationRules"]["automaticallyAfterDays"] == AUTH_TOKEN_ROTATION_DAYS
    cache = next(r for r in plan.resources if r.type == "aws:elasticache/replicationGroup:ReplicationGroup")
    function = next(r for r in plan.resources if r.type == "aws:lambda/function:Function")
    assert (
        function.inputs["environment"]["variables"]["REPLICATION_GROUP_ID"]
        == cache.inputs["replicationGroupId"]
    )
