"""The deploy and rollback orchestrators: a small state machine over steps, each step one decision.

Order and why (docs/deploying.md has the long version):
  preflight -> build -> push -> migrate -> update -> rollout -> smoke -> static
`update` records each group's launch template version, then `pulumi up` makes a new template version and
moves no instance (the groups pin their version). `rollout` starts each group's instance refresh towards
the new numbered version; AWS saves it on the group only when the refresh succeeds, so a failure, an alarm
or a failed checkpoint rolls every instance back to the recorded version. A failure after that (smoke)
starts a refresh back to the recorded version. Migrations run before the new version can serve and are
expand-only, so the old version keeps working on the migrated schema. Nothing is changed in the stack
before `update`; from `update` on a failure rolls back instead of only stopping.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from infra.contract import INSTANCE_ENV_FILE, MIGRATION_ENV_FILE, RENDER_COMMAND, Output, missing_outputs
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.events import Event, Reporter, Status
from scripts.deploy.ports import (
    Cdn,
    Clock,
    CommandRunner,
    DeployHistory,
    Fleet,
    GroupConfiguration,
    HistoryEntry,
    Http,
    ImageEngine,
    InstanceRefreshes,
    Registry,
    RolloutPreferences,
    StackBackend,
    TemplateVersion,
)
from scripts.deploy.rollout import Rollout, RolloutTarget, RolloutTiming
from scripts.deploy.source import Revision, check_tag
from scripts.exit_codes import ExitCode

# More changed files than this and one wildcard is cheaper (CloudFront bills invalidation paths).
MAX_INVALIDATION_PATHS = 15
# CloudFront serves /static/ from the bucket under this prefix (app_template/app/static.py).
STATIC_PREFIX = "static"


@dataclass(frozen=True)
class StackOutputs:
    """The stack outputs the pipeline needs (camelCase in Pulumi, typed here)."""

    raw: Mapping[str, Any]

    @classmethod
    def parse(cls, stack: str, outputs: Mapping[str, Any]) -> StackOutputs:
        missing = missing_outputs(outputs)
        if missing:
            raise DeployError(
                ExitCode.USAGE,
                f"stack {stack} has no {', '.join(missing)} output{'s' if len(missing) > 1 else ''}: it has "
                "not been brought up yet (or by an older version of scalestack). Bring the infrastructure "
                "up once first; deploy ships new versions to an existing stack.",
            )
        return cls(outputs)

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    @property
    def image_tag(self) -> str | None:
        return self.raw.get(Output.IMAGE_TAG) or None

    def templates(self) -> dict[str, TemplateVersion]:
        """Each role's launch template and its latest version, as the last `up` left them."""
        return {
            role: TemplateVersion(str(value["id"]), str(value["version"]))
            for role, value in self.raw[Output.LAUNCH_TEMPLATES].items()
        }

    def rollout_target(self) -> RolloutTarget:
        return RolloutTarget(
            groups={"web": self.raw[Output.WEB_ASG_NAME], "worker": self.raw[Output.WORKER_ASG_NAME]},
            target_group_arn=self.raw[Output.WEB_TARGET_GROUP_ARN],
            alarm_names=tuple(self.raw.get(Output.ALARM_NAMES) or ()),
            preferences={
                role: RolloutPreferences.from_output(self.raw[Output.ROLLOUT], role)
                for role in ("web", "worker")
            },
        )


