"""The Pulumi adapter: one stack of the project at the repository root, through the Automation API."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pulumi import automation as auto

from scripts.deploy.errors import DeployError
from scripts.deploy.ports import LogFn, UpResult
from scripts.exit_codes import ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG_KEY = "scalestack:imageTag"


def backend_url(repo_root: Path = REPO_ROOT) -> str:
    """PULUMI_BACKEND_URL when set (CI points it at S3 or Pulumi Cloud); else a file backend in the repo."""
    return os.environ.get("PULUMI_BACKEND_URL") or f"file://{repo_root / '.pulumi-state'}"


def describe_engine_event(event: auto.EngineEvent) -> str | None:
    """One line per resource step or diagnostic worth a person's attention; None for the rest."""
    if event.resource_pre_event and event.resource_pre_event.metadata.op not in {
        auto.OpType.SAME,
        auto.OpType.READ,
    }:
        meta = event.resource_pre_event.metadata
        return f"{meta.op.value} {meta.type} {meta.urn.rsplit('::', 1)[-1]}"
    if event.res_op_failed_event:
        return f"failed: {event.res_op_failed_event.metadata.urn.rsplit('::', 1)[-1]}"
    if event.diagnostic_event and event.diagnostic_event.severity in {"warning", "error"}:
        return f"{event.diagnostic_event.severity}: {event.diagnostic_event.message.strip()}"
    return None


@contextmanager
def _pulumi_errors(code: ExitCode, doing: str) -> Iterator[None]:
    try:
        yield
    except auto.errors.ConcurrentUpdateError:
        raise DeployError(
            code,
            f"{doing}: another update holds the stack's lock. Wait for it, or, if it "
            "died, `pulumi cancel` / `pulumi stack export|import` to clear the lock.",
        ) from None
    except auto.errors.CommandError as err:
        # The CLI's own words are the useful part; the last lines name the resource and the provider error.
        tail = "\n".join(str(err).strip().splitlines()[-8:])
        raise DeployError(code, f"{doing} failed:\n{tail}") from None


class PulumiStack:
    def __init__(self, stack_name: str, repo_root: Path = REPO_ROOT) -> None:
        self._name = stack_name
        self._root = repo_root
        self._stack: auto.Stack | None = None

    def _select(self) -> auto.Stack:
        if self._stack is None:
            env = {"PULUMI_BACKEND_URL": backend_url(self._root)}
            if env["PULUMI_BACKEND_URL"].startswith("file://"):
                Path(env["PULUMI_BACKEND_URL"].removeprefix("file://")).mkdir(parents=True, exist_ok=True)
            opts = auto.LocalWorkspaceOptions(work_dir=str(self._root), env_vars=env)
            try:
                # create_or_select: the stack's config lives in stacks/; the backend only needs to know of it.
                self._stack = auto.create_or_select_stack(self._name, work_dir=str(self._root), opts=opts)
            except FileNotFoundError:
                raise DeployError(
                    ExitCode.ENGINE_UNREACHABLE,
                    "the pulumi CLI is not on PATH; the Automation API drives it. Install it "
                    "(https://www.pulumi.com/docs/install/) and run again.",
                ) from None
            except auto.errors.InvalidVersionError as err:
                raise DeployError(ExitCode.ENGINE_UNREACHABLE, f"the pulumi CLI is too old: {err}") from None
        return self._stack

    def outputs(self) -> dict[str, Any]:
        with _pulumi_errors(ExitCode.USAGE, f"reading the outputs of stack {self._name}"):
            return {key: out.value for key, out in self._select().outputs().items()}

    def image_tag(self) -> str | None:
        try:
            return self._select().get_config(IMAGE_TAG_KEY).value
        except auto.errors.CommandError:  # not set yet
            return None

    def set_image_tag(self, tag: str) -> None:
        with _pulumi_errors(ExitCode.INFRA_UPDATE_FAILED, f"setting {IMAGE_TAG_KEY}"):
            self._select().set_config(IMAGE_TAG_KEY, auto.ConfigValue(value=tag))

    def up(self, log: LogFn) -> UpResult:
        def on_event(event: auto.EngineEvent) -> None:
            line = describe_engine_event(event)
            if line:
                log(line)

        with _pulumi_errors(ExitCode.INFRA_UPDATE_FAILED, f"`pulumi up` on stack {self._name}"):
            # refresh: the groups' launch template version is an ignored input that AWS moves when the
            # pipeline's refresh succeeds; Pulumi sends the state's value for ignored inputs, so the state
            # must be read from AWS first (https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/).
            result = self._select().up(
                on_event=on_event, color="never", message="scalestack deploy", refresh=True
            )
        changes = result.summary.resource_changes or {}
        return UpResult(changes={getattr(op, "value", str(op)): n for op, n in changes.items()})
