"""The stack spec: every per-environment setting of a stack, typed and validated before any resource exists.

A stack file (`stacks/Pulumi.<stack>.yaml`) holds `aws:region` and keys under the `scalestack:` namespace.
Each environment (dev, staging, prod) starts from a profile of defaults (`infra.profiles`), the file
overrides them, and the merged document is validated here. Keys are camelCase, as Pulumi config is.
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from infra import aws_facts, hosts, routing
from infra.contract import KIT_SETTINGS, Environment
from infra.profiles import PROFILES, deep_merge

NAMESPACE = "scalestack"
REGION_KEY = "aws:region"
STACKS_DIR = Path(__file__).resolve().parent.parent / "stacks"

Port = Annotated[int, Field(ge=1024, le=65535)]
# CloudWatch Logs accepts only these retention periods.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)


class SpecError(Exception):
    """A stack file that cannot be used; the message names the file, the key and what is allowed."""


class _Section(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, validate_by_alias=True, validate_by_name=False, extra="forbid", frozen=True
    )


@functools.cache
def _ec2_instance_types() -> frozenset[str]:
    """The SDK's current list of EC2 types (AWS adds types; the SDK follows, the kit follows the SDK)."""
    import pulumi_aws as aws

    return frozenset(t.value for t in aws.ec2.InstanceType)


def _check_instance_type(value: str) -> str:
    known = _ec2_instance_types()
    if value not in known:
        close = difflib.get_close_matches(value, known, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ValueError(f"'{value}' is not an EC2 instance type{hint}")
    return value


_SIZE = r"(micro|small|medium|large|xlarge|[0-9]{1,2}xlarge)"
RDS_CLASS = re.compile(
    rf"^db\.(t3|t4g|m5|m5d|m6g|m6gd|m6i|m6id|m7g|m7i|r5|r5d|r6g|r6gd|r6i|r6id|r7g|r7i)\.{_SIZE}$"
)
CACHE_NODE_TYPE = re.compile(rf"^cache\.(t3|t4g|m5|m6g|m7g|r5|r6g|r6gd|r7g)\.{_SIZE}$")
STACK_NAME = re.compile(r"[a-z][a-z0-9-]{0,19}")
# ACM certificates are regional; CloudFront takes them from us-east-1 only, a load balancer from its own
# region (https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html).
EDGE_REGION = "us-east-1"
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


SubnetId = Annotated[str, Field(pattern=r"^subnet-[0-9a-f]{8,17}$")]


class ExistingSubnets(_Section):
    """Subnets of an existing VPC, one per availability zone in each tier."""

    public: list[SubnetId] = Field(description="The load balancer's; routed to an internet gateway.")
    app: list[SubnetId] = Field(description="The instances'; private, with egress (NAT or endpoints).")
    data: list[SubnetId] = Field(description="The database's and cache's; no route to the internet needed.")


class NetworkSpec(_Section):
    """The VPC: public, private-app and isolated-data subnets in each availability zone."""

    cidr: str = Field(description="IPv4 block of the VPC, /16 to /20.")
    availability_zones: int = Field(ge=2, le=3, description="How many AZs the subnets span.")
    nat_gateways: Literal["single", "one-per-az"] = Field(
        description="`single` saves cost; `one-per-az` keeps egress up when an AZ fails."
    )
    interface_endpoints: bool = Field(
        description="Private endpoints for ECR, SSM and CloudWatch Logs, so instances need no NAT for them."
    )
    existing_vpc_id: str | None = Field(
        pattern=r"^vpc-[0-9a-f]{8,17}$",
        description="Bring your own VPC: look it up instead of creating one (needs existingSubnetIds; its "
        "routes, NAT, endpoints and flow logs stay its owner's).",
    )
    existing_subnet_ids: ExistingSubnets | None = Field(
        description="With existingVpcId: the subnets per tier, availabilityZones of each."
    )

    @model_validator(mode="after")
    def _existing_network(self) -> NetworkSpec:
        if (self.existing_vpc_id is None) != (self.existing_subnet_ids is None):
            raise ValueError(
                "existingVpcId and existingSubnetIds go together (a VPC, and its subnets per tier)"
            )
        subnets = self.existing_subnet_ids
        counts = {tier: len(getattr(subnets, tier)) for tier in ("public", "app", "data")} if subnets else {}
        wrong = {tier: n for tier, n in counts.items() if n != self.availability_zones}
        if wrong:
            raise ValueError(
                f"existingSubnetIds needs {self.availability_zones} subnets per tier (availabilityZones), "
                "one per zone; got " + ", ".join(f"{n} {tier}" for tier, n in wrong.items())
            )
        return self

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value)
        except ValueError as err:
            raise ValueError(f"'{value}' is not an IPv4 CIDR block such as 10.0.0.0/16") from err
        if not 16 <= network.prefixlen <= 20:
            raise ValueError(f"prefix /{network.prefixlen} is outside /16 to /20 (room for 9 subnets)")
        return value


class DomainSpec(_Section):
    """A custom domain: ACM certificates (regional for the ALB, us-east-1 for CloudFront) and DNS records."""

    name: str = Field(description="Fully qualified name the app is served at, e.g. app.example.com.")
    hosted_zone_id: str = Field(pattern=r"^Z[A-Z0-9]{1,31}$", description="Route 53 zone for DNS validation.")
    # Bring your own: an issued ACM certificate the kit uses instead of requesting and validating one.
    cdn_certificate_arn: str | None = Field(
        default=None,
        pattern=rf"^arn:aws:acm:{EDGE_REGION}:[0-9]{{12}}:certificate/[0-9a-f-]{{36}}$",
        description="An existing certificate for the name and every routed hostName, in us-east-1 (the only "
        "region CloudFront takes).",
    )
    origin_certificate_arn: str | None = Field(
        default=None,
        pattern=r"^arn:aws:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$",
        description="An existing certificate in the stack's region naming origin.<name>, the name and every "
        "routed hostName (ALB).",
    )

    @field_validator("name")
    @classmethod
    def _hostname(cls, value: str) -> str:
        if not HOSTNAME.match(value):
            raise ValueError(f"'{value}' is not a lower-case fully qualified domain name")
        return value