def migrate_commands(migrate: str | list[str] | None, image: str, region: str) -> list[str]:
    """The shell lines SSM runs: log in to ECR, then run the image's migrate command once.

    `appCommands.migrate` is either the container's arguments (list or string, default `migrate`) or a full
    command line with an `{image}` placeholder when the infrastructure needs more than the defaults.
    """
    if isinstance(migrate, str) and "{image}" in migrate:
        run = migrate.replace("{image}", shlex.quote(image))
    else:
        args = migrate if isinstance(migrate, list) else shlex.split(migrate or "migrate")
        env_files = ["--env-file", INSTANCE_ENV_FILE, "--env-file", MIGRATION_ENV_FILE]
        run = shlex.join(["docker", "run", "--rm", *env_files, image, *args])
    registry = image.split("/", 1)[0]
    return [
        "set -eu",
        f"aws ecr get-login-password --region {shlex.quote(region)} "
        f"| docker login --username AWS --password-stdin {shlex.quote(registry)}",
        # The app's own env has no master login; the migration gets it fresh from its secret (RDS rotates
        # it), and it stays on disk only while the migration runs.
        f"trap 'rm -f {MIGRATION_ENV_FILE}' EXIT",
        f"AWS_DEFAULT_REGION={shlex.quote(region)} {RENDER_COMMAND} migrate",
        run,
    ]


def static_assets(source: Path) -> dict[str, Path]:
    """Bucket key per asset, named as app_template/app/static.py serves it: `<stem>.<sha256[:12]><suffix>`."""
    return {
        f"{STATIC_PREFIX}/{path.stem}.{hashlib.sha256(path.read_bytes()).hexdigest()[:12]}{path.suffix}": path
        for path in sorted(source.iterdir())
        if path.is_file() and not path.name.startswith(".")
    }


@dataclass
class Ports:
    engine: ImageEngine
    registry: Registry
    stack: StackBackend
    refreshes: InstanceRefreshes
    commands: CommandRunner
    fleet: Fleet
    cdn: Cdn
    history: DeployHistory
    http: Http
    clock: Clock


@dataclass(frozen=True)
class Timing:
    """Deadlines and poll intervals; tests shrink them to zero with a fake clock."""

    rollout: RolloutTiming = field(default_factory=RolloutTiming)
    migrate_timeout_seconds: int = 900
    smoke_attempts: int = 10
    smoke_interval_seconds: float = 6.0
    http_timeout_seconds: float = 10.0
    invalidation_timeout_seconds: float = 600.0
    invalidation_poll_seconds: float = 10.0


@dataclass(frozen=True)
class DeployRequest:
    stack: str
    region: str
    image_tag: str | None  # None: derived from the commit
    context: Path  # the app's build context (app_template/)
    revision: Revision
    actor: str  # who deploys: the caller's AWS identity, recorded in the history
    readiness_path: str = "/readyz"
    liveness_path: str = "/healthz"  # answers {"version": <image tag>} in the app template
    smoke_path: str = "/api/tags"
    platform: str = "linux/amd64"  # the stack's app.architecture as a Docker platform

    @property
    def static_dir(self) -> Path:
        return self.context / "app" / "static"


