"""What crosses the boundary between the infrastructure program and the deploy pipeline, in one place.

The program (`infra/program.py`) exports the stack outputs named here and the pipeline
(`scripts/deploy/`) parses them with `StackOutputs.parse`; the boot script (`infra/components/boot/`)
writes the files at the paths named here and the pipeline's migrate command reads them. Plain Python
only: the CLI and the spec import this without loading pulumi or pulumi_aws.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, get_args

Environment = Literal["dev", "staging", "prod"]
"""Which profile of defaults (infra/profiles.py), requirements and policy levels a stack gets."""
ENVIRONMENTS: tuple[Environment, ...] = get_args(Environment)

# Files on each instance, written by the boot script's settings renderer.
INSTANCE_ENV_FILE = "/etc/scalestack/app.env"
"""The app container's environment (`docker run --env-file`), rendered before each container start."""
MIGRATION_ENV_FILE = "/etc/scalestack/migrate.env"
"""The migration's own env file (the master login), rendered only for the migrate command."""
RENDER_COMMAND = "/usr/local/bin/scalestack-render-env"
"""The renderer the boot script installs: no argument (app env), `tokens`, or `migrate`."""
TOKEN_DIR_ON_HOST = "/run/scalestack/db-tokens"
TOKEN_DIR_IN_CONTAINER = "/run/db-tokens"
"""Where the container sees the token files (mounted read-only): `DATABASE_PASSWORD_DIR`."""


def log_group_name(stack: str, service: str) -> str:
    """The CloudWatch log group a service's containers log to (awslogs driver); `scalestack logs` reads it."""
    return f"/scalestack/{stack}/{service}"


def app_secrets_name(stack: str) -> str:
    """The Secrets Manager secret holding the app's own secrets (a JSON object of NAME: value), written by
    `scalestack secret` and read by the settings renderer into the app's environment."""
    return f"scalestack/{stack}/app-secrets"


# The queue-length metric: what the publisher on the default web service's instances puts every minute
# (infra/components/boot/queue_metrics.py) and each worker group's backlog policy reads, in the stack's
# own namespace (`scalestack/<stack>`, the only one the instances may put metrics in).
QUEUE_LENGTH_METRIC = "QueueLength"
QUEUE_DIMENSION = "Queue"

# What the kit itself tells the app; a stack's own settings (`app.environment`) may not reuse these names.
KIT_SETTINGS = frozenset(
    {"PORT", "DATABASE_HOST", "DATABASE_REPLICA_HOSTS", "DATABASE_NAME", "REDIS_HOST"}
    | {"DATABASE_URL", "DATABASE_REPLICA_URLS", "DATABASE_PASSWORD_DIR", "REDIS_URL"}
    | {"MIGRATION_DATABASE_URL"}
)


class Output(StrEnum):
    """The stack outputs, by the name `pulumi stack output` shows."""

    URL = "url"
    REGION = "region"
    IMAGE_TAG = "imageTag"
    ALB_DNS_NAME = "albDnsName"
    ECR_REPOSITORY_URL = "ecrRepositoryUrl"
    ECR_REPOSITORY_NAME = "ecrRepositoryName"
    WEB_ASG_NAME = "webAsgName"
    WORKER_ASG_NAME = "workerAsgName"
    WEB_TARGET_GROUP_ARN = "webTargetGroupArn"
    CLOUDFRONT_DISTRIBUTION_ID = "cloudfrontDistributionId"
    STATIC_BUCKET_NAME = "staticBucketName"
    DB_PRIMARY_ENDPOINT = "dbPrimaryEndpoint"
    DB_REPLICA_ENDPOINTS = "dbReplicaEndpoints"
    DB_INSTANCE_IDS = "dbInstanceIds"
    CACHE_REPLICATION_GROUP_ID = "cacheReplicationGroupId"
    CACHE_ENDPOINT = "cacheEndpoint"
    ALARM_NAMES = "alarmNames"
    DASHBOARD_URL = "dashboardUrl"
    LAUNCH_TEMPLATES = "launchTemplates"
    """Each role's launch template id and latest version: what the pipeline's instance refresh targets."""
    ROLLOUT = "rollout"
    """How the pipeline's instance refreshes replace instances (RolloutOutput)."""
    APP_COMMANDS = "appCommands"
    SERVICES = "services"
    """Every service by name (ServiceOutput): kind, group, target group, launch template. The web/worker
    outputs above stay for stacks and pipelines from before services."""