class LoadBalancerSpec(_Section):
    """The application load balancer in front of the web group."""

    algorithm: Literal["round_robin", "least_outstanding_requests", "weighted_random"] = Field(
        description="How the web target group picks a target; slow start needs round_robin."
    )
    idle_timeout_seconds: int = Field(ge=1, le=4000, description="Must stay below the app's keep-alive.")
    deregistration_delay_seconds: int = Field(ge=0, le=3600, description="Time in-flight requests get.")
    slow_start_seconds: int = Field(ge=0, le=900, description="Ramp-up for new targets; 0 or 30-900.")
    deletion_protection: bool = Field(description="Refuse to delete the load balancer.")
    access_log_retention_days: int = Field(ge=1, le=3650, description="Days access logs stay in S3.")

    @field_validator("slow_start_seconds")
    @classmethod
    def _slow_start(cls, value: int, info: ValidationInfo) -> int:
        if 0 < value < 30:
            raise ValueError("must be 0 (off) or between 30 and 900 seconds")
        # ALB user guide, target group attributes: slow start cannot be enabled with least outstanding
        # requests (nor with weighted random); AWS refuses the target group.
        algorithm = info.data.get("algorithm")
        if value and algorithm and algorithm not in aws_facts.ALB_ALGORITHMS_WITH_SLOW_START:
            raise ValueError(
                f"{value} cannot be combined with {NAMESPACE}:loadBalancer.algorithm {algorithm} (AWS allows "
                "slow start only with round_robin): set slowStartSeconds: 0 or algorithm: round_robin"
            )
        return value


class AppSpec(_Section):
    """How the container runs: the same image serves the web and worker roles."""

    architecture: Literal["x86_64", "arm64"] = Field(
        description="CPU architecture the image is built for; every group's instance type must match."
    )
    port: Port = Field(description="Port the container listens on.")
    readiness_path: str = Field(pattern=r"^/[A-Za-z0-9/_.-]*$", description="Target group health check.")
    liveness_path: str = Field(
        pattern=r"^/[A-Za-z0-9/_.-]*$", description="Liveness probe; a deploy reads the version it reports."
    )
    worker_command: list[str] = Field(min_length=1, description="Arguments the worker role runs.")
    migrate_command: list[str] = Field(min_length=1, description="Arguments that apply migrations.")
    environment: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")], str] = Field(
        description="Extra plain settings, stored in SSM Parameter Store."
    )
    build_context: str | None = Field(
        min_length=1,
        description="The app's Docker build context, absolute or relative to the stack file's directory; "
        "null: the kit's own app_template/. `scalestack deploy --app-dir` overrides it for one run.",
    )
    smoke_path: str = Field(
        pattern=r"^/[A-Za-z0-9/_.?=&-]*$",
        description="A read the deploy's smoke test makes after the rollout; it must answer 200 with JSON.",
    )
    static_dir: str = Field(
        min_length=1,
        description="Static assets the deploy publishes to the CDN, relative to the build context "
        "(absent: none are published).",
    )

    @field_validator("environment")
    @classmethod
    def _not_the_kits(cls, value: dict[str, str]) -> dict[str, str]:
        taken = sorted(set(value) & KIT_SETTINGS)
        if taken:
            raise ValueError(f"{', '.join(taken)} set by the kit itself (from the database, cache and port)")
        return value


class _GroupSpec(_Section):
    instance_type: str = Field(description="EC2 instance type (checked against the current list).")
    min_size: int = Field(ge=0, le=500)
    desired_capacity: int = Field(ge=0, le=500)
    max_size: int = Field(ge=1, le=500)
    cpu_target_percent: int = Field(ge=10, le=90, description="Target tracking on average CPU.")
    root_volume_gib: int = Field(ge=8, le=1024, description="Encrypted gp3 root volume.")
    health_check_grace_period_seconds: int = Field(
        ge=0, le=7200, description="Time a new instance gets before its health counts; the refresh's warm-up."
    )
    min_healthy_percent: int = Field(ge=50, le=100, description="Kept in service during instance refresh.")

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, value: str) -> str:
        return _check_instance_type(value)

    @model_validator(mode="after")
    def _sizes(self) -> _GroupSpec:
        if not self.min_size <= self.desired_capacity <= self.max_size:
            raise ValueError(
                f"needs minSize <= desiredCapacity <= maxSize "
                f"(got {self.min_size} <= {self.desired_capacity} <= {self.max_size})"
            )
        return self