class _Run:
    """What every orchestrator shares: the current step, events, the account of what happened."""

    failure_codes: ClassVar[Mapping[str, ExitCode]] = {}

    def __init__(self, ports: Ports, stack: str, reporter: Reporter, timing: Timing) -> None:
        self.ports = ports
        self.stack_name = stack
        self.reporter = reporter
        self.timing = timing
        self.step = "preflight"
        self.steps: dict[str, Status] = {}
        self.account: list[str] = []

    def emit(self, status: Status, message: str, data: Mapping[str, Any] | None = None) -> None:
        if status in {"started", "succeeded", "skipped", "failed"}:
            self.steps[self.step] = status
        self.reporter.emit(Event(self.step, status, message, dict(data or {})))

    def log(self, line: str) -> None:
        self.emit("progress", line)

    def rollout(self, outputs: StackOutputs, restoring: bool = False) -> Rollout:
        target = outputs.rollout_target()
        return Rollout(
            self.ports.refreshes,
            self.ports.fleet,
            self.ports.clock,
            target.restoring() if restoring else target,
            self.timing.rollout,
            self.emit,
        )

    def up(self) -> StackOutputs:
        """`pulumi up`, then the outputs it left: the launch templates' new latest versions."""
        self.ports.stack.up(self.log)
        return StackOutputs.parse(self.stack_name, self.ports.stack.outputs())

    def roll_out(self, outputs: StackOutputs) -> str:
        """Refresh every group that is not on its template's latest version; follow until healthy."""
        rollout = self.rollout(outputs)
        ids = rollout.begin(outputs.templates())
        if not ids:
            return self.skip("Every group already runs its template's latest version: nothing to roll out.")
        rollout.follow(ids)
        refreshes = ", ".join(f"{role} {rid}" for role, rid in ids.items())
        return f"Rolled out ({refreshes}), targets healthy."

    def run_step(self, name: str, action: Callable[[], str | None]) -> None:
        """Run one step; it returns the sentence for the account, or raises DeployError."""
        self.step = name
        self.emit("started", name)
        with aws_errors(self.failure_codes.get(name, ExitCode.FAILURE), name):
            note = action()
        if self.steps.get(name) != "skipped":
            self.emit("succeeded", note or name)
        if note:
            self.account.append(note)

    def record_history(self, write: Callable[[], None]) -> None:
        """The history only feeds `rollback`'s default; failing to write it must not fail a good deploy."""
        try:
            with aws_errors(ExitCode.FAILURE, "recording the deploy history"):
                write()
        except DeployError as err:
            self.emit("warning", f"{err.message} (`scalestack rollback --to TAG` still works)")

    def skip(self, why: str) -> str:
        self.emit("skipped", why)
        return why

    def finish(self, code: ExitCode, result: str, extra: Mapping[str, Any]) -> ExitCode:
        self.reporter.summary(
            {
                "result": result,
                "exitCode": int(code),
                "stack": self.stack_name,
                **extra,
                "steps": dict(self.steps),
                "account": " ".join(self.account),
            }
        )
        return code


