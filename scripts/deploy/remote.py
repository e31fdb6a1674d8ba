"""Running the app's image on one of the stack's instances through SSM Run Command: what the deploy's
migrate step and `scalestack run` share.

The lines run as AWS-RunShellScript on the instance (https://docs.aws.amazon.com/systems-manager/latest/userguide/
documents-command-ssm-plugin-reference.html#aws-runShellScript): log in to ECR, prepare, then one `docker run
--rm` of the image with the env files the boot script renders (infra/contract.py names them).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from infra.contract import INSTANCE_ENV_FILE, TOKEN_DIR_IN_CONTAINER, TOKEN_DIR_ON_HOST
from scripts.deploy.ports import GroupInstance


def pick_instance(instances: Iterable[GroupInstance]) -> GroupInstance | None:
    """An in-service instance, a healthy one first: on a first rollout none is healthy yet (no image existed
    until the deploy pushed it), but an in-service one still runs SSM commands and can run the image."""
    running = sorted(
        (i for i in instances if i.lifecycle_state == "InService"), key=lambda i: i.health_status != "Healthy"
    )
    return running[0] if running else None


def container_commands(
    image: str,
    region: str,
    run: str,
    prepare: Sequence[str] = (),
) -> list[str]:
    """`set -eu`, the ECR login for the image's registry, the preparation lines, then `run`."""
    registry = image.split("/", 1)[0]
    return [
        "set -eu",
        f"aws ecr get-login-password --region {shlex.quote(region)} "
        f"| docker login --username AWS --password-stdin {shlex.quote(registry)}",
        *prepare,
        run,
    ]


def docker_run(image: str, args: Sequence[str], env_files: Sequence[str]) -> str:
    flags = [flag for path in env_files for flag in ("--env-file", path)]
    return shlex.join(["docker", "run", "--rm", *flags, image, *args])


def app_task_commands(image: str, region: str, args: Sequence[str]) -> list[str]:
    """A one-off task in the image, as the app container runs: its env file (rendered fresh, so new
    settings and secrets count) and the database tokens, read-only, where the app reads them."""
    run = shlex.join(
        [
            "docker", "run", "--rm", "--env-file", INSTANCE_ENV_FILE,
            "-v", f"{TOKEN_DIR_ON_HOST}:{TOKEN_DIR_IN_CONTAINER}:ro",
            image, *args,
        ]
    )  # fmt: skip
    return container_commands(image, region, run)