# ALB rule condition values (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/
# rule-condition-types.html): a path pattern is case-sensitive, up to 128 characters of A-Z, a-z, 0-9,
# _ - . $ / ~ " ' @ : + & and the wildcards * ?; a host name up to 128 characters of A-Z, a-z, 0-9, - .
# and the wildcards.
PathPattern = Annotated[str, Field(pattern=r"^/[A-Za-z0-9_.$/~\"'@:+&*?-]{0,127}$")]
HostPattern = Annotated[str, Field(pattern=r"^[A-Za-z0-9*?][A-Za-z0-9.*?-]{0,127}$", max_length=128)]
QueueName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,128}$")]
# An ECR repository name (https://docs.aws.amazon.com/AmazonECR/latest/APIReference/API_CreateRepository.html).
RepositoryName = Annotated[
    str, Field(pattern=r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
]


class _ServiceSpec(_GroupSpec):
    command: list[str] | None = Field(
        default=None, min_length=1, description="Arguments after the image; default: see the role."
    )
    image_repository: RepositoryName | None = Field(
        default=None, description="An ECR repository of the account to run instead of the stack's own."
    )
    uses_database: bool = Field(default=True, description="The database admits this service's instances.")
    uses_cache: bool = Field(default=True, description="The cache admits this service's instances.")


class WebSpec(_ServiceSpec):
    """The web auto-scaling group behind the load balancer (and every other web service's defaults)."""

    requests_per_target: int = Field(ge=10, le=100000, description="Target tracking on ALB requests/target.")
    warm_pool_size: int = Field(ge=0, le=100, description="Pre-initialised stopped instances; 0 is off.")
    path_patterns: list[PathPattern] = Field(
        default_factory=list, description="Requests whose path matches one of these (with hostNames: and)."
    )
    host_names: list[HostPattern] = Field(
        default_factory=list,
        description="Requests for one of these hosts; no routes: the default service. Each is the domain or "
        "a name under it (a leading `*.` label at most, lower-case) and becomes a CloudFront alias, a name "
        "on both certificates and an A/AAAA record; needs domain.",
    )
    priority: int | None = Field(
        default=None,
        ge=1,
        le=routing.DERIVED_PRIORITIES,
        description="Listener rule priority; default: "
        "derived from the name, so adding a service never moves another's.",
    )
    port: Port | None = Field(default=None, description="Port the container listens on; default app.port.")
    readiness_path: str | None = Field(
        default=None, pattern=r"^/[A-Za-z0-9/_.-]*$", description="Default app.readinessPath."
    )
    liveness_path: str | None = Field(
        default=None,
        pattern=r"^/[A-Za-z0-9/_.-]*$",
        description="Default app.livenessPath; a service with pathPatterns needs one they match "
        "(the deploy's smoke test asks it through the service's route).",
    )
    deregistration_delay_seconds: int | None = Field(
        default=None, ge=0, le=3600, description="Default loadBalancer.deregistrationDelaySeconds."
    )

    @model_validator(mode="after")
    def _rule_quota(self) -> WebSpec:
        values = [*self.path_patterns, *self.host_names]
        if len(values) > routing.ROUTE_VALUES_PER_SERVICE:
            raise ValueError(
                f"{len(values)} pathPatterns and hostNames: a listener rule takes "
                f"{routing.RULE_CONDITION_VALUES} condition values and the origin-header check uses one, "
                f"so at most {routing.ROUTE_VALUES_PER_SERVICE} ({routing.RULE_CONDITIONS_SOURCE})"
            )
        if routing.wildcards(values) > routing.RULE_CONDITION_WILDCARDS:
            raise ValueError(
                f"{routing.wildcards(values)} wildcards in pathPatterns and hostNames: a listener rule takes "
                f"at most {routing.RULE_CONDITION_WILDCARDS} ({routing.RULE_CONDITIONS_SOURCE})"
            )
        return self


class WorkerSpec(_ServiceSpec):
    """The background worker group: same image, worker command, no load balancer."""

    spot: bool = Field(description="Run on spot capacity (workers must tolerate interruption).")
    queues: list[QueueName] = Field(
        min_length=1, description="Celery queues it consumes (`--queues`); the worker key's default: celery."
    )
    target_messages_per_worker: int = Field(
        ge=1, le=100000, description="Backlog per in-service instance that target tracking holds."
    )


SERVICE_NAME_MAX = 21
"""The target group takes the service's name plus `-tg` and Pulumi's 8-character random suffix
(https://www.pulumi.com/docs/iac/concepts/resources/names/#autonaming), and a target group name is at
most 32 characters (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/
API_CreateTargetGroup.html): 32 - 3 - 8 = 21. The group, security group and role names derived the same
way have room to spare (255, 255 and 64)."""
ServiceName = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]*[a-z0-9])?$", max_length=SERVICE_NAME_MAX)]
# The keys that already name the two default services, and the stack's other components' names.
RESERVED_SERVICE_NAMES = frozenset(
    {"web", "worker", "alb", "network", "registry", "database", "cache", "settings", "cdn", "domain"}
    | {"monitoring"}
)
DEFAULT_QUEUE = "celery"
"""Celery's task_default_queue: a worker started without --queues consumes it."""
INHERITED_KEYS = (
    frozenset(_GroupSpec.model_fields)
    | {"requests_per_target", "warm_pool_size"}
    | {
        "spot",
        "target_messages_per_worker",
    }
)
"""What a `services` entry takes from the `web` or `worker` key when it does not set it: sizes and
scaling, never routes, queues, commands or images (those say what the service is)."""


class WebServiceSpec(WebSpec):
    """A web service of the `services` map."""

    kind: Literal["web"]


class WorkerServiceSpec(WorkerSpec):
    """A worker service of the `services` map."""

    kind: Literal["worker"]


@dataclass(frozen=True)
class Service:
    """One service of a stack, resolved: `web` and `worker` keys and every `services` entry alike."""

    name: str
    key: str
    """Where it is set in the stack file: `web`, `worker` or `services.<name>`."""
    spec: WebSpec | WorkerSpec

    @property
    def web(self) -> WebSpec | None:
        return self.spec if isinstance(self.spec, WebSpec) else None

    @property
    def worker(self) -> WorkerSpec | None:
        return self.spec if isinstance(self.spec, WorkerSpec) else None

    @property
    def default(self) -> bool:
        """The web service without routes: its rule takes every request no other rule takes."""
        web = self.web
        return web is not None and not web.path_patterns and not web.host_names

    @property
    def migrates(self) -> bool:
        """The deploy runs the migrations on this service's instances (the default web service's, which
        always run: its minSize is at least 1), so its role alone may read the database's master secret;
        every other service connects as the app's role with IAM tokens."""
        return self.default