class Deployment(_Run):
    failure_codes: ClassVar[Mapping[str, ExitCode]] = {
        "preflight": ExitCode.USAGE,
        "build": ExitCode.BUILD_FAILED,
        "push": ExitCode.PUSH_FAILED,
        "migrate": ExitCode.MIGRATION_FAILED,
        "update": ExitCode.INFRA_UPDATE_FAILED,
        "rollout": ExitCode.ROLLOUT_FAILED,
        "smoke": ExitCode.SMOKE_TEST_FAILED,
    }

    def __init__(self, ports: Ports, request: DeployRequest, reporter: Reporter, timing: Timing) -> None:
        super().__init__(ports, request.stack, reporter, timing)
        self.request = request
        self.outputs: StackOutputs | None = None
        self.tag = ""
        self.previous: str | None = None
        self.needs_image = True
        self.saved: dict[str, GroupConfiguration] = {}  # each group's configuration before `up`
        self.live = False  # from `update` on, the new image may be serving

    @property
    def image(self) -> str:
        assert self.outputs is not None
        return f"{self.outputs['ecrRepositoryUrl']}:{self.tag}"

    def run(self) -> ExitCode:
        steps: list[tuple[str, Callable[[], str | None]]] = [
            ("preflight", self._preflight),
            ("build", self._build),
            ("push", self._push),
            ("migrate", self._migrate),
            ("update", self._update),
            ("rollout", self._rollout),
            ("smoke", self._smoke),
            ("static", self._static),
        ]
        try:
            for name, action in steps:
                self.run_step(name, action)
        except DeployError as err:
            return self._failed(err)
        except KeyboardInterrupt:
            return self._interrupted()
        self._record("deploy")
        return self.finish(ExitCode.OK, "deployed", self._summary())

    def _summary(self) -> dict[str, Any]:
        return {"imageTag": self.tag, "previousTag": self.previous}

    # --- steps -----------------------------------------------------------------------------------------

    def _preflight(self) -> str:
        self.outputs = StackOutputs.parse(self.stack_name, self.ports.stack.outputs())
        self.previous = self.outputs.image_tag or self.ports.stack.image_tag()
        self.tag = check_tag(self.request.image_tag or self.request.revision.default_tag())
        busy = self.rollout(self.outputs).active()
        if busy:
            raise DeployError(
                ExitCode.USAGE,
                "an instance refresh is already running ("
                + ", ".join(f"{r}: {s.refresh_id} {s.status}" for r, s in busy.items())
                + "). Wait for it (`scalestack status`) or stop it (`scalestack rollback`).",
            )
        self.needs_image = not self.ports.registry.has_tag(self.outputs["ecrRepositoryName"], self.tag)
        if self.needs_image:
            self.ports.engine.ping()  # an unreachable engine fails here, before anything is built or changed
        return f"Stack {self.stack_name} ran {self.previous or 'no recorded tag'}; deploying {self.tag}."

    def _build(self) -> str:
        if not self.needs_image:
            return self.skip(f"{self.tag} is already in ECR (tags are immutable): no build, no push.")
        revision = self.request.revision
        labels = {
            "org.opencontainers.image.revision": revision.commit,
            "org.opencontainers.image.version": self.tag,
            "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
            "com.scalestack.git-dirty": str(revision.dirty).lower(),
        }
        build_args = {"GIT_COMMIT": revision.commit, "IMAGE_TAG": self.tag}
        image_id = self.ports.engine.build(
            self.request.context, self.image, build_args, labels, self.request.platform, self.log
        )
        return f"Built {self.image} for {self.request.platform} ({image_id or 'no id reported'})."

    def _push(self) -> str | None:
        if not self.needs_image:
            self.skip(f"{self.tag} is already in ECR.")
            return None
        assert self.outputs is not None
        auth = self.ports.registry.login()
        self.ports.engine.push(self.outputs["ecrRepositoryUrl"], self.tag, auth, self.log)
        if not self.ports.registry.has_tag(self.outputs["ecrRepositoryName"], self.tag):
            raise DeployError(
                ExitCode.PUSH_FAILED, f"the engine reported the push done, but ECR has no {self.tag}."
            )
        return f"Pushed {self.tag} to ECR."

    def _migrate(self) -> str:
        assert self.outputs is not None
        # A healthy instance first; on a first rollout none is (no image existed until this deploy
        # pushed it), but an in-service one still runs SSM commands and can run the new image.
        running = sorted(
            (
                i
                for i in self.ports.fleet.instances(self.outputs["webAsgName"])
                if i.lifecycle_state == "InService"
            ),
            key=lambda i: i.health_status != "Healthy",
        )
        if not running:
            return self.skip(
                "No web instance in service to run migrations on: migrations did not run before the "
                "update; run the migrate command once the first instance is in service."
            )
        instance = running[0].instance_id
        migrate = (self.outputs.raw.get("appCommands") or {}).get("migrate")
        commands = migrate_commands(migrate, self.image, self.request.region)
        self.emit(
            "progress", f"running migrations on {instance}", {"instance": instance, "commands": commands}
        )
        result = self.ports.commands.run(
            instance,
            commands,
            f"scalestack migrate {self.stack_name} {self.tag}",
            self.timing.migrate_timeout_seconds,
        )
        for line in result.stdout.splitlines()[-20:]:
            self.log(line)
        if result.status != "Success":
            tail = " | ".join((result.stderr or result.stdout).strip().splitlines()[-5:])
            raise DeployError(
                ExitCode.MIGRATION_FAILED,
                f"the migrate command ended {result.status} on {instance}: {tail or 'no output'}. "
                "No traffic moved; the old version still serves.",
            )
        return f"Migrations ran on {instance} with {self.tag}."

    def _update(self) -> str:
        assert self.outputs is not None
        self.saved = self.rollout(self.outputs).saved()
        self.live = True
        self.ports.stack.set_image_tag(self.tag)
        self.outputs = self.up()
        versions = ", ".join(
            f"{role} {self.saved[role].template.version} -> {template.version}"
            for role, template in self.outputs.templates().items()
        )
        return f"pulumi up applied; launch template versions {versions}."

    def _rollout(self) -> str:
        assert self.outputs is not None
        return self.roll_out(self.outputs)

    def _smoke(self) -> str:
        assert self.outputs is not None
        base = str(self.outputs["url"]).rstrip("/")
        problems: list[str] = []
        for attempt in range(1, self.timing.smoke_attempts + 1):
            problems = [
                p
                for p in (
                    self._check(base + self.request.readiness_path, want_json=False),
                    self._check(base + self.request.smoke_path, want_json=True),
                    self._version_problem(base + self.request.liveness_path),
                )
                if p
            ]
            if not problems:
                return f"Smoke test passed at {base}."
            self.emit("progress", f"attempt {attempt}/{self.timing.smoke_attempts}: {'; '.join(problems)}")
            if attempt < self.timing.smoke_attempts:
                self.ports.clock.sleep(self.timing.smoke_interval_seconds)
        raise DeployError(ExitCode.SMOKE_TEST_FAILED, f"smoke test failed at {base}: {'; '.join(problems)}")

    def _version_problem(self, url: str) -> str | None:
        """The version answering must be the one deployed; an app that reports none is not judged on it."""
        try:
            response = self.ports.http.get(url, self.timing.http_timeout_seconds)
            version = json.loads(response.body).get("version") if response.status == 200 else None
        except (OSError, ValueError, AttributeError):
            return None  # an unreachable or odd liveness answer is the readiness check's to report
        if version is None or version == self.tag:
            return None
        return f"GET {url} reports version {version}, not {self.tag}"

    def _check(self, url: str, want_json: bool) -> str | None:
        try:
            response = self.ports.http.get(url, self.timing.http_timeout_seconds)
        except OSError as err:
            return f"GET {url}: {err}"
        if response.status != 200:
            return f"GET {url} answered {response.status}"
        if want_json:
            # A 200 from a CDN or proxy error page is not the app: the API answers JSON.
            try:
                json.loads(response.body)
            except ValueError:
                return f"GET {url} answered 200 but not JSON"
        return None

    def _static(self) -> str:
        """Upload changed static files and invalidate them. The new version already serves and passed the
        smoke test, so a problem here is a warning: rolling back over a cache would do more harm."""
        assert self.outputs is not None
        source = self.request.static_dir
        if not source.is_dir():
            return self.skip(f"No static files ({source} does not exist).")
        try:
            with aws_errors(ExitCode.FAILURE, "publishing static files"):
                return self._publish_static(source)
        except DeployError as err:
            self.emit("warning", err.message)
            return f"Static files not fully published: {err.message}"

    def _publish_static(self, source: Path) -> str:
        assert self.outputs is not None
        sync = self.ports.cdn.publish(self.outputs["staticBucketName"], static_assets(source))
        uploaded = f"Uploaded {len(sync.uploaded)} static file(s)"
        if not sync.overwritten:
            # New keys were never cached; only an overwritten key can be stale in CloudFront.
            return f"{uploaded}; no cached path changed, nothing to invalidate."
        paths = [f"/{key}" for key in sync.overwritten]
        if len(paths) > MAX_INVALIDATION_PATHS:
            paths = [f"/{STATIC_PREFIX}/*"]
        distribution = self.outputs["cloudfrontDistributionId"]
        invalidation = self.ports.cdn.invalidate(distribution, paths)
        self.emit(
            "progress",
            f"invalidating {len(paths)} path(s): {invalidation}",
            {"invalidation": invalidation, "paths": paths},
        )
        deadline = self.ports.clock.monotonic() + self.timing.invalidation_timeout_seconds
        # AWS answers "Completed", moto "COMPLETED"; boto3's waiter only knows the first.
        while self.ports.cdn.invalidation_status(distribution, invalidation).lower() != "completed":
            if self.ports.clock.monotonic() > deadline:
                raise DeployError(
                    ExitCode.FAILURE,
                    f"invalidation {invalidation} still in progress after "
                    f"{self.timing.invalidation_timeout_seconds:.0f}s; it finishes on its own.",
                )
            self.ports.clock.sleep(self.timing.invalidation_poll_seconds)
        return f"{uploaded}; invalidation {invalidation} of {len(paths)} path(s) completed."

    # --- endings ---------------------------------------------------------------------------------------

    def _record(self, kind: str) -> None:
        def write() -> None:
            if not self.ports.history.entries() and self.previous and self.previous != self.tag:
                # The first recorded deploy keeps what ran before it, so rollback has a target.
                self.ports.history.record(
                    HistoryEntry(self.previous, _now(), "deploy", "before scalestack history")
                )
            self.ports.history.record(
                HistoryEntry(self.tag, _now(), kind, self.request.actor, self.request.revision.commit)
            )

        self.record_history(write)

    def _failed(self, err: DeployError) -> ExitCode:
        failed_step = self.step
        self.emit("failed", err.message)
        self.account.append(f"{failed_step} failed: {err.message}")
        if not self.live:
            self.account.append(
                f"Nothing in the stack changed; it still runs {self.previous or 'what it ran'}."
            )
            return self.finish(err.code, f"{failed_step} failed", self._summary())
        assert self.outputs is not None
        if not self.previous:
            self.account.append(
                "No previous tag is known, so nothing was rolled back; the stack is left as is."
            )
            return self.finish(err.code, f"{failed_step} failed", self._summary())
        if failed_step == "update":
            return self._revert_update(err)
        self.step = "rollback"
        self.emit("started", f"rolling back to {self.previous}")
        try:
            with aws_errors(ExitCode.ROLLBACK_FAILED, "rolling back"):
                self._restore(self.previous)
        except DeployError as rollback_err:
            self.emit("failed", rollback_err.message)
            self.account.append(
                f"Rolling back to {self.previous} failed too: {rollback_err.message} "
                "Look now: `scalestack status --stack " + self.stack_name + "`."
            )
            return self.finish(ExitCode.ROLLBACK_FAILED, "rollback failed", self._summary())
        self.emit("succeeded", f"{self.previous} is back in service")
        self.account.append(
            f"Rolled back: {self.previous} is back in service on every instance and the "
            f"stack's image tag is {self.previous} again; {self.tag} stays in ECR."
        )
        assert self.previous is not None
        previous = self.previous
        self.record_history(
            lambda: self.ports.history.record(HistoryEntry(previous, _now(), "rollback", self.request.actor))
        )
        return self.finish(ExitCode.ROLLED_BACK, "rolled back", self._summary())

    def _restore(self, tag: str) -> None:
        """Every instance back on the version recorded before `up`, and `tag` back in the stack's config.

        A refresh the rollout rolled back is already there; one that succeeded (the smoke test failed
        after it) cannot be rolled back, so a new refresh goes back to the recorded version.
        """
        assert self.outputs is not None
        rollout = self.rollout(self.outputs, restoring=True)
        rollout.abort_active()
        self.ports.stack.set_image_tag(tag)
        ids = rollout.restore(self.saved)
        if ids:
            rollout.follow(ids)
        else:
            rollout.wait_healthy()

    def _revert_update(self, err: DeployError) -> ExitCode:
        """`up` failed part-way: put the old tag back in config and stop any refresh the update started.
        No second `up`: the failure that stopped the first would most likely stop it too."""
        assert self.outputs is not None and self.previous is not None
        self.step = "rollback"
        self.emit("started", f"restoring {self.previous}")
        try:
            with aws_errors(ExitCode.ROLLBACK_FAILED, "reverting the update"):
                self.ports.stack.set_image_tag(self.previous)
                self.rollout(self.outputs).abort_active()
        except DeployError as revert_err:
            self.emit("failed", revert_err.message)
            self.account.append(f"Reverting failed too: {revert_err.message}")
            return self.finish(ExitCode.ROLLBACK_FAILED, "rollback failed", self._summary())
        self.emit("succeeded", f"image tag {self.previous} restored in config; no refresh left running")
        self.account.append(
            f"The stack's image tag is {self.previous} again and no refresh is running; resources "
            "the update changed before it failed stay changed until the next `up`."
        )
        return self.finish(err.code, "update failed", self._summary())

    def _interrupted(self) -> ExitCode:
        where = {
            "update": f"`pulumi up` was interrupted: the engine finishes the operations in flight, so the "
            f"stack may be partly updated with image tag {self.tag} in config. Run `scalestack status "
            f"--stack {self.stack_name}`, then deploy again or `scalestack rollback`.",
            "rollout": f"The instance refresh keeps going in AWS (auto rollback on). Follow it with "
            f"`scalestack status --stack {self.stack_name}`; stop it with `scalestack rollback`.",
            "smoke": f"{self.tag} is live; its smoke test did not finish.",
            "static": f"{self.tag} is live and passed its smoke test; static files may be partly published.",
        }
        state = where.get(
            self.step,
            f"Stopped before the stack changed; it still runs {self.previous}."
            + (
                " The migrate command may still finish on the instance (harmless: expand-only)."
                if self.step == "migrate"
                else ""
            ),
        )
        self.emit("failed", f"interrupted: {state}")
        self.account.append(f"Interrupted during {self.step}. {state}")
        return self.finish(ExitCode.INTERRUPTED, "interrupted", self._summary())