# What a deploy cannot start without: a stack that lacks one has not been brought up by this kit.
REQUIRED_OUTPUTS: tuple[Output, ...] = (
    Output.URL,
    Output.ECR_REPOSITORY_URL,
    Output.ECR_REPOSITORY_NAME,
    Output.WEB_ASG_NAME,
    Output.WORKER_ASG_NAME,
    Output.WEB_TARGET_GROUP_ARN,
    Output.CLOUDFRONT_DISTRIBUTION_ID,
    Output.STATIC_BUCKET_NAME,
    Output.LAUNCH_TEMPLATES,
    Output.ROLLOUT,
)


class MissingOutputs(Exception):
    """The stack lacks outputs a deploy needs; `names` says which."""

    def __init__(self, names: Sequence[str]) -> None:
        super().__init__(", ".join(names))
        self.names = tuple(names)


def missing_outputs(outputs: Mapping[str, Any]) -> list[str]:
    return [name.value for name in REQUIRED_OUTPUTS if not outputs.get(name)]


@dataclass(frozen=True)
class LaunchTemplateRef:
    template_id: str
    version: str


REFRESH_ALARMS_MAX = 10
"""An instance refresh's AlarmSpecification takes up to 10 alarms
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AlarmSpecification.html)."""


@dataclass(frozen=True)
class RoleRollout:
    """One role's refresh preferences, from its own spec keys (`<role>.minHealthyPercent`, ...)."""

    min_healthy_percentage: int
    instance_warmup_seconds: int
    alarm_names: tuple[str, ...] = ()
    """The service's own alarms that stop a refresh of its group (besides the stack-wide ones)."""


@dataclass(frozen=True)
class RolloutOutput:
    """The `rollout` output: how an instance refresh replaces instances (the program is its one home).

    Checkpoints, their delay and the stack-wide alarms apply to every refresh; each role has its own
    warm-up, minimum healthy percentage and alarms (`roles`).
    """

    checkpoint_percentages: tuple[int, ...]
    checkpoint_delay_seconds: int
    alarm_names: tuple[str, ...]
    roles: Mapping[str, RoleRollout]

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> RolloutOutput:
        return cls(
            checkpoint_percentages=tuple(int(p) for p in value["checkpointPercentages"]),
            checkpoint_delay_seconds=int(value["checkpointDelaySeconds"]),
            alarm_names=tuple(str(a) for a in value.get("alarmNames") or ()),
            roles={
                role: RoleRollout(
                    int(r["minHealthyPercentage"]),
                    int(r["instanceWarmupSeconds"]),
                    tuple(str(a) for a in r.get("alarmNames") or ()),
                )
                for role, r in value["roles"].items()
            },
        )

    def alarms_for(self, role: str) -> tuple[str, ...]:
        """What stops a refresh of one role's group: the stack-wide alarms, then the role's own. A stack
        from before per-service alarms has stack-wide ones only (then its web p99 among them)."""
        return tuple(dict.fromkeys((*self.alarm_names, *self.roles[role].alarm_names)))

    def to_output(self) -> dict[str, Any]:
        return {
            "checkpointPercentages": list(self.checkpoint_percentages),
            "checkpointDelaySeconds": self.checkpoint_delay_seconds,
            "alarmNames": list(self.alarm_names),
            "roles": {
                role: {
                    "minHealthyPercentage": r.min_healthy_percentage,
                    "instanceWarmupSeconds": r.instance_warmup_seconds,
                    "alarmNames": list(r.alarm_names),
                }
                for role, r in self.roles.items()
            },
        }


ServiceKind = Literal["web", "worker"]