class DatabaseSpec(_Section):
    """RDS PostgreSQL primary in the isolated subnets and its read replicas."""

    engine_version: str = Field(
        description="A PostgreSQL version RDS offers, a major (RDS picks the minor) or major.minor: "
        + ", ".join(f"{m} ({m}.{lo}-{m}.{hi})" for m, (lo, hi) in aws_facts.POSTGRES_MINORS.items())
        + "."
    )
    instance_class: str = Field(description="RDS class, e.g. db.r7g.large.")
    allocated_storage_gib: int = Field(ge=20, le=65536)
    max_allocated_storage_gib: int = Field(ge=20, le=65536, description="Storage autoscaling ceiling.")
    multi_az: bool = Field(description="A synchronous standby in another AZ.")
    read_replicas: int = Field(ge=0, le=15, description="PostgreSQL allows at most 15.")
    backup_retention_days: int = Field(ge=1, le=35, description="Point-in-time recovery window.")
    deletion_protection: bool
    performance_insights: bool
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = Field(description="Enhanced monitoring.")
    slow_query_ms: int = Field(ge=-1, le=600000, description="log_min_duration_statement; -1 is off.")
    database_name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    master_username: str = Field(pattern=r"^[a-z][a-z0-9_]{0,15}$")

    @field_validator("engine_version")
    @classmethod
    def _engine_version(cls, value: str) -> str:
        return aws_facts.check_postgres_version(value)

    @field_validator("instance_class")
    @classmethod
    def _instance_class(cls, value: str) -> str:
        if not RDS_CLASS.match(value):
            raise ValueError(f"'{value}' is not an RDS class such as db.t4g.micro or db.r7g.large")
        return value

    @field_validator("master_username")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in {"postgres", "rdsadmin", "admin", "user", "public"}:
            raise ValueError(f"'{value}' is reserved by PostgreSQL or RDS")
        return value

    @model_validator(mode="after")
    def _storage(self) -> DatabaseSpec:
        if self.max_allocated_storage_gib < self.allocated_storage_gib:
            raise ValueError("maxAllocatedStorageGib must be at least allocatedStorageGib")
        return self


class CacheSpec(_Section):
    """ElastiCache replication group: a primary and its replicas, encrypted at rest and in transit."""

    engine: Literal["redis", "valkey"]
    engine_version: str = Field(
        description="A version ElastiCache offers for the engine: "
        + "; ".join(f"{e} {', '.join(v)}" for e, v in aws_facts.CACHE_ENGINE_VERSIONS.items())
        + "."
    )
    node_type: str
    replicas: int = Field(ge=0, le=5, description="Replicas per shard; >= 1 enables automatic failover.")
    snapshot_retention_days: int = Field(ge=0, le=35)

    @field_validator("engine_version")
    @classmethod
    def _version_of_the_engine(cls, value: str, info: ValidationInfo) -> str:
        engine = info.data.get("engine")
        return aws_facts.check_cache_version(engine, value) if engine else value

    @field_validator("node_type")
    @classmethod
    def _node_type(cls, value: str) -> str:
        if not CACHE_NODE_TYPE.match(value):
            raise ValueError(f"'{value}' is not an ElastiCache node type such as cache.t4g.micro")
        return value


class CdnSpec(_Section):
    """CloudFront in front of the load balancer and the static-assets bucket."""

    price_class: Literal["PriceClass_100", "PriceClass_200", "PriceClass_All"]
    web_acl: bool = Field(description="Attach a WAF web ACL with AWS managed rule groups.")
    access_logs: bool = Field(description="Standard logs to an encrypted S3 bucket.")


class MonitoringSpec(_Section):
    """Alarms to an SNS topic and a dashboard."""

    alarm_email: str | None = Field(
        pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$", description="Subscribed to alarms."
    )
    error_rate_percent: float = Field(gt=0, le=50, description="ALB 5xx share of requests that alarms.")
    p99_latency_ms: int = Field(ge=10, le=60000)
    replica_lag_seconds: int = Field(ge=1, le=3600)
    log_retention_days: int

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value


class Waiver(_Section):
    """An explicit, recorded exception to one policy rule for this stack."""

    rule: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    reason: str = Field(min_length=10, max_length=500, description="Why, for the next reader.")


class PolicySpec(_Section):
    """Policy rules this stack waives, each with its reason (see SECURITY.md)."""

    waivers: list[Waiver] = Field(default_factory=list)