class RollbackRun(_Run):
    """`scalestack rollback`: put an earlier tag back in service (by default the previous one)."""

    failure_codes: ClassVar[Mapping[str, ExitCode]] = {
        "preflight": ExitCode.USAGE,
        "rollback": ExitCode.ROLLBACK_FAILED,
    }

    def __init__(
        self, ports: Ports, stack: str, to: str | None, actor: str, reporter: Reporter, timing: Timing
    ) -> None:
        super().__init__(ports, stack, reporter, timing)
        self.to = to
        self.actor = actor
        self.target = ""
        self.current: str | None = None
        self.outputs: StackOutputs | None = None

    def run(self) -> ExitCode:
        try:
            self.run_step("preflight", self._preflight)
            self.run_step("rollback", self._rollback)
        except DeployError as err:
            self.emit("failed", err.message)
            self.account.append(f"{self.step} failed: {err.message}")
            return self.finish(err.code, f"{self.step} failed", self._summary())
        except KeyboardInterrupt:
            self.emit("failed", "interrupted")
            self.account.append(
                f"Interrupted during {self.step}; run `scalestack status --stack {self.stack_name}`."
            )
            return self.finish(ExitCode.INTERRUPTED, "interrupted", self._summary())
        self.record_history(
            lambda: self.ports.history.record(HistoryEntry(self.target, _now(), "rollback", self.actor))
        )
        return self.finish(ExitCode.OK, "rolled back", self._summary())

    def _summary(self) -> dict[str, Any]:
        return {"imageTag": self.target, "previousTag": self.current}

    def _preflight(self) -> str:
        self.outputs = StackOutputs.parse(self.stack_name, self.ports.stack.outputs())
        self.current = self.outputs.image_tag or self.ports.stack.image_tag()
        if self.to:
            self.target = check_tag(self.to)
        else:
            earlier = [e.tag for e in self.ports.history.entries() if e.tag != self.current]
            if not earlier:
                raise DeployError(
                    ExitCode.USAGE,
                    f"no earlier tag in the deploy history of {self.stack_name}: pass "
                    f"--to TAG (`scalestack images --stack {self.stack_name}` lists them).",
                )
            self.target = earlier[-1]
        if not self.ports.registry.has_tag(self.outputs["ecrRepositoryName"], self.target):
            raise DeployError(
                ExitCode.USAGE,
                f"{self.target} is not in the stack's ECR repository; "
                f"`scalestack images --stack {self.stack_name}` lists the tags it has.",
            )
        return f"Stack {self.stack_name} runs {self.current}; rolling back to {self.target}."

    def _rollback(self) -> str:
        """Stop any refresh, set the tag, `up` (a new template version with it), refresh to that version."""
        assert self.outputs is not None
        self.rollout(self.outputs).abort_active()
        self.ports.stack.set_image_tag(self.target)
        self.outputs = self.up()
        self.roll_out(self.outputs)
        return f"{self.target} is back in service on every instance."


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
