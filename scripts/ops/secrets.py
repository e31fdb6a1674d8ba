"""The app's own secrets: one Secrets Manager secret per stack (`app_secrets_name`), a JSON object of
NAME: value that the settings renderer adds to the container's environment at each start
(infra/components/boot/render_env.py). Values are never printed, logged or taken from the command line.

One secret, not one per name: the instances read it with GetSecretValue on its own ARN, where a secret per
name would need ListSecrets, which has no resource-level permissions
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_iam-permissions.html). It is
encrypted with the account's AWS managed key aws/secretsmanager, whose key policy lets any principal of the
account that may read the secret decrypt it through Secrets Manager
(https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
"""

from __future__ import annotations

import json
import re
from typing import Any

from botocore.exceptions import ClientError

from infra.contract import KIT_SETTINGS, app_secrets_name
from infra.spec import NAMESPACE, StackSpec
from scripts.deploy.aws import error_code
from scripts.deploy.errors import DeployError
from scripts.exit_codes import ExitCode

NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")  # as app.environment's names (infra/spec.py AppSpec)


def check_name(spec: StackSpec, name: str) -> str:
    """A name the app may be given: an environment variable name the kit and the stack file do not set."""
    if not NAME.match(name):
        raise DeployError(
            ExitCode.USAGE,
            f"secret name {name!r}: use an upper-case letter then up to 63 upper-case letters, digits or '_'",
        )
    if name in KIT_SETTINGS:
        raise DeployError(
            ExitCode.USAGE,
            f"secret name {name}: set by the kit itself (from the database, cache and port); "
            "pick another name",
        )
    if name in spec.app.environment:
        raise DeployError(
            ExitCode.USAGE,
            f"secret name {name}: {spec.source} sets it in {NAMESPACE}:app.environment (plain, in SSM); "
            "remove it there first, or pick another name",
        )
    return name


def check_value(name: str, value: str) -> str:
    if not value:
        raise DeployError(ExitCode.USAGE, f"secret {name}: the value is empty")
    if "\n" in value.rstrip("\n") or "\r" in value:
        # Docker's --env-file takes one line per variable.
        raise DeployError(
            ExitCode.USAGE, f"secret {name}: the value has a line break; env files take one line"
        )
    return value.rstrip("\n")


class AppSecrets:
    def __init__(self, client: Any, stack: str) -> None:
        self._client = client
        self.name = app_secrets_name(stack)
        self._stack = stack

    def read(self) -> dict[str, str]:
        try:
            answer = self._client.get_secret_value(SecretId=self.name)
        except ClientError as err:
            if error_code(err) == "ResourceNotFoundException":
                return {}
            raise
        values: dict[str, str] = json.loads(answer["SecretString"])
        return values

    def write(self, values: dict[str, str]) -> None:
        text = json.dumps(values, sort_keys=True)
        try:
            self._client.put_secret_value(SecretId=self.name, SecretString=text)
        except ClientError as err:
            if error_code(err) != "ResourceNotFoundException":
                raise
            self._client.create_secret(
                Name=self.name,
                SecretString=text,
                Description=f"scalestack {self._stack}: the app's own secrets (scalestack secret set)",
                Tags=[{"Key": "scalestack:stack", "Value": self._stack}],
            )