class StackSpec(_Section):
    """The whole stack. `stack` and `source` are not keys of the file: they say where it came from."""

    stack: str
    source: str
    environment: Environment = Field(
        description="Which profile of defaults, requirements and policy levels applies."
    )
    region: str = Field(
        alias="aws:region", description="AWS commercial region (infra/aws_facts.py lists them)."
    )
    image_tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", description="Image the app runs.")
    network: NetworkSpec
    domain: DomainSpec | None = None
    load_balancer: LoadBalancerSpec
    app: AppSpec
    web: WebSpec
    worker: WorkerSpec
    database: DatabaseSpec
    cache: CacheSpec
    cdn: CdnSpec
    monitoring: MonitoringSpec
    tags: dict[Annotated[str, Field(min_length=1, max_length=128)], Annotated[str, Field(max_length=256)]] = (
        Field(description="Tags on every resource, beside scalestack:stack and scalestack:environment.")
    )
    policy: PolicySpec = Field(default_factory=PolicySpec)
    services: dict[
        ServiceName, Annotated[WebServiceSpec | WorkerServiceSpec, Field(discriminator="kind")]
    ] = Field(
        default_factory=dict,
        description="More services beside `web` and `worker`, by name: `kind: web` or `kind: worker`; "
        "unset sizes and scaling come from the `web` or `worker` key.",
    )

    @field_validator("services")
    @classmethod
    def _not_reserved(cls, value: dict[str, Any]) -> dict[str, Any]:
        taken = sorted(set(value) & RESERVED_SERVICE_NAMES)
        if taken:
            raise ValueError(
                f"{', '.join(taken)}: names taken by the web and worker keys or the stack's components "
                f"(not {', '.join(sorted(RESERVED_SERVICE_NAMES))})"
            )
        return value

    @property
    def all_services(self) -> tuple[Service, ...]:
        """Every service: `web`, `worker`, then the `services` entries in the file's order."""
        return (
            Service("web", "web", self.web),
            Service("worker", "worker", self.worker),
            *(Service(name, f"services.{name}", service) for name, service in self.services.items()),
        )

    @property
    def routed_hosts(self) -> tuple[str, ...]:
        """Every host name a web service's rule routes on, in the file's order (repeats kept)."""
        return tuple(h for s in self.all_services if s.web for h in s.web.host_names)

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        problem = aws_facts.region_problem(value)
        if problem:
            close = difflib.get_close_matches(value, aws_facts.COMMERCIAL_REGIONS, n=3)
            hint = f"did you mean {', '.join(close)}?" if close else "e.g. us-east-1, eu-west-1"
            raise ValueError(f"{problem} ({hint}); the kit's region list: infra/aws_facts.py")
        return value

    @property
    def name_prefix(self) -> str:
        """Prefix for physical names, unique per project and stack (AWS names are global per account)."""
        return f"{NAMESPACE}-{self.stack}"


# A problem the spec finds after validation: the dotted key (no namespace) and what is wrong with it.
Problem = tuple[str, str]


def _certificate_violations(spec: StackSpec) -> list[Problem]:
    """An origin certificate from another region: the load balancer takes certificates from its own only
    (https://docs.aws.amazon.com/acm/latest/userguide/acm-regions.html)."""
    arn = spec.domain.origin_certificate_arn if spec.domain else None
    region = arn.split(":")[3] if arn else spec.region
    if region == spec.region:
        return []
    return [
        (
            "domain.originCertificateArn",
            f"the certificate is in {region} but the load balancer is in {spec.region} (ACM certificates "
            f"are regional): name one from {spec.region}",
        )
    ]


def _host_violations(spec: StackSpec) -> list[Problem]:
    """Host names the edge could not serve: every one must reach the ALB through CloudFront, so it needs
    the stack's domain (aliases, certificates, records) and a form CloudFront, ACM and Route 53 all take;
    and the names must fit one certificate and one distribution (infra/hosts.py)."""
    routed = [s for s in spec.all_services if s.web and s.web.host_names]
    if spec.domain is None:
        return [
            (
                f"{s.key}.hostNames",
                "a service routed on host names needs scalestack:domain: CloudFront answers only for its "
                "aliases, which need the domain's certificates and DNS records; set domain (name and "
                "hostedZoneId) and use the domain or names under it, or route on pathPatterns only",
            )
            for s in routed
        ]
    domain = spec.domain.name
    problems: list[Problem] = []
    for service in routed:
        names = service.web.host_names if service.web else []
        problems += [
            (f"{service.key}.hostNames", p) for p in (hosts.host_problem(h, domain) for h in names) if p
        ]
    if problems:
        return problems
    counted = [
        ("the origin certificate", spec.domain.origin_certificate_arn, hosts.origin_certificate_names),
        ("the CloudFront certificate", spec.domain.cdn_certificate_arn, hosts.viewer_certificate_names),
    ]
    for what, brought, names_of in counted:
        names = names_of(domain, spec.routed_hosts)
        if brought is None and len(names) > hosts.ACM_NAMES_PER_CERTIFICATE:
            problems.append(
                (
                    "services",
                    f"{what} would name {len(names)} hosts ({', '.join(names)}): ACM takes "
                    f"{hosts.ACM_NAMES_PER_CERTIFICATE} names per certificate by default "
                    f"({hosts.ACM_NAMES_SOURCE}); use a wildcard (*.{domain}) or bring a certificate "
                    "(domain.originCertificateArn, domain.cdnCertificateArn)",
                )
            )
    aliases = hosts.viewer_certificate_names(domain, spec.routed_hosts)
    if len(aliases) > hosts.CLOUDFRONT_ALIASES_PER_DISTRIBUTION:
        problems.append(
            (
                "services",
                f"{len(aliases)} CloudFront aliases: a distribution takes "
                f"{hosts.CLOUDFRONT_ALIASES_PER_DISTRIBUTION} by default ({hosts.CLOUDFRONT_QUOTAS_SOURCE})",
            )
        )
    return problems


