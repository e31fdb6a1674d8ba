"""In-process fakes of the pipeline's ports. They keep state and record every call in one shared journal, so
tests assert the order of effects and what the stack ends up running, not that a mock was called. Instance
refresh goes through the real boto3 adapter to the AWS model in asg_model.py."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError

from scripts.deploy.aws import AutoScalingRefreshes
from scripts.deploy.errors import DeployError
from scripts.deploy.events import Event
from scripts.deploy.pipeline import Ports, Timing
from scripts.deploy.ports import (
    LAUNCH_TEMPLATE,
    MIXED_INSTANCES_POLICY,
    CommandResult,
    GroupInstance,
    HistoryEntry,
    HttpResponse,
    ImageInfo,
    LogFn,
    RegistryAuth,
    StaticSync,
    TargetHealth,
    UpResult,
)
from scripts.deploy.preview import DiffSummary, ResourceChange
from scripts.deploy.rollout import RolloutTiming
from scripts.exit_codes import ExitCode

from .asg_model import AutoScalingModel, ModelFleet

FAST = Timing(
    rollout=RolloutTiming(
        poll_seconds=1, timeout_seconds=600, health_timeout_seconds=30, failed_grace_polls=2
    ),
    smoke_attempts=3,
    smoke_interval_seconds=1,
    invalidation_timeout_seconds=30,
    invalidation_poll_seconds=1,
)

OUTPUTS: dict[str, Any] = {
    "url": "https://d111.cloudfront.net",
    "ecrRepositoryUrl": "123456789012.dkr.ecr.us-east-1.amazonaws.com/scalestack-dev",
    "ecrRepositoryName": "scalestack-dev",
    "webAsgName": "web-asg",
    "workerAsgName": "worker-asg",
    "webTargetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/abc",
    "cloudfrontDistributionId": "E2EXAMPLE",
    "staticBucketName": "static-bucket",
    "alarmNames": ["web-5xx", "web-latency"],
    "imageTag": "v1",
    "rollout": {
        "checkpointPercentages": [50],
        "checkpointDelaySeconds": 120,
        "alarmNames": ["web-5xx"],
        "roles": {
            "web": {"minHealthyPercentage": 90, "instanceWarmupSeconds": 60, "alarmNames": ["web-latency"]},
            "worker": {"minHealthyPercentage": 90, "instanceWarmupSeconds": 60},
        },
    },
    "appCommands": {"migrate": ["migrate"]},
    "launchTemplates": {
        "web": {"id": "lt-0a1b2c3d4e5f60001", "version": 3},
        "worker": {"id": "lt-0a1b2c3d4e5f60002", "version": 3},
    },
}


class Journal(list[tuple[str, Any]]):
    def names(self) -> list[str]:
        return [name for name, _ in self]


class FakeEngine:
    def __init__(self, journal: Journal, registry: FakeRegistry) -> None:
        self.journal = journal
        self.registry = registry
        self.reachable = True
        self.build_error: str | None = None
        self.push_error: str | None = None
        self.platforms: list[str] = []  # the platform each build was asked for
        self.contexts: list[Path] = []  # the build context of each build

    def ping(self) -> None:
        if not self.reachable:
            raise DeployError(ExitCode.ENGINE_UNREACHABLE, "cannot reach a Docker engine")

    def build(
        self,
        context: Path,
        image: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        platform: str,
        log: LogFn,
    ) -> str:
        self.journal.append(("build", (image, dict(build_args), dict(labels))))
        self.platforms.append(platform)
        self.contexts.append(context)
        if self.build_error:
            raise DeployError(ExitCode.BUILD_FAILED, f"docker build failed: {self.build_error}")
        log("Step 1/1 : FROM python")
        return "sha256:feed"

    def push(self, repository: str, tag: str, auth: RegistryAuth, log: LogFn) -> None:
        self.journal.append(("push", (repository, tag, auth.username)))
        if self.push_error:
            raise DeployError(ExitCode.PUSH_FAILED, f"docker push failed: {self.push_error}")
        self.registry.tags.add(tag)


class FakeRegistry:
    def __init__(self, journal: Journal, tags: set[str]) -> None:
        self.journal = journal
        self.tags = tags

    def login(self) -> RegistryAuth:
        self.journal.append(("ecr.login", None))
        return RegistryAuth("AWS", "secret", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com")

    def has_tag(self, repository_name: str, tag: str) -> bool:
        return tag in self.tags

    def images(self, repository_name: str) -> list[ImageInfo]:
        return [ImageInfo((t,), f"sha256:{t}", None, 1) for t in sorted(self.tags)]


class FakeStack:
    """Pulumi: a config tag and outputs. `up` makes outputs follow config; a changed image tag changes the
    launch templates' user data, so each gets a new numbered version (in the AWS model) and the
    `launchTemplates` output names it. The groups pin their version, so `up` moves no instance."""

    def __init__(self, journal: Journal, model: AutoScalingModel, outputs: dict[str, Any]) -> None:
        self.journal = journal
        self.model = model
        self.deployed = deepcopy(outputs)
        self.config_tag: str = outputs["imageTag"]
        self.up_errors: list[str | None] = []  # one per `up` call, None = succeeds
        # What a preview finds beyond the image tag: the stack file changed since the last `up`.
        self.drift: list[ResourceChange] = []
        self.destroyed = False

    def outputs(self) -> dict[str, Any]:
        return deepcopy(self.deployed)

    def image_tag(self) -> str | None:
        return self.config_tag

    def set_image_tag(self, tag: str) -> None:
        self.journal.append(("config.imageTag", tag))
        self.config_tag = tag

    def preview(self, log: LogFn, image_tag: str | None = None) -> DiffSummary:
        """As the Automation API's preview reports it: a new tag is an update of each launch template (its
        user data), plus whatever drift the test put there."""
        self.journal.append(("preview", image_tag))
        steps = list(self.drift)
        if (image_tag or self.config_tag) != self.deployed["imageTag"]:
            steps += [
                ResourceChange(
                    "update",
                    "aws:ec2/launchTemplate:LaunchTemplate",
                    f"urn:pulumi:dev::scalestack::{role}-lt",
                )
                for role in self.deployed["launchTemplates"]
            ]
        return DiffSummary.of(steps)

    def destroy(self, log: LogFn) -> UpResult:
        self.journal.append(("destroy", None))
        self.destroyed = True
        return UpResult({"delete": 40})

    def up(self, log: LogFn) -> UpResult:
        self.journal.append(("up", self.config_tag))
        self.drift = []
        error = self.up_errors.pop(0) if self.up_errors else None
        if error:
            raise DeployError(ExitCode.INFRA_UPDATE_FAILED, f"`pulumi up` failed: {error}")
        changed = self.deployed["imageTag"] != self.config_tag
        if changed:
            for template in self.deployed["launchTemplates"].values():
                template["version"] = int(self.model.create_version(template["id"]))
            log("update aws:ec2/launchTemplate:LaunchTemplate web-lt")
        self.deployed["imageTag"] = self.config_tag
        return UpResult({"update": 2 if changed else 0, "same": 40})


class FakeCommands:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.result = CommandResult("Success", "Running upgrade -> 0002\n", "")

    def run(
        self, instance_id: str, commands: Sequence[str], comment: str, timeout_seconds: int
    ) -> CommandResult:
        self.journal.append(("ssm.run", (instance_id, list(commands))))
        return self.result


class FakeFleet:
    def __init__(self) -> None:
        self.instances_by_group: dict[str, list[GroupInstance]] = {
            "web-asg": [
                GroupInstance("i-web1", "InService", "Healthy", "3"),
                GroupInstance("i-web2", "InService", "Healthy", "3"),
            ],
        }
        self.targets: list[TargetHealth] = [
            TargetHealth("i-web1", "healthy"),
            TargetHealth("i-web2", "healthy"),
        ]
        self.firing: list[str] = []

    def instances(self, group: str) -> list[GroupInstance]:
        return self.instances_by_group.get(group, [])

    def target_health(self, target_group_arn: str) -> list[TargetHealth]:
        return list(self.targets)

    def alarms_firing(self, alarm_names: Sequence[str]) -> list[str]:
        return [a for a in self.firing if a in alarm_names]


class FakeCdn:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.bucket: dict[str, bytes] = {}
        self.statuses = ["InProgress", "Completed"]

    def publish(self, bucket: str, assets: Mapping[str, Path]) -> StaticSync:
        sync = StaticSync([], [])
        for key, path in assets.items():
            body = path.read_bytes()
            if self.bucket.get(key) != body:
                sync.uploaded.append(key)
                if key in self.bucket:
                    sync.overwritten.append(key)
                self.bucket[key] = body
        self.journal.append(("s3.publish", sorted(sync.uploaded)))
        return sync

    def invalidate(self, distribution_id: str, paths: Sequence[str]) -> str:
        self.journal.append(("cloudfront.invalidate", list(paths)))
        return "I1"

    def invalidation_status(self, distribution_id: str, invalidation_id: str) -> str:
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]


class FakeHistory:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.items: list[HistoryEntry] = []
        self.broken = False

    def entries(self) -> list[HistoryEntry]:
        return list(self.items)

    def record(self, entry: HistoryEntry) -> None:
        if self.broken:
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutParameter"
            )
        self.journal.append(("history.record", (entry.tag, entry.kind)))
        self.items.append(entry)


class FakeHttp:
    def __init__(self) -> None:
        self.answers: dict[str, list[HttpResponse]] = {}
        self.requests: list[str] = []

    def get(self, url: str, timeout_seconds: float) -> HttpResponse:
        self.requests.append(url)
        queue = self.answers.get(url.split("://", 1)[1].split("/", 1)[1])
        if not queue:
            return HttpResponse(200, b'{"status": "ok"}' if "api" in url else b"ready")
        return queue.pop(0) if len(queue) > 1 else queue[0]


class FakeClock:
    def __init__(self, on_sleep: Callable[[], None]) -> None:
        self.now = 0.0
        self.interrupt_after: float | None = None
        self.on_sleep = on_sleep

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.on_sleep()
        if self.interrupt_after is not None and self.now >= self.interrupt_after:
            raise KeyboardInterrupt


WEB_TEMPLATE = "lt-0a1b2c3d4e5f60001"
WORKER_TEMPLATE = "lt-0a1b2c3d4e5f60002"
WEB_GROUP = {
    LAUNCH_TEMPLATE: {"LaunchTemplateId": WEB_TEMPLATE, "LaunchTemplateName": "web-lt", "Version": "3"}
}
# The worker runs on spot: AWS describes its configuration as a mixed instances policy.
WORKER_GROUP = {
    MIXED_INSTANCES_POLICY: {
        "LaunchTemplate": {
            "LaunchTemplateSpecification": {
                "LaunchTemplateId": WORKER_TEMPLATE,
                "LaunchTemplateName": "worker-lt",
                "Version": "3",
            },
            "Overrides": [{"InstanceType": "t3.small"}],
        },
        "InstancesDistribution": {
            "OnDemandBaseCapacity": 0,
            "OnDemandPercentageAboveBaseCapacity": 0,
            "SpotAllocationStrategy": "price-capacity-optimized",
        },
    }
}


def model_client(model: AutoScalingModel) -> Any:
    """A real boto3 Auto Scaling client (botocore validates every request) answered by the model."""
    client = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    return model.serve(client)


@dataclass
class World:
    journal: Journal = field(default_factory=Journal)
    ecr_tags: set[str] = field(default_factory=lambda: {"v1"})

    def __post_init__(self) -> None:
        self.model = AutoScalingModel(lambda name, args: self.journal.append((name, args)))
        self.model.add_group("web-asg", WEB_GROUP, size=2)
        self.model.add_group("worker-asg", WORKER_GROUP, size=2)
        self.refreshes = AutoScalingRefreshes(model_client(self.model))
        self.registry = FakeRegistry(self.journal, self.ecr_tags)
        self.engine = FakeEngine(self.journal, self.registry)
        self.stack = FakeStack(self.journal, self.model, OUTPUTS)
        self.commands = FakeCommands(self.journal)
        self.fleet = ModelFleet(self.model, "web-asg")
        self.cdn = FakeCdn(self.journal)
        self.history = FakeHistory(self.journal)
        self.http = FakeHttp()
        self.clock = FakeClock(self.model.step)

    def versions(self, group: str) -> tuple[list[str], str]:
        """Which launch template version each instance runs, and the one saved on the group."""
        return self.model.versions(group), self.model.saved_version(group)

    def ports(self) -> Ports:
        return Ports(
            self.engine,
            self.registry,
            self.stack,
            self.refreshes,
            self.commands,
            self.fleet,
            self.cdn,
            self.history,
            self.http,
            self.clock,
        )


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.summaries: list[dict[str, Any]] = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def summary(self, summary: dict[str, Any]) -> None:
        self.summaries.append(summary)

    def messages(self, step: str | None = None) -> list[str]:
        return [e.message for e in self.events if step is None or e.step == step]
