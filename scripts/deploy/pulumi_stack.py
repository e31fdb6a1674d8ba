"""The Pulumi adapter: one stack of the project at the repository root, through the Automation API.

One backend story for the CLI and the kit: the kit forces no backend. The Automation API runs the `pulumi`
CLI, which uses PULUMI_BACKEND_URL when it is set and otherwise the backend `pulumi login` chose, the same
one `pulumi up -s <stack>` uses by hand. The kit never creates a stack: a deploy is an update of a stack
someone brought up, and a stack created empty elsewhere would only hide the real one.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from pulumi import automation as auto

from infra.policies.pack import STACK_FILE_VARIABLE, STACK_VARIABLE
from scripts.deploy.errors import DeployError
from scripts.deploy.ports import LogFn, UpResult
from scripts.deploy.preview import DiffSummary, ResourceChange
from scripts.exit_codes import ExitCode

REPO_ROOT = Path(__file__).resolve().parents[2]
IMAGE_TAG_KEY = "scalestack:imageTag"
# `pulumi preview|up --policy-pack policy_pack`: the kit's rules as CrossGuard; the pack reads which stack
# it judges (its environment's levels and its waivers) from SCALESTACK_STACK (infra/policies/pack.py).
POLICY_PACK = REPO_ROOT / "policy_pack"


def policy_packs(log: LogFn) -> list[str]:
    """The kit's pack when this is a checkout of the kit; a pip-installed kit has no policy_pack/ beside
    it, and says so (`scalestack plan` evaluates the same rules offline)."""
    if POLICY_PACK.is_dir():
        return [str(POLICY_PACK)]
    log(f"warning: no policy pack at {POLICY_PACK} (an installed kit); `scalestack plan` runs its rules")
    return []


class PreviewEvents:
    """The engine events of a preview, gathered: each resource step, and each mandatory policy violation
    (the CLI then fails the preview; these say why)."""

    def __init__(self, log: LogFn) -> None:
        self.log = log
        self.steps: list[ResourceChange] = []
        self.violations: list[str] = []

    def __call__(self, event: auto.EngineEvent) -> None:
        pre = event.resource_pre_event
        if pre is not None:
            meta = pre.metadata
            self.steps.append(ResourceChange(meta.op.value, meta.type, meta.urn))
        policy = event.policy_event
        if policy is not None and policy.enforcement_level == "mandatory":
            where = (policy.resource_urn or "").rsplit("::", 1)[-1] or "the stack"
            self.violations.append(f"{policy.policy_name} on {where}: {policy.message.strip()}")
        line = describe_engine_event(event)
        if line:
            self.log(line)

    def summary(self) -> DiffSummary:
        return DiffSummary.of(self.steps)


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
    def __init__(self, stack_name: str, repo_root: Path = REPO_ROOT, stack_file: Path | None = None) -> None:
        self._name = stack_name
        self._root = repo_root
        self._stack_file = stack_file or repo_root / "stacks" / f"Pulumi.{stack_name}.yaml"
        self._stack: auto.Stack | None = None

    def _select(self) -> auto.Stack:
        if self._stack is None:
            try:
                self._stack = auto.select_stack(
                    self._name,
                    work_dir=str(self._root),
                    opts=auto.LocalWorkspaceOptions(
                        env_vars={
                            STACK_VARIABLE: self._name,
                            STACK_FILE_VARIABLE: str(self._stack_file.resolve()),
                        }
                    ),
                )
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

    def preview(self, log: LogFn, image_tag: str | None = None) -> DiffSummary:
        """`pulumi preview` with the policy pack; with image_tag, as the stack would be with that tag (a
        copy of the stack's config with the tag set, so nothing is changed before the deploy confirms)."""
        events = PreviewEvents(log)
        with (
            self._config_with_tag(image_tag) as config_file,
            _pulumi_errors(ExitCode.INFRA_UPDATE_FAILED, f"`pulumi preview` on stack {self._name}"),
        ):
            try:
                self._select().preview(
                    on_event=events,
                    color="never",
                    refresh=True,
                    policy_packs=policy_packs(log),
                    config_file=config_file,
                )
            except auto.errors.CommandError:
                if events.violations:
                    raise DeployError(
                        ExitCode.POLICY_VIOLATION,
                        "the policy pack refused the update: " + "; ".join(events.violations),
                    ) from None
                raise
        return events.summary()

    @contextmanager
    def _config_with_tag(self, image_tag: str | None) -> Iterator[str | None]:
        if image_tag is None:
            yield None
            return
        # The stack file as it is (secrets stay ciphertext under its encryption salt), the tag changed.
        document = yaml.safe_load(self._stack_file.read_text(encoding="utf-8"))
        document["config"][IMAGE_TAG_KEY] = image_tag
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="scalestack-preview-") as handle:
            yaml.safe_dump(document, handle)
            handle.flush()
            yield handle.name

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
                on_event=on_event,
                color="never",
                message="scalestack",
                refresh=True,
                policy_packs=policy_packs(log),
            )
        return _changes(result.summary.resource_changes)

    def destroy(self, log: LogFn) -> UpResult:
        def on_event(event: auto.EngineEvent) -> None:
            line = describe_engine_event(event)
            if line:
                log(line)

        with _pulumi_errors(ExitCode.INFRA_UPDATE_FAILED, f"`pulumi destroy` on stack {self._name}"):
            result = self._select().destroy(on_event=on_event, color="never", message="scalestack destroy")
        return _changes(result.summary.resource_changes)


def _changes(counts: Any) -> UpResult:
    return UpResult(changes={getattr(op, "value", str(op)): n for op, n in (counts or {}).items()})