def _service_violations(spec: StackSpec) -> list[Problem]:
    """Web services whose listener rules cannot coexist: not exactly one default (no routes), routes that
    overlap (a request would match two rules, and priorities would decide which, silently), or two rules
    on one priority (AWS refuses the second: https://docs.aws.amazon.com/elasticloadbalancing/latest/
    APIReference/API_CreateRule.html)."""
    web = [s for s in spec.all_services if s.web]
    defaults = [s.key for s in web if s.default]
    problems: list[Problem] = []
    if len(defaults) != 1:
        problems.append(
            (
                "services",
                "exactly one web service has no pathPatterns or hostNames and takes every other request "
                f"(got {len(defaults)}: {', '.join(defaults) or 'none'})",
            )
        )
    problems += [
        (
            f"{s.key}.priority",
            f"the default service's rule comes last ({routing.LOWEST_PRIORITY}); priority is for services "
            "with pathPatterns or hostNames",
        )
        for s in web
        if s.default and s.web and s.web.priority is not None
    ]
    # The default service's instances publish the queue lengths the workers scale on (DESIGN.md,
    # "Workers scale on their backlog"): they must always run and reach the cache.
    problems += [
        (
            s.key,
            "the default web service publishes the queue lengths workers scale on, so it needs minSize >= 1 "
            f"and usesCache: true (got minSize {s.spec.min_size}, usesCache {s.spec.uses_cache})",
        )
        for s in web
        if s.default and (s.spec.min_size < 1 or not s.spec.uses_cache)
    ]
    # The deploy runs the migrations on the migrating service's instances (its role alone reads the
    # master secret).
    problems += [
        (
            f"{s.key}.usesDatabase",
            "the default web service's instances run the deploy's migrations, so it needs usesDatabase: true",
        )
        for s in web
        if s.migrates and not s.spec.uses_database
    ]
    routed = [s for s in web if not s.default]
    problems += [p for p in (_liveness_off_route(spec, s) for s in routed) if p]
    for i, first in enumerate(routed):
        for second in routed[i + 1 :]:
            a, b = first.web, second.web
            assert a is not None and b is not None
            if routing.routes_overlap(a.path_patterns, a.host_names, b.path_patterns, b.host_names):
                problems.append(
                    (
                        second.key,
                        f"its routes overlap {first.key}'s (one request could match both rules): give them "
                        "paths or hosts no request matches together",
                    )
                )
    owners: dict[int, str] = {}
    for service in routed:
        priority = rule_priority(service)
        if priority in owners:
            problems.append(
                (
                    f"{service.key}.priority",
                    f"{priority} is {owners[priority]}'s rule priority too; set priority "
                    f"(1-{routing.DERIVED_PRIORITIES}) on one of them",
                )
            )
        owners.setdefault(priority, service.key)
    return problems


def _liveness_off_route(spec: StackSpec, service: Service) -> Problem | None:
    """A routed service whose liveness path its own rule does not match: the deploy's smoke test asks each
    web service's liveness path through the load balancer, where that request would reach another service."""
    web = service.web
    assert web is not None
    liveness = web.liveness_path or spec.app.liveness_path
    if not web.path_patterns or any(routing.patterns_overlap(p, liveness) for p in web.path_patterns):
        return None
    return (
        f"{service.key}.livenessPath",
        f"{liveness} is not on its pathPatterns ({', '.join(web.path_patterns)}), so a request for it "
        "reaches another service: the deploy's smoke test asks each web service's liveness path through "
        "its route; set livenessPath to a path it answers that one of its pathPatterns matches",
    )


def rule_priority(service: Service) -> int:
    """A web service's listener rule priority: the default's comes last, the others' from their names."""
    web = service.web
    assert web is not None
    explicit = web.priority
    if service.default:
        return routing.LOWEST_PRIORITY
    return explicit or routing.derived_priority(service.name)


def _architecture_violations(spec: StackSpec) -> list[Problem]:
    """Groups whose instances cannot run the image: the deploy builds one image, for app.architecture."""
    groups = [(s.key, s.spec.instance_type) for s in spec.all_services if not s.spec.image_repository]
    return [
        (
            f"{section}.instanceType",
            f"{instance_type} is {aws_facts.instance_architecture(instance_type)} but {NAMESPACE}:"
            f"app.architecture is {spec.app.architecture} (one image, one architecture: pick a "
            f"{spec.app.architecture} type for every group, or change app.architecture)",
        )
        for section, instance_type in groups
        if aws_facts.instance_architecture(instance_type) != spec.app.architecture
    ]


def _environment_violations(spec: StackSpec) -> list[Problem]:
    """Production's non-negotiables, each worded as what prod needs (and what the stack has)."""
    if spec.environment != "prod":
        return []
    db, cache, web = spec.database, spec.cache, spec.web
    requirements: list[tuple[str, object, bool, str]] = [
        (
            "network.availabilityZones",
            spec.network.availability_zones,
            spec.network.availability_zones == 3,
            "3 availability zones",
        ),
        (
            "network.natGateways",
            spec.network.nat_gateways,
            spec.network.nat_gateways == "one-per-az",
            "a NAT gateway in each availability zone (one-per-az)",
        ),
        ("database.multiAz", db.multi_az, db.multi_az, "a Multi-AZ database (true)"),
        ("database.readReplicas", db.read_replicas, db.read_replicas >= 2, "at least 2 read replicas"),
        (
            "database.deletionProtection",
            db.deletion_protection,
            db.deletion_protection,
            "deletion protection on the database (true)",
        ),
        (
            "database.backupRetentionDays",
            db.backup_retention_days,
            db.backup_retention_days >= 7,
            "at least 7 days of database backups",
        ),
        ("cache.replicas", cache.replicas, cache.replicas >= 1, "a cache replica for automatic failover"),
        (
            "loadBalancer.deletionProtection",
            spec.load_balancer.deletion_protection,
            spec.load_balancer.deletion_protection,
            "deletion protection on the load balancer (true)",
        ),
        ("web.minSize", web.min_size, web.min_size >= 2, "at least 2 web instances"),
    ]
    return [
        (key, f"prod needs {needs} (got {_short(actual)})")
        for key, actual, holds, needs in requirements
        if not holds
    ]


