"""One interface per external system the pipeline talks to, and the plain values that cross them.

Adapters: `docker_engine.DockerEngine`, `pulumi_stack.PulumiStack`, and the boto3 classes in `aws.py`.
Tests drive the orchestrator with in-process fakes of these (tests/deploy/fakes.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from infra.contract import RolloutOutput
from scripts.deploy.errors import MissingResource
from scripts.deploy.preview import DiffSummary

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class RegistryAuth:
    username: str
    password: str
    registry: str  # https://<account>.dkr.ecr.<region>.amazonaws.com


@dataclass(frozen=True)
class ImageInfo:
    tags: tuple[str, ...]
    digest: str
    pushed_at: datetime | None
    size_bytes: int


@dataclass(frozen=True)
class RolloutPreferences:
    """The stack's `rollout` output: how an instance refresh replaces instances. The program
    (infra/program.py) is the one home of these values; the pipeline has no defaults of its own."""

    min_healthy_percentage: int
    checkpoint_percentages: tuple[int, ...]
    checkpoint_delay_seconds: int
    instance_warmup_seconds: int

    @classmethod
    def from_output(cls, value: Mapping[str, Any], role: str) -> RolloutPreferences:
        """One role's preferences from the `rollout` output (infra/contract.py RolloutOutput)."""
        rollout = RolloutOutput.parse(value)
        return cls(
            min_healthy_percentage=rollout.roles[role].min_healthy_percentage,
            checkpoint_percentages=rollout.checkpoint_percentages,
            checkpoint_delay_seconds=rollout.checkpoint_delay_seconds,
            instance_warmup_seconds=rollout.roles[role].instance_warmup_seconds,
        )


@dataclass(frozen=True)
class TemplateVersion:
    """A numbered version of a launch template (the stack's `launchTemplates` output names the latest)."""

    template_id: str
    version: str


# The two forms a group's saved configuration takes in DescribeAutoScalingGroups, and the two a refresh's
# DesiredConfiguration takes: "you must specify either a LaunchTemplate or a MixedInstancesPolicy"
# (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DesiredConfiguration.html).
LAUNCH_TEMPLATE = "LaunchTemplate"
MIXED_INSTANCES_POLICY = "MixedInstancesPolicy"


@dataclass(frozen=True)
class GroupConfiguration:
    """What a group launches: `{"LaunchTemplate": spec}` or `{"MixedInstancesPolicy": policy}`, as AWS
    describes the group and as StartInstanceRefresh's DesiredConfiguration takes it."""

    raw: Mapping[str, Any]

    @classmethod
    def of_group(cls, group: Mapping[str, Any]) -> GroupConfiguration:
        """From one DescribeAutoScalingGroups entry, naming its template by id only (AWS describes it by id
        and name; a LaunchTemplateSpecification takes "either a LaunchTemplateId or a LaunchTemplateName",
        https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LaunchTemplateSpecification.html)."""
        for key in (MIXED_INSTANCES_POLICY, LAUNCH_TEMPLATE):
            if key in group:
                described = cls({key: deepcopy(group[key])})
                return described.with_template(described.template)
        raise MissingResource(
            f"auto scaling group {group.get('AutoScalingGroupName')} uses no launch template"
        )

    def _spec(self) -> Mapping[str, Any]:
        if MIXED_INSTANCES_POLICY in self.raw:
            return self.raw[MIXED_INSTANCES_POLICY]["LaunchTemplate"]["LaunchTemplateSpecification"]
        return self.raw[LAUNCH_TEMPLATE]

    @property
    def template(self) -> TemplateVersion:
        spec = self._spec()
        return TemplateVersion(str(spec.get("LaunchTemplateId", "")), str(spec.get("Version", "")))

    def with_template(self, target: TemplateVersion) -> GroupConfiguration:
        """The same configuration on another template version. A mixed instances policy keeps its overrides
        and distribution: on success the desired configuration becomes the group's
        (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html), so a
        launch template alone would drop the group's spot settings."""
        spec = {"LaunchTemplateId": target.template_id, "Version": target.version}
        if MIXED_INSTANCES_POLICY in self.raw:
            policy = deepcopy(dict(self.raw[MIXED_INSTANCES_POLICY]))
            policy["LaunchTemplate"]["LaunchTemplateSpecification"] = spec
            return GroupConfiguration({MIXED_INSTANCES_POLICY: policy})
        return GroupConfiguration({LAUNCH_TEMPLATE: spec})


@dataclass(frozen=True)
class RefreshState:
    refresh_id: str
    status: str  # Pending | InProgress | Baking | Successful | Failed | Cancelling | Cancelled | Rollback*
    percentage: int
    reason: str
    started_at: datetime | None