@dataclass(frozen=True)
class ServiceOutput:
    """One service of the `services` output: what the pipeline rolls and `status` lists."""

    kind: ServiceKind
    asg_name: str
    launch_template: LaunchTemplateRef
    target_group_arn: str | None
    """None for a worker."""
    liveness_path: str | None = None
    """A web service's liveness path (what a deploy's smoke test asks); None for a worker."""
    path_patterns: tuple[str, ...] = ()
    host_names: tuple[str, ...] = ()
    """A routed web service's listener-rule routes, by which the smoke test reaches it; the default web
    service and workers have none."""

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> ServiceOutput:
        kind = str(value["kind"])
        if kind not in ("web", "worker"):
            raise ValueError(f"service kind {kind!r} is neither web nor worker")
        template = value["launchTemplate"]
        return cls(
            kind="web" if kind == "web" else "worker",
            asg_name=str(value["asgName"]),
            launch_template=LaunchTemplateRef(str(template["id"]), str(template["version"])),
            target_group_arn=str(value["targetGroupArn"]) if value.get("targetGroupArn") else None,
            liveness_path=str(value["livenessPath"]) if value.get("livenessPath") else None,
            path_patterns=tuple(str(p) for p in value.get("pathPatterns") or ()),
            host_names=tuple(str(h) for h in value.get("hostNames") or ()),
        )

    @property
    def routed(self) -> bool:
        return bool(self.path_patterns or self.host_names)


def parse_services(outputs: Mapping[str, Any]) -> dict[str, ServiceOutput]:
    """Every service of a stack; a stack brought up before services has its web and worker roles only."""
    services = outputs.get(Output.SERVICES)
    if services:
        return {name: ServiceOutput.parse(value) for name, value in services.items()}
    templates = outputs[Output.LAUNCH_TEMPLATES]
    return {
        role: ServiceOutput(
            kind="web" if role == "web" else "worker",
            asg_name=str(outputs[asg]),
            launch_template=LaunchTemplateRef(str(templates[role]["id"]), str(templates[role]["version"])),
            target_group_arn=str(outputs[Output.WEB_TARGET_GROUP_ARN]) if role == "web" else None,
        )
        for role, asg in (("web", Output.WEB_ASG_NAME), ("worker", Output.WORKER_ASG_NAME))
    }


def migrating_service(services: Mapping[str, ServiceOutput]) -> ServiceOutput:
    """The service the deploy runs the migrations on: the default web service (the one without routes),
    whose role alone may read the database's master secret (infra/spec.py `Service.migrates`)."""
    return next(s for s in services.values() if s.kind == "web" and not s.routed)


@dataclass(frozen=True)
class StackOutputs:
    """A brought-up stack's outputs, typed: what `pulumi stack output --json` gives the pipeline."""

    url: str
    region: str | None
    image_tag: str | None
    ecr_repository_url: str
    ecr_repository_name: str
    asg_names: Mapping[str, str]  # service (web, worker, ...) -> auto scaling group name
    web_target_group_arn: str
    cloudfront_distribution_id: str
    static_bucket_name: str
    launch_templates: Mapping[str, LaunchTemplateRef]
    rollout: RolloutOutput
    alarm_names: tuple[str, ...]
    app_commands: Mapping[str, Any]
    services: Mapping[str, ServiceOutput]

    @classmethod
    def parse(cls, outputs: Mapping[str, Any]) -> StackOutputs:
        """The typed outputs; MissingOutputs when a required one is absent or empty."""
        missing = missing_outputs(outputs)
        if missing:
            raise MissingOutputs(missing)
        services = parse_services(outputs)
        return cls(
            url=str(outputs[Output.URL]),
            region=outputs.get(Output.REGION) or None,
            image_tag=outputs.get(Output.IMAGE_TAG) or None,
            ecr_repository_url=str(outputs[Output.ECR_REPOSITORY_URL]),
            ecr_repository_name=str(outputs[Output.ECR_REPOSITORY_NAME]),
            asg_names={name: service.asg_name for name, service in services.items()},
            web_target_group_arn=str(outputs[Output.WEB_TARGET_GROUP_ARN]),
            cloudfront_distribution_id=str(outputs[Output.CLOUDFRONT_DISTRIBUTION_ID]),
            static_bucket_name=str(outputs[Output.STATIC_BUCKET_NAME]),
            launch_templates={
                role: LaunchTemplateRef(str(value["id"]), str(value["version"]))
                for role, value in outputs[Output.LAUNCH_TEMPLATES].items()
            },
            rollout=RolloutOutput.parse(outputs[Output.ROLLOUT]),
            alarm_names=tuple(outputs.get(Output.ALARM_NAMES) or ()),
            app_commands=dict(outputs.get(Output.APP_COMMANDS) or {}),
            services=services,
        )