# Keys users reach for that the kit refuses outright: each says why, instead of "unknown key".
REFUSED_KEYS: Mapping[str, str] = {
    "database.publiclyAccessible": "the database is never reachable from the internet; "
    "connect through Session Manager port forwarding to an app instance",
    "database.storageEncrypted": "database storage is always encrypted with the stack's KMS key",
    "cache.atRestEncryption": "the cache is always encrypted at rest",
    "cache.transitEncryption": "the cache always requires TLS in transit",
    "web.keyName": "instances have no SSH key; use Session Manager (aws ssm start-session)",
    "worker.keyName": "instances have no SSH key; use Session Manager (aws ssm start-session)",
    "web.sshIngressCidrs": "port 22 is never opened; use Session Manager (aws ssm start-session)",
    "web.associatePublicIp": "app instances live in private subnets and never get a public IP",
    "loadBalancer.ingressCidrs": "the load balancer admits only CloudFront (its managed prefix list)",
    "web.rootVolumeEncrypted": "root volumes are always encrypted",
    # Read by nothing before issue 13: the assets' lifetime follows from their names, not from a setting.
    "cdn.staticMaxAgeSeconds": "static assets have content-hashed names, so they are cached for a year "
    "(the deploy uploads them with Cache-Control: immutable and CloudFront's CachingOptimized policy keeps "
    "that); a new version gets new names, never a shorter age",
}


def _check_stack_name(stack: str) -> None:
    if not STACK_NAME.fullmatch(stack):
        raise SpecError(
            f"stack name '{stack}': use a lower-case letter then up to 19 lower-case letters, digits or '-' "
            "(it becomes part of AWS names such as the database identifier)"
        )


def load_stack_spec(stack: str, stacks_dir: Path = STACKS_DIR) -> StackSpec:
    """The spec of a stack by name, from `<stacks_dir>/Pulumi.<stack>.yaml`."""
    _check_stack_name(stack)
    path = stacks_dir / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        known = sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in stacks_dir.glob("Pulumi.*.yaml"))
        raise SpecError(
            f"no stack '{stack}': {path} does not exist (stacks here: {', '.join(known) or 'none'})"
        )
    return load_spec_file(path, stack)


class DuplicateKeyError(yaml.YAMLError):
    """A mapping names a key twice; YAML loaders keep the last silently, so the first is lost unseen."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key that appears twice in one mapping (at any depth)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<:` merges may override, by design
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                earlier = first_line.setdefault(key, key_node.start_mark.line + 1)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if earlier != key_node.start_mark.line + 1:
                raise DuplicateKeyError(
                    f"key {key!r} appears twice in one mapping (lines {earlier} and "
                    f"{key_node.start_mark.line + 1}); YAML would keep only the last, so remove one"
                )
        return super().construct_mapping(node, deep=deep)


def load_spec_file(path: Path, stack: str | None = None) -> StackSpec:
    """The spec in a stack file; the stack name defaults to the one in the file name."""
    stack = stack or _stack_name_from_path(path)
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"{path}: cannot read the stack file ({err})") from None
    except DuplicateKeyError as err:
        raise SpecError(f"{path}: {err}") from None
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: not valid YAML: {_one_line(str(err))}") from None
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise SpecError(
            f"{path}: a stack file is a mapping with a 'config:' mapping of keys such as aws:region"
        )
    return parse_config(document["config"], stack=stack, source=str(path))


def parse_config(config: Mapping[str, Any], *, stack: str, source: str) -> StackSpec:
    """Validate Pulumi config (`aws:region` and `scalestack:*` keys) merged over the environment's profile."""
    _check_stack_name(stack)
    document = _namespaced(config, source)
    environment = document.get("environment")
    if not isinstance(environment, str) or environment not in PROFILES:
        raise SpecError(f"{source}: {_environment_problem(stack, environment)}")
    _refuse_forbidden_keys(document, source)
    merged = _with_service_defaults(deep_merge(PROFILES[str(environment)], document))
    try:
        spec = StackSpec.model_validate({**merged, "stack": stack, "source": source})
    except ValidationError as err:
        raise _report(
            source, [_describe(e) + _origin(document, e["loc"], environment) for e in err.errors()]
        ) from None
    violations = (
        _architecture_violations(spec)
        + _environment_violations(spec)
        + _certificate_violations(spec)
        + _service_violations(spec)
        + _host_violations(spec)
    )
    if violations:
        raise _report(
            source,
            [
                f"{NAMESPACE}:{key}: {text}{_origin(document, tuple(key.split('.')), environment)}"
                for key, text in violations
            ],
        )
    return spec


def _environment_problem(stack: str, environment: object) -> str:
    """The stack's name and its profile are separate: any name, one of three profiles."""
    allowed = ", ".join(PROFILES)
    got = "it is missing" if environment is None else f"got {environment!r}"
    named = (
        ""
        if stack in PROFILES
        else f"; the stack's name '{stack}' is not one of them and picks no profile: any name works, with "
        f"{NAMESPACE}:environment saying which defaults and requirements apply"
    )
    return f"{NAMESPACE}:environment must be one of {allowed} ({got}){named}"


def _with_service_defaults(document: dict[str, Any]) -> dict[str, Any]:
    """Each `services` entry over the sizes and scaling of the `web` or `worker` key of its kind."""
    services = document.get("services")
    if not isinstance(services, Mapping):
        return document
    inherited = {to_camel(key) for key in INHERITED_KEYS}
    completed: dict[str, Any] = {}
    for name, entry in services.items():
        kind = entry.get("kind") if isinstance(entry, Mapping) else None
        base = document.get(kind) if kind in ("web", "worker") else None
        defaults = {k: v for k, v in base.items() if k in inherited} if isinstance(base, Mapping) else {}
        completed[name] = deep_merge(defaults, entry) if isinstance(entry, Mapping) else entry
    return {**document, "services": completed}