ACTIVE_REFRESH = frozenset({"Pending", "InProgress", "Baking", "Cancelling", "RollbackInProgress"})


@dataclass(frozen=True)
class CommandResult:
    status: str  # SSM's final invocation status: Success | Failed | TimedOut | Cancelled | ...
    stdout: str
    stderr: str
    exit_code: int | None = None  # the shell's exit code (SSM's ResponseCode; -1 or None: none)


@dataclass(frozen=True)
class GroupInstance:
    instance_id: str
    lifecycle_state: str  # InService, Pending, Terminating, ...
    health_status: str  # Healthy | Unhealthy
    launch_template_version: str | None


@dataclass(frozen=True)
class TargetHealth:
    target_id: str
    state: str  # initial | healthy | unhealthy | draining | unused | unavailable
    reason: str = ""


@dataclass(frozen=True)
class UpResult:
    changes: Mapping[str, int]  # op -> count, e.g. {"update": 3, "same": 120}


@dataclass(frozen=True)
class HistoryEntry:
    tag: str
    at: str
    kind: str  # deploy | rollback
    by: str
    commit: str = ""

    def to_json(self) -> dict[str, str]:
        return {"tag": self.tag, "at": self.at, "kind": self.kind, "by": self.by, "commit": self.commit}


@dataclass(frozen=True)
class StaticSync:
    uploaded: list[str]  # keys written: new or changed
    overwritten: list[str]  # keys that existed with other content: the only ones CloudFront may hold stale


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


class ImageEngine(Protocol):
    """The Docker engine (local, or the one DOCKER_HOST names)."""

    def ping(self) -> None: ...

    def build(
        self,
        context: Path,
        image: str,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        platform: str,
        log: LogFn,
    ) -> str:
        """Build for `platform` (linux/amd64, linux/arm64): the instances' architecture, not the builder's."""
        ...

    def push(self, repository: str, tag: str, auth: RegistryAuth, log: LogFn) -> None: ...


class Registry(Protocol):
    """ECR, through boto3."""

    def login(self) -> RegistryAuth: ...

    def has_tag(self, repository_name: str, tag: str) -> bool: ...

    def images(self, repository_name: str) -> list[ImageInfo]: ...


class StackBackend(Protocol):
    """One Pulumi stack, through the Automation API."""

    def outputs(self) -> dict[str, Any]: ...

    def image_tag(self) -> str | None: ...

    def set_image_tag(self, tag: str) -> None: ...

    def up(self, log: LogFn) -> UpResult: ...

    def preview(self, log: LogFn, image_tag: str | None = None) -> DiffSummary:
        """What `up` would change (with image_tag: as if it were set), the policy pack applied."""
        ...

    def destroy(self, log: LogFn) -> UpResult: ...


class InstanceRefreshes(Protocol):
    """Auto Scaling instance refresh and the group configuration it moves. Not in moto: tests serve the
    adapter's boto3 client from a model of AWS's documented semantics (tests/deploy/asg_model.py)."""

    def latest(self, group: str) -> RefreshState | None: ...

    def get(self, group: str, refresh_id: str) -> RefreshState: ...

    def configuration(self, group: str) -> GroupConfiguration: ...

    def start(
        self,
        group: str,
        desired: GroupConfiguration,
        preferences: RolloutPreferences,
        alarms: Sequence[str],
        auto_rollback: bool,
    ) -> str: ...

    def rollback(self, group: str) -> str: ...

    def cancel(self, group: str) -> str: ...


class CommandRunner(Protocol):
    """SSM Run Command on one instance, waited for."""

    def run(
        self, instance_id: str, commands: Sequence[str], comment: str, timeout_seconds: int
    ) -> CommandResult: ...


class Fleet(Protocol):
    """What is running: the groups' instances, the web target group's health, alarms that fire."""

    def instances(self, group: str) -> list[GroupInstance]: ...

    def target_health(self, target_group_arn: str) -> list[TargetHealth]: ...

    def alarms_firing(self, alarm_names: Sequence[str]) -> list[str]: ...


class Cdn(Protocol):
    """The static bucket and the CloudFront distribution in front of it."""

    def publish(self, bucket: str, assets: Mapping[str, Path]) -> StaticSync: ...

    def invalidate(self, distribution_id: str, paths: Sequence[str]) -> str: ...

    def invalidation_status(self, distribution_id: str, invalidation_id: str) -> str: ...


class DeployHistory(Protocol):
    """Which tags were live, newest last: where `rollback` finds 'the previous tag'."""

    def entries(self) -> list[HistoryEntry]: ...

    def record(self, entry: HistoryEntry) -> None: ...


class Http(Protocol):
    def get(self, url: str, timeout_seconds: float) -> HttpResponse: ...


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...
