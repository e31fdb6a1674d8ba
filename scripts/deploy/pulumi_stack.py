"""The Pulumi adapter: one stack of the project at the repository root, through the Automation API.

One backend story for the CLI and the kit: the kit forces no backend. The Automation API runs the `pulumi`
CLI, which uses PULUMI_BACKEND_URL when it is set and otherwise the backend `pulumi login` chose, the same
one `pulumi up -s <stack>` uses by hand. The kit never creates a stack: a deploy is an update of a stack
someone brought up, and a stack created empty elsewhere would only hide the real one.
"""

from __future__ import annotations

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
            try:
                self._stack = auto.select_stack(self._name, work_dir=str(self._root))
            except auto.errors.StackNotFoundError:
                raise DeployError(ExitCode.USAGE, self._not_brought_up()) from None
            except FileNotFoundError:
                raise DeployError(
                    ExitCode.ENGINE_UNREACHABLE,
                    "the pulumi CLI is not on PATH; the Automation API drives it. Install it "
                    "(https://www.pulumi.com/docs/install/) and run again.",
                ) from None
            except auto.errors.InvalidVersionError as err:
                raise DeployError(ExitCode.ENGINE_UNREACHABLE, f"the pulumi CLI is too old: {err}") from None
        return self._stack

    def _not_brought_up(self) -> str:
        return (
            f"stack {self._name} does not exist in the Pulumi backend {self._backend()}; nothing changed. "
            f"Bring it up first from the repository root: `pulumi stack init {self._name}` then "
            f"`pulumi up -s {self._name}` (its config is stacks/Pulumi.{self._name}.yaml), or, if it lives "
            "in another backend, `pulumi login <that backend>` or set PULUMI_BACKEND_URL to it."
        )

    def _backend(self) -> str:
        """Where the CLI looked, as `pulumi whoami --verbose` reports it (the backend URL and the user)."""
        try:
            who = auto.LocalWorkspace(work_dir=str(self._root)).who_am_i()
        except auto.errors.CommandError:
            return "that `pulumi whoami --verbose` names"
        return f"{who.url or 'that `pulumi whoami --verbose` names'} (logged in as {who.user})"

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