def _namespaced(config: Mapping[str, Any], source: str) -> dict[str, Any]:
    """`aws:region` and the `scalestack:` keys, by name; other namespaces' keys are left to their owners.

    A Pulumi stack file legitimately holds keys of other namespaces (`aws:profile`, `pulumi:...`, another
    provider's), so those pass. What cannot be meant for anyone else is refused: a key with no namespace
    (Pulumi itself requires `<namespace>:<name>`), a `scalestack.` prefix with a dot for the colon, and a
    namespace one or two letters away from `scalestack` (a typo that would otherwise be silently ignored).
    """
    document: dict[str, Any] = {}
    for key, value in config.items():
        if not isinstance(key, str):
            raise SpecError(f"{source}: config key {key!r} must be a string such as '{NAMESPACE}:network'")
        _refuse_near_miss(key, source)
        namespace, _, name = key.partition(":")
        if key == REGION_KEY:
            document[REGION_KEY] = value
        elif namespace == NAMESPACE:
            document[name] = value
    if REGION_KEY not in document:
        raise SpecError(f"{source}: {REGION_KEY} is required (e.g. us-east-1)")
    return document


def _refuse_near_miss(key: str, source: str) -> None:
    namespace, colon, name = key.partition(":")
    if not colon:
        suggestion = f"{NAMESPACE}:{key.removeprefix(f'{NAMESPACE}.')}"
        raise SpecError(
            f"{source}: config key '{key}' has no namespace; Pulumi config keys are <namespace>:<name> "
            f"(did you mean '{suggestion}'?)"
        )
    if namespace == NAMESPACE and not name:
        raise SpecError(f"{source}: config key '{key}' names no key after '{NAMESPACE}:'")
    if namespace != NAMESPACE and _edit_distance(namespace.lower(), NAMESPACE) <= 2:
        raise SpecError(
            f"{source}: config key '{key}': unknown namespace '{namespace}' "
            f"(did you mean '{NAMESPACE}:{name}'?); its settings would be ignored"
        )


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions that turn a into b."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i]
        for j, char_b in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def _refuse_forbidden_keys(document: Mapping[str, Any], source: str) -> None:
    for dotted, reason in REFUSED_KEYS.items():
        section, _, key = dotted.partition(".")
        block = document.get(section)
        if isinstance(block, Mapping) and key in block:
            raise SpecError(f"{source}: {NAMESPACE}:{dotted} is refused: {reason}.")


def _describe(error: Any) -> str:
    loc = tuple(error["loc"])
    if loc[:1] == ("services",) and len(loc) > 2 and loc[2] in ("web", "worker"):
        error = {**error, "loc": loc[:2] + loc[3:]}  # pydantic names the `kind` it tried; the file does not
    return f"{_key_path(error['loc'])}: {_explain(error)}"


def _report(source: str, problems: list[str]) -> SpecError:
    """The file named once, then every problem, one a line (a single one stays on the file's line)."""
    if len(problems) == 1:
        return SpecError(f"{source}: {problems[0]}")
    return SpecError(f"{source}: {len(problems)} problems:\n" + "\n".join(f"  {p}" for p in problems))


def _origin(document: Mapping[str, Any], loc: tuple[int | str, ...], environment: str) -> str:
    """Where a refused value came from when the file does not set it: the environment's profile."""
    names = [part for part in loc if isinstance(part, str) and part != "[key]"]
    if _holds(document, names) or not _holds(PROFILES[environment], names):
        return ""
    return f" (the {environment} profile's value, not this file's: set the key here to change it)"


def _holds(document: Any, names: list[str]) -> bool:
    for name in names:
        if not isinstance(document, Mapping) or name not in document:
            return False
        document = document[name]
    return True


def _key_path(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return f"{NAMESPACE}:"
    head, *rest = loc
    path = str(head) if head == REGION_KEY else f"{NAMESPACE}:{head}"
    for part in rest:
        if part == "[key]":  # pydantic's marker: the mapping key itself is what failed
            path += " (as a name)"
        else:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _explain(error: Any) -> str:
    kind, loc, given = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        return f"unknown key; {hint}allowed keys: {', '.join(known)}"
    if kind == "missing":
        return "required key is missing"
    if kind in ("dict_type", "model_type"):
        return f"must be a mapping of keys (got {_short(given)})"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        # YAML reads 1.10 as the float 1.1 and 16 as an int: only quotes keep what was written.
        return f'{message} (YAML read it as the number {given!r}: quote it as written, e.g. "{given}")'
    if kind == "value_error" or given is None or isinstance(given, dict | list):
        return message
    return f"{message} (got {_short(given)})"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = StackSpec
    if loc[:1] == ("services",) and len(loc) == 2:
        return sorted(
            {f.alias or n for n, f in (WebServiceSpec.model_fields | WorkerServiceSpec.model_fields).items()}
        )
    for part in loc:
        if isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        annotation = getattr(field, "annotation", None)
        nested = next(
            (
                a
                for a in (annotation, *getattr(annotation, "__args__", ()))
                if isinstance(a, type) and issubclass(a, BaseModel)
            ),
            None,
        )
        if nested is None:
            return []
        model = nested
    hidden = {"stack", "source"}
    return sorted((f.alias or n) for n, f in model.model_fields.items() if n not in hidden)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _stack_name_from_path(path: Path) -> str:
    name = path.name
    if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
        return name[len("Pulumi.") :].rsplit(".", 1)[0]
    return path.stem
