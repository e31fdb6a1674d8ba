"""The deploy and rollback orchestrators: a small state machine over steps, each step one decision.

Order and why (docs/deploying.md has the long version):
  preflight -> build -> push -> migrate -> update -> rollout -> smoke -> static
`update` records each group's launch template version, then `pulumi up` makes a new template version and
moves no instance (the groups pin their version). `rollout` starts each group's instance refresh towards
the new numbered version; AWS saves it on the group only when the refresh succeeds, so a failure, an alarm
or a failed checkpoint rolls every instance back to the recorded version. A failure after that (smoke)
starts a refresh back to the recorded version. Migrations run before the new version can serve and are
expand-only, so the old version keeps working on the migrated schema. Nothing is changed in the stack
before `update`; from `update` on a failure rolls back instead of only stopping (recovery.py).

`preflight` makes a frozen `DeployPlan` (outputs, tags, whether to build, each group's configuration before
`up`) that every later step takes as an argument; only a DeployError fails a step, any other exception is a
bug that leaves the run unrolled-back for the command line to report.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar

from infra import contract
from infra.contract import (
    INSTANCE_ENV_FILE,
    MIGRATION_ENV_FILE,
    RENDER_COMMAND,
    Output,
    ServiceOutput,
    migrating_service,
    parse_services,
)
from scripts.deploy.errors import DeployError, aws_errors
from scripts.deploy.events import Event, Reporter, Status, utc_now
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
from scripts.deploy.recovery import Recovery
from scripts.deploy.remote import container_commands, docker_run, pick_instance
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
        """Outputs the contract's typed parser accepts (infra/contract.py, tested on every shipped plan)."""
        try:
            contract.StackOutputs.parse(outputs)
        except contract.MissingOutputs as err:
            missing = err.names
            raise DeployError(
                ExitCode.USAGE,
                f"stack {stack} has no {', '.join(missing)} output{'s' if len(missing) > 1 else ''}: it has "
                "not been brought up yet (or by an older version of scalestack). Bring the infrastructure "
                "up once first; deploy ships new versions to an existing stack.",
            ) from None
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
        """Every service's group (the `services` output; web and worker for a stack from before it)."""
        services = parse_services(self.raw)
        rollout = contract.RolloutOutput.parse(self.raw[Output.ROLLOUT])
        return RolloutTarget(
            groups={name: service.asg_name for name, service in services.items()},
            target_group_arns={
                name: service.target_group_arn
                for name, service in services.items()
                if service.target_group_arn is not None
            },
            # The rollout output's alarms, not every alarm of the stack: a database alarm says nothing
            # about a new version, and a refresh takes at most contract.REFRESH_ALARMS_MAX.
            alarm_names={name: rollout.alarms_for(name) for name in services},
            preferences={
                name: RolloutPreferences.from_output(self.raw[Output.ROLLOUT], name) for name in services
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
        run = docker_run(image, args, [INSTANCE_ENV_FILE, MIGRATION_ENV_FILE])
    # The app's own env has no master login; the migration gets it fresh from its secret (RDS rotates
    # it), and it stays on disk only while the migration runs.
    prepare = [
        f"trap 'rm -f {MIGRATION_ENV_FILE}' EXIT",
        f"AWS_DEFAULT_REGION={shlex.quote(region)} {RENDER_COMMAND} migrate",
    ]
    return container_commands(image, region, run, prepare)


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
    context: Path  # the app's build context (the stack's app.buildContext, app_source.py)
    revision: Revision
    actor: str  # who deploys: the caller's AWS identity, recorded in the history
    smoke_path: str  # the stack's app.smokePath: a read that must answer JSON
    static_dir: Path  # the stack's app.staticDir under the context
    readiness_path: str = "/readyz"
    liveness_path: str = "/healthz"  # answers {"version": <image tag>} in the app template
    platform: str = "linux/amd64"  # the stack's app.architecture as a Docker platform
    service: str | None = None  # roll this service's group only (`--service`); None: every service


@dataclass
class StepNote:
    """The sentence a step leaves in the account; None when it has nothing to add."""

    text: str | None = None


class Run:
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

    service: str | None = None
    """The one service whose group this run rolls (`deploy --service`); None: every service's."""

    def rollout(self, outputs: StackOutputs, restoring: bool = False) -> Rollout:
        target = outputs.rollout_target()
        if self.service is not None:
            if self.service not in target.groups:
                raise DeployError(
                    ExitCode.USAGE,
                    f"stack {self.stack_name} has no service {self.service!r} (services: "
                    + ", ".join(target.groups)
                    + ")",
                )
            target = target.only(self.service)
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

    @contextmanager
    def stepping(self, name: str) -> Iterator[StepNote]:
        """One step: its events, its AWS errors as its failure class, its sentence in the account.

        Only DeployError (and AWS's own errors, translated) fail a step; any other exception is a bug in
        scalestack and leaves the run as it is, for the command line to report as one.
        """
        self.step = name
        self.emit("started", name)
        note = StepNote()
        with aws_errors(self.failure_codes.get(name, ExitCode.FAILURE), name):
            yield note
        if self.steps.get(name) != "skipped":
            self.emit("succeeded", note.text or name)
        if note.text:
            self.account.append(note.text)

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


@dataclass(frozen=True)
class DeployPlan:
    """What preflight found and decided; every later step takes it and none changes it."""

    outputs: StackOutputs  # the stack as it stands before the deploy
    tag: str  # the image tag to deploy
    previous: str | None  # the tag the stack runs now (None: never recorded)
    needs_image: bool  # False when ECR already has the tag (tags are immutable): no build, no push
    # Each group's configuration before `up` (read-only): the version a rollback returns every instance to.
    saved: Mapping[str, GroupConfiguration]

    @property
    def image(self) -> str:
        return f"{self.outputs[Output.ECR_REPOSITORY_URL]}:{self.tag}"

    def summary(self) -> dict[str, Any]:
        return {"imageTag": self.tag, "previousTag": self.previous}


@dataclass
class Progress:
    """How far a deploy got, for `recovery`: the plan once preflight made it, the outputs once `up` ran."""

    plan: DeployPlan | None = None
    deployed: StackOutputs | None = None


class Deployment(Run):
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
        self.service = request.service

    def run(self) -> ExitCode:
        progress = Progress()
        try:
            plan = self._steps(progress)
        except DeployError as err:
            return Recovery(self, progress).failed(err)
        except KeyboardInterrupt:
            return Recovery(self, progress).interrupted()
        self._record(plan)
        return self.finish(ExitCode.OK, "deployed", plan.summary())

    def _steps(self, progress: Progress) -> DeployPlan:
        with self.stepping("preflight") as note:
            plan = progress.plan = self._plan()
            note.text = self._preflight(plan)
        with self.stepping("build") as note:
            note.text = self._build(plan)
        with self.stepping("push") as note:
            note.text = self._push(plan)
        with self.stepping("migrate") as note:
            note.text = self._migrate(plan)
        with self.stepping("update") as note:
            deployed = progress.deployed = self._update(plan)
            note.text = "pulumi up applied; launch template versions " + ", ".join(
                f"{role} {plan.saved[role].template.version} -> {template.version}"
                for role, template in deployed.templates().items()
                if role in plan.saved
            )
        with self.stepping("rollout") as note:
            note.text = self.roll_out(deployed)
        with self.stepping("smoke") as note:
            note.text = self._smoke(plan, deployed)
        with self.stepping("static") as note:
            note.text = self._static(deployed)
        return plan

    # --- steps -----------------------------------------------------------------------------------------

    def _plan(self) -> DeployPlan:
        """Read what the deploy starts from; nothing is refused or changed yet."""
        outputs = StackOutputs.parse(self.stack_name, self.ports.stack.outputs())
        tag = check_tag(self.request.image_tag or self.request.revision.default_tag())
        return DeployPlan(
            outputs=outputs,
            tag=tag,
            previous=outputs.image_tag or self.ports.stack.image_tag(),
            needs_image=not self.ports.registry.has_tag(outputs[Output.ECR_REPOSITORY_NAME], tag),
            saved=MappingProxyType(self.rollout(outputs).saved()),
        )

    def _preflight(self, plan: DeployPlan) -> str:
        busy = self.rollout(plan.outputs).active()
        if busy:
            raise DeployError(
                ExitCode.USAGE,
                "an instance refresh is already running ("
                + ", ".join(f"{r}: {s.refresh_id} {s.status}" for r, s in busy.items())
                + "). Wait for it (`scalestack status`) or stop it (`scalestack rollback`).",
            )
        if plan.needs_image:
            self.ports.engine.ping()  # an unreachable engine fails here, before anything is built or changed
        return f"Stack {self.stack_name} ran {plan.previous or 'no recorded tag'}; deploying {plan.tag}."

    def _build(self, plan: DeployPlan) -> str:
        if not plan.needs_image:
            return self.skip(f"{plan.tag} is already in ECR (tags are immutable): no build, no push.")
        revision = self.request.revision
        labels = {
            "org.opencontainers.image.revision": revision.commit,
            "org.opencontainers.image.version": plan.tag,
            "org.opencontainers.image.created": datetime.now(UTC).isoformat(timespec="seconds"),
            "com.scalestack.git-dirty": str(revision.dirty).lower(),
        }
        build_args = {"GIT_COMMIT": revision.commit, "IMAGE_TAG": plan.tag}
        image_id = self.ports.engine.build(
            self.request.context, plan.image, build_args, labels, self.request.platform, self.log
        )
        return f"Built {plan.image} for {self.request.platform} ({image_id or 'no id reported'})."

    def _push(self, plan: DeployPlan) -> str | None:
        if not plan.needs_image:
            self.skip(f"{plan.tag} is already in ECR.")
            return None
        auth = self.ports.registry.login()
        self.ports.engine.push(plan.outputs[Output.ECR_REPOSITORY_URL], plan.tag, auth, self.log)
        if not self.ports.registry.has_tag(plan.outputs[Output.ECR_REPOSITORY_NAME], plan.tag):
            raise DeployError(
                ExitCode.PUSH_FAILED, f"the engine reported the push done, but ECR has no {plan.tag}."
            )
        return f"Pushed {plan.tag} to ECR."

    def _migrate(self, plan: DeployPlan) -> str:
        # Only the migrating service's role may read the master login the migration renders.
        migrating = migrating_service(parse_services(plan.outputs.raw))
        chosen = pick_instance(self.ports.fleet.instances(migrating.asg_name))
        if chosen is None:
            return self.skip(
                "No web instance in service to run migrations on: migrations did not run before the "
                "update; run the migrate command once the first instance is in service."
            )
        instance = chosen.instance_id
        migrate = (plan.outputs.raw.get(Output.APP_COMMANDS) or {}).get("migrate")
        commands = migrate_commands(migrate, plan.image, self.request.region)
        self.emit(
            "progress", f"running migrations on {instance}", {"instance": instance, "commands": commands}
        )
        result = self.ports.commands.run(
            instance,
            commands,
            f"scalestack migrate {self.stack_name} {plan.tag}",
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
        return f"Migrations ran on {instance} with {plan.tag}."

    def _update(self, plan: DeployPlan) -> StackOutputs:
        """The new tag in the stack's config, then `pulumi up`: a new template version, no instance moved."""
        self.ports.stack.set_image_tag(plan.tag)
        return self.up()

    def _smoke(self, plan: DeployPlan, deployed: StackOutputs) -> str:
        """Ask what this run rolled, at the stack's URL: the default web service's readiness, smoke read and
        version, and each routed web service's liveness and version on its route. With `--service X` only
        X is asked: another service kept its version, so its answer says nothing of this run and its old
        version must not fail (and roll back) X's deploy."""
        base = str(deployed[Output.URL]).rstrip("/")
        services = parse_services(deployed.raw)
        chosen = services.get(self.service) if self.service is not None else None
        if chosen is not None and chosen.kind == "worker":
            return self.skip(
                f"{self.service} is a worker: it answers no request, so there is nothing to ask; its "
                "instance refresh's health checks and alarms judged the new version."
            )
        default_rolled = chosen is None or not chosen.routed
        routed = self._routed_liveness(base, services)
        problems: list[str] = []
        for attempt in range(1, self.timing.smoke_attempts + 1):
            default_checks = (
                (
                    self._check(base + self.request.readiness_path, want_json=False),
                    self._check(base + self.request.smoke_path, want_json=True),
                    self._version_problem(base + self.request.liveness_path, plan.tag),
                )
                if default_rolled
                else ()
            )
            problems = [
                p
                for p in (
                    *default_checks,
                    *(
                        problem
                        for url in routed
                        for problem in (
                            self._check(url, want_json=False),
                            self._version_problem(url, plan.tag),
                        )
                    ),
                )
                if p
            ]
            if not problems:
                asked = "" if self.service is None else f" ({self.service} only)"
                return f"Smoke test passed at {base}{asked}."
            self.emit("progress", f"attempt {attempt}/{self.timing.smoke_attempts}: {'; '.join(problems)}")
            if attempt < self.timing.smoke_attempts:
                self.ports.clock.sleep(self.timing.smoke_interval_seconds)
        raise DeployError(ExitCode.SMOKE_TEST_FAILED, f"smoke test failed at {base}: {'; '.join(problems)}")

    def _routed_liveness(self, base: str, services: Mapping[str, ServiceOutput]) -> list[str]:
        """Each routed web service's liveness URL on its route: one of its host names (or the stack's) and
        its liveness path, which the spec keeps on its path patterns. A host resolves to CloudFront, which
        forwards it as Host to the load balancer, whose rule routes on it; a wildcard host is asked with a
        concrete first label. The default web service is the checks on the stack's URL; with `--service`,
        that service's only."""
        scheme, _, host = base.partition("://")
        urls = []
        for name, service in services.items():
            if not service.routed or not service.liveness_path:
                continue
            if self.service is not None and name != self.service:
                continue
            urls.append(f"{scheme}://{reachable_host(service.host_names) or host}{service.liveness_path}")
        return urls

    def _version_problem(self, url: str, tag: str) -> str | None:
        """The version answering must be the one deployed; an app that reports none is not judged on it."""
        try:
            response = self.ports.http.get(url, self.timing.http_timeout_seconds)
            answer = json.loads(response.body) if response.status == 200 else None
        except (OSError, ValueError):
            return None  # an unreachable or odd liveness answer is the readiness check's to report
        # Not an AttributeError catch for a non-object answer: that would hide a bug in this code too.
        version = answer.get("version") if isinstance(answer, dict) else None
        if version is None or version == tag:
            return None
        return f"GET {url} reports version {version}, not {tag}"

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

    def _static(self, deployed: StackOutputs) -> str:
        """Upload changed static files and invalidate them. The new version already serves and passed the
        smoke test, so a problem here is a warning: rolling back over a cache would do more harm."""
        source = self.request.static_dir
        if not source.is_dir():
            return self.skip(f"No static files ({source} does not exist).")
        try:
            with aws_errors(ExitCode.FAILURE, "publishing static files"):
                return self._publish_static(source, deployed)
        except DeployError as err:
            self.emit("warning", err.message)
            return f"Static files not fully published: {err.message}"

    def _publish_static(self, source: Path, deployed: StackOutputs) -> str:
        sync = self.ports.cdn.publish(deployed[Output.STATIC_BUCKET_NAME], static_assets(source))
        uploaded = f"Uploaded {len(sync.uploaded)} static file(s)"
        if not sync.overwritten:
            # New keys were never cached; only an overwritten key can be stale in CloudFront.
            return f"{uploaded}; no cached path changed, nothing to invalidate."
        paths = [f"/{key}" for key in sync.overwritten]
        if len(paths) > MAX_INVALIDATION_PATHS:
            paths = [f"/{STATIC_PREFIX}/*"]
        distribution = deployed[Output.CLOUDFRONT_DISTRIBUTION_ID]
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

    def _record(self, plan: DeployPlan) -> None:
        def write() -> None:
            if not self.ports.history.entries() and plan.previous and plan.previous != plan.tag:
                # The first recorded deploy keeps what ran before it, so rollback has a target.
                self.ports.history.record(
                    HistoryEntry(plan.previous, utc_now(), "deploy", "before scalestack history")
                )
            self.ports.history.record(
                HistoryEntry(plan.tag, utc_now(), "deploy", self.request.actor, self.request.revision.commit)
            )

        self.record_history(write)


@dataclass(frozen=True)
class RollbackPlan:
    """What the rollback's preflight found: the stack, the tag it runs and the tag it goes back to."""

    outputs: StackOutputs
    current: str | None
    target: str

    def summary(self) -> dict[str, Any]:
        return {"imageTag": self.target, "previousTag": self.current}


class RollbackRun(Run):
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

    def run(self) -> ExitCode:
        # What the summary says when the run stops early: the tags known by then.
        summary: dict[str, Any] = {"imageTag": "", "previousTag": None}
        try:
            with self.stepping("preflight") as note:
                outputs = StackOutputs.parse(self.stack_name, self.ports.stack.outputs())
                current = summary["previousTag"] = outputs.image_tag or self.ports.stack.image_tag()
                plan = RollbackPlan(outputs, current, self._target(outputs, current))
                summary = plan.summary()
                note.text = f"Stack {self.stack_name} runs {plan.current}; rolling back to {plan.target}."
            with self.stepping("rollback") as note:
                note.text = self._rollback(plan)
        except DeployError as err:
            self.emit("failed", err.message)
            self.account.append(f"{self.step} failed: {err.message}")
            return self.finish(err.code, f"{self.step} failed", {**summary, "message": err.message})
        except KeyboardInterrupt:
            self.emit("failed", "interrupted")
            self.account.append(
                f"Interrupted during {self.step}; run `scalestack status --stack {self.stack_name}`."
            )
            return self.finish(ExitCode.INTERRUPTED, "interrupted", {**summary, "message": "interrupted"})
        self.record_history(
            lambda: self.ports.history.record(HistoryEntry(plan.target, utc_now(), "rollback", self.actor))
        )
        return self.finish(ExitCode.OK, "rolled back", summary)

    def _target(self, outputs: StackOutputs, current: str | None) -> str:
        """The tag to return to: --to, else the newest other tag in the history; it must be in ECR."""
        if self.to:
            target = check_tag(self.to)
        else:
            earlier = [e.tag for e in self.ports.history.entries() if e.tag != current]
            if not earlier:
                raise DeployError(
                    ExitCode.USAGE,
                    f"no earlier tag in the deploy history of {self.stack_name}: pass "
                    f"--to TAG (`scalestack images --stack {self.stack_name}` lists them).",
                )
            target = earlier[-1]
        if not self.ports.registry.has_tag(outputs[Output.ECR_REPOSITORY_NAME], target):
            raise DeployError(
                ExitCode.USAGE,
                f"{target} is not in the stack's ECR repository; "
                f"`scalestack images --stack {self.stack_name}` lists the tags it has.",
            )
        return target

    def _rollback(self, plan: RollbackPlan) -> str:
        """Stop any refresh, set the tag, `up` (a new template version with it), refresh to that version."""
        self.rollout(plan.outputs).abort_active()
        self.ports.stack.set_image_tag(plan.target)
        self.roll_out(self.up())
        return f"{plan.target} is back in service on every instance."


SMOKE_LABEL = "smoke-test"
"""The first label the smoke test puts in place of a routed wildcard host's `*`: the spec allows a wildcard
only as a whole leftmost `*.` label (infra/hosts.py), which any one label matches."""


def reachable_host(host_names: Sequence[str]) -> str | None:
    """A name a request can be sent to that the service's host condition matches: a literal host first,
    else a wildcard host with its `*.` label made concrete; None when the service routes on no host."""
    literal = [h for h in host_names if "*" not in h and "?" not in h]
    if literal:
        return literal[0]
    concrete = [
        f"{SMOKE_LABEL}.{h[2:]}"
        for h in host_names
        if h.startswith("*.") and "*" not in h[2:] and "?" not in h
    ]
    return concrete[0] if concrete else None
