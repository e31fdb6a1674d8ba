"""`scalestack exec`: a Session Manager shell or command on one of the stack's instances, in the app
container by default.

`aws ssm start-session` needs the Session Manager plugin beside the AWS CLI
(https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html);
a command rather than a shell goes through the AWS-StartInteractiveCommand document and its `command`
parameter (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-sessions-start.html#sessions-start-interactive-commands).
The instance profile allows the session (AmazonSSMManagedInstanceCore, infra/components/app_group.py).
"""

from __future__ import annotations

import json
import shlex
import shutil
from collections.abc import Iterable, Sequence

from scripts.deploy.errors import DeployError
from scripts.deploy.ports import GroupInstance
from scripts.deploy.remote import pick_instance
from scripts.exit_codes import ExitCode

PLUGIN = "session-manager-plugin"
INTERACTIVE_DOCUMENT = "AWS-StartInteractiveCommand"
# The container's name on every instance (infra/components/boot/scalestack-app.service.tmpl, `--name app`).
APP_CONTAINER = "app"


def session_argv(instance_id: str, region: str, command: Sequence[str], on_host: bool) -> list[str]:
    """The `aws ssm start-session` invocation: a shell in the app container (or on the host with
    on_host), or `command` there."""
    argv = ["aws", "ssm", "start-session", "--region", region, "--target", instance_id]
    if on_host and not command:
        return argv  # Session Manager's default document: a shell on the instance
    inner = (
        list(command) if on_host else ["sudo", "docker", "exec", "-it", APP_CONTAINER, *(command or ["sh"])]
    )
    parameters = {"command": [shlex.join(inner)]}
    return [*argv, "--document-name", INTERACTIVE_DOCUMENT, "--parameters", json.dumps(parameters)]


def choose_instance(instances: Iterable[GroupInstance], wanted: str | None, where: str) -> str:
    """`wanted` when it is one of the group's in-service instances, else a healthy in-service one."""
    listed = list(instances)
    in_service = [i.instance_id for i in listed if i.lifecycle_state == "InService"]
    if wanted is not None:
        if wanted not in in_service:
            raise DeployError(
                ExitCode.USAGE,
                f"--instance {wanted} is not an in-service instance of {where} "
                f"(in service: {', '.join(in_service) or 'none'})",
            )
        return wanted
    chosen = pick_instance(listed)
    if chosen is None:
        raise DeployError(ExitCode.USAGE, f"{where} has no instance in service to connect to")
    return chosen.instance_id


def require_plugin() -> None:
    if shutil.which("aws") is None or shutil.which(PLUGIN) is None:
        raise DeployError(
            ExitCode.ENGINE_UNREACHABLE,
            f"`aws ssm start-session` needs the AWS CLI and the {PLUGIN} on PATH: install them "
            "(https://docs.aws.amazon.com/systems-manager/latest/userguide/"
            "session-manager-working-with-install-plugin.html) and run again",
        )
