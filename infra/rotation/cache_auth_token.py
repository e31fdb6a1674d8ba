"""Secrets Manager rotation function for the cache's AUTH token (runs as an AWS Lambda handler).

Secrets Manager calls it with one of four steps for a new version of the secret
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_lambda-functions.html):

- createSecret: a new random token, stored as the AWSPENDING version.
- setSecret: ElastiCache accepts it. The group has at most two tokens: first `SET` the current one, which
  retires the token before it (issued two rotations ago), then `ROTATE` in the pending one, so the current
  and the pending token both work while clients move over
  (https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/auth.html#auth-modifyng-token: ROTATE adds a
  token and keeps the old one; SET, allowed only after ROTATE, keeps only the given token). Only once a
  rotation has finished (a version carries AWSPREVIOUS) does the group hold two tokens to narrow down.
- testSecret: wait until the group has applied the change (status `available`).
- finishSecret: the pending version becomes AWSCURRENT; containers started from now on read it.

A token therefore works for two rotation periods after it became current; app instances live at most
one (the groups' maximum instance lifetime), so no running container holds a retired token (DESIGN.md).
"""

from __future__ import annotations

import os
import time
from typing import Any

PENDING, CURRENT, PREVIOUS = "AWSPENDING", "AWSCURRENT", "AWSPREVIOUS"
TOKEN_LENGTH = 64
"""ElastiCache allows 16-128 printable characters; letters and digits only avoid its excluded symbols."""
WAIT_SECONDS, WAIT_ATTEMPTS = 15, 50


def handler(event: dict[str, str], context: object, clients: tuple[Any, Any] | None = None) -> None:
    """Entry point: `clients` (secretsmanager, elasticache) are injected by tests, boto3's otherwise."""
    secrets, cache = clients or _boto3_clients()
    group = os.environ["REPLICATION_GROUP_ID"]
    arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    versions = secrets.describe_secret(SecretId=arn)["VersionIdsToStages"]
    if token not in versions:
        raise ValueError(f"version {token} is not a version of {arn}")
    if CURRENT in versions[token]:
        return  # already finished: Secrets Manager retries steps
    if step == "createSecret":
        _create(secrets, arn, token)
    elif step == "setSecret":
        rotated_before = any(PREVIOUS in stages for stages in versions.values())
        _set(secrets, cache, arn, token, group, rotated_before)
    elif step == "testSecret":
        _wait_available(cache, group)
    elif step == "finishSecret":
        _finish(secrets, arn, token, versions)
    else:
        raise ValueError(f"unknown rotation step {step}")


def _boto3_clients() -> tuple[Any, Any]:
    import boto3  # available in the Lambda Python runtime

    return boto3.client("secretsmanager"), boto3.client("elasticache")


def _create(secrets: Any, arn: str, token: str) -> None:
    try:
        secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)
        return  # created by an earlier attempt
    except secrets.exceptions.ResourceNotFoundException:
        pass
    value = secrets.get_random_password(PasswordLength=TOKEN_LENGTH, ExcludePunctuation=True)[
        "RandomPassword"
    ]
    secrets.put_secret_value(
        SecretId=arn, ClientRequestToken=token, SecretString=value, VersionStages=[PENDING]
    )


def _set(secrets: Any, cache: Any, arn: str, token: str, group: str, rotated_before: bool) -> None:
    current = secrets.get_secret_value(SecretId=arn, VersionStage=CURRENT)["SecretString"]
    pending = secrets.get_secret_value(SecretId=arn, VersionId=token, VersionStage=PENDING)["SecretString"]
    if rotated_before:
        _modify(cache, group, current, "SET")  # retires the token issued two rotations ago
    _modify(cache, group, pending, "ROTATE")


def _modify(cache: Any, group: str, auth_token: str, strategy: str) -> None:
    _wait_available(cache, group)
    cache.modify_replication_group(
        ReplicationGroupId=group,
        AuthToken=auth_token,
        AuthTokenUpdateStrategy=strategy,
        ApplyImmediately=True,
    )


def _wait_available(cache: Any, group: str) -> None:
    for _ in range(WAIT_ATTEMPTS):
        status = cache.describe_replication_groups(ReplicationGroupId=group)["ReplicationGroups"][0]["Status"]
        if status == "available":
            return
        time.sleep(WAIT_SECONDS)
    raise TimeoutError(f"replication group {group} did not become available")


def _finish(secrets: Any, arn: str, token: str, versions: dict[str, list[str]]) -> None:
    previous = next(v for v, stages in versions.items() if CURRENT in stages)
    secrets.update_secret_version_stage(
        SecretId=arn, VersionStage=CURRENT, MoveToVersionId=token, RemoveFromVersionId=previous
    )
