"""The one place components are composed: a stack spec in, the stack's resources and outputs out."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import hosts
from infra.components.app_group import (
    AppGroup,
    AppGroupArgs,
    AppSettingsRef,
    BacklogScaling,
    HttpExposure,
    ImageRef,
    QueuePublisher,
)
from infra.components.app_settings import AppSettings, AppSettingsArgs
from infra.components.cache import MAX_INSTANCE_LIFETIME_DAYS, Cache, CacheArgs
from infra.components.cdn import AppOrigin, Cdn, CdnArgs, CustomDomain
from infra.components.database import Database, DatabaseArgs
from infra.components.domain import Domain, DomainArgs
from infra.components.load_balancer import LoadBalancer, LoadBalancerArgs
from infra.components.monitoring import Monitoring, MonitoringArgs, ServiceRow
from infra.components.network import Network, NetworkArgs
from infra.components.registry import Registry, RegistryArgs
from infra.contract import (
    QUEUE_DIMENSION,
    QUEUE_LENGTH_METRIC,
    Output,
    RoleRollout,
    RolloutOutput,
    app_secrets_name,
    log_group_name,
)
from infra.kms import logs_key
from infra.spec import (
    DEFAULT_QUEUE,
    NAMESPACE,
    Service,
    SpecError,
    StackSpec,
    WebSpec,
    WorkerSpec,
    parse_config,
    rule_priority,
)

# The pipeline's instance refresh (the stack's `rollout` output) pauses at half the fleet so the rollout
# alarms can judge the new version on real traffic.
ROLLOUT_CHECKPOINTS = (50, 100)
ROLLOUT_CHECKPOINT_DELAY_SECONDS = 180


@dataclass(frozen=True)
class Foundation:
    """What every tier builds on: the providers, the network and the image registry."""

    regional: pulumi.ResourceOptions
    edge_provider: aws.Provider
    network: Network
    registry: Registry
    logs_key_arn: pulumi.Output[str]
    """One customer-managed key encrypts every log group of the stack's region (the edge has its own)."""


@dataclass(frozen=True)
class Edge:
    """How requests reach the app: the domain's certificates, the load balancer, CloudFront."""

    domain: Domain | None
    load_balancer: LoadBalancer
    cdn: Cdn


@dataclass(frozen=True)
class Data:
    """The database, the cache and the app's settings that point at them."""

    database: Database
    cache: Cache
    settings: AppSettings

    def settings_for(self, service: Service) -> AppSettingsRef:
        """What one service's instances read at boot: the stack's settings and the app's own secrets, and
        the secrets, keys and database users of only the stores it uses (`usesDatabase`, `usesCache`).

        The database's master secret (and the key it is encrypted under, which encrypts nothing else an
        instance reads) only for the service that runs the migrations: every other service connects as
        the app's role with IAM tokens (rds-db:connect), so the master login would be privilege it never
        uses."""
        database, cache, group = self.database, self.cache, service.spec
        master = group.uses_database and service.migrates
        return AppSettingsRef(
            parameter_path=self.settings.parameter_path,
            parameter_path_arn=self.settings.parameter_path_arn,
            secret_arns=[
                *([self.settings.database_secret_arn] if master else []),
                *([self.settings.cache_secret_arn] if group.uses_cache else []),
                self.settings.app_secrets_arn,
            ],
            kms_key_arns=[
                *([database.kms_key_arn] if master else []),
                *([cache.kms_key_arn] if group.uses_cache else []),
                self.settings.kms_key_arn,
            ],
            render_script=self.settings.render_script_for(group.uses_database, master, group.uses_cache),
            database_user_arns=self.settings.database_user_arns if group.uses_database else [],
        )


@dataclass(frozen=True)
class Compute:
    """The app's services: one auto-scaling group each, by service name (`web`, `worker`, `services`)."""

    groups: Mapping[str, AppGroup]

    @property
    def web(self) -> AppGroup:
        return self.groups["web"]

    @property
    def worker(self) -> AppGroup:
        return self.groups["worker"]


@dataclass(frozen=True)
class Stack:
    """Every tier of a stack: the components, and through them the resources they made (escape hatches)."""

    foundation: Foundation
    edge: Edge
    data: Data
    compute: Compute
    monitoring: Monitoring

    def outputs(self, spec: StackSpec) -> dict[str, Any]:
        return stack_outputs(spec, self.foundation, self.edge, self.data, self.compute, self.monitoring)


def build_stack(spec: StackSpec) -> dict[str, Any]:
    """Every resource of a stack; returns the stack outputs (named in infra/contract.py `Output`, which
    the deploy pipeline parses)."""
    return compose(spec).outputs(spec)


def compose(spec: StackSpec) -> Stack:
    """Every resource of a stack, tier by tier.

    Adding a service touches one tier: its builder and its result. The network, database and cache
    sections of the spec name their keys as the components' args do, so they pass through whole; a key
    added to one must be added to the other (a TypeError says so). A program that needs more than the
    kit makes calls this and adds its own resources on the ones the components expose (DESIGN.md,
    "Escape hatches").
    """
    base = build_foundation(spec)
    edge = build_edge(spec, base)
    # The data tier admits the services' security groups, which exist only once the groups do.
    deferred: dict[str, tuple[pulumi.Output[str], Callable[[pulumi.Output[str]], None]]] = {
        service.name: pulumi.deferred_output() for service in spec.all_services
    }
    data = build_data(
        spec,
        base,
        database_clients={s.name: deferred[s.name][0] for s in spec.all_services if s.spec.uses_database},
        cache_clients={s.name: deferred[s.name][0] for s in spec.all_services if s.spec.uses_cache},
    )
    compute = build_compute(spec, base, edge, data)
    for name, (_, resolve) in deferred.items():
        resolve(compute.groups[name].security_group_id)
    monitoring = build_observability(spec, base, edge, data, compute)
    return Stack(base, edge, data, compute, monitoring)


def build_foundation(spec: StackSpec) -> Foundation:
    tags = {**spec.tags, "scalestack:stack": spec.stack, "scalestack:environment": spec.environment}
    default_tags = aws.ProviderDefaultTagsArgs(tags=tags)
    regional_provider = aws.Provider("aws", region=spec.region, default_tags=default_tags)
    edge_provider = aws.Provider("aws-us-east-1", region="us-east-1", default_tags=default_tags)
    regional = pulumi.ResourceOptions(providers={"aws": regional_provider})
    logs_key_arn = logs_key("logs-key", None, regional_provider).arn
    network = Network(
        "network",
        NetworkArgs(
            **spec.network.model_dump(),
            flow_log_retention_days=spec.monitoring.log_retention_days,
            logs_key_arn=logs_key_arn,
        ),
        regional,
    )
    registry = Registry(
        "registry",
        RegistryArgs(repository_name=spec.name_prefix, force_delete=not _production(spec)),
        regional,
    )
    return Foundation(regional, edge_provider, network, registry, logs_key_arn)


def build_edge(spec: StackSpec, base: Foundation) -> Edge:
    regional, network, production = base.regional, base.network, _production(spec)
    domain = (
        Domain(
            "domain",
            DomainArgs(
                name=spec.domain.name,
                hosted_zone_id=spec.domain.hosted_zone_id,
                cdn_provider=base.edge_provider,
                cdn_certificate_arn=spec.domain.cdn_certificate_arn,
                origin_certificate_arn=spec.domain.origin_certificate_arn,
                host_names=hosts.extra_hosts(spec.domain.name, spec.routed_hosts),
            ),
            regional,
        )
        if spec.domain
        else None
    )
    load_balancer = LoadBalancer(
        "alb",
        LoadBalancerArgs(
            vpc_id=network.vpc_id,
            public_subnet_ids=network.public_subnet_ids,
            certificate_arn=domain.origin_certificate_arn if domain else None,
            idle_timeout_seconds=spec.load_balancer.idle_timeout_seconds,
            deletion_protection=spec.load_balancer.deletion_protection,
            access_log_retention_days=spec.load_balancer.access_log_retention_days,
            destroy_logs_with_stack=not production,
        ),
        regional,
    )
    cdn = Cdn(
        "cdn",
        CdnArgs(
            origin=AppOrigin(
                domain_name=load_balancer.dns_name,
                protocol="https" if domain else "http",
                header_name=load_balancer.origin_header_name,
                secret=load_balancer.origin_secret,
                load_balancer_dns_name=load_balancer.dns_name,
                load_balancer_zone_id=load_balancer.zone_id,
            ),
            edge_provider=base.edge_provider,
            domain=CustomDomain(
                domain.name,
                domain.origin_name,
                domain.hosted_zone_id,
                domain.cdn_certificate_arn,
                domain.host_names,
            )
            if domain
            else None,
            price_class=spec.cdn.price_class,
            web_acl=spec.cdn.web_acl,
            access_logs=spec.cdn.access_logs,
            log_retention_days=spec.monitoring.log_retention_days,
            destroy_buckets_with_stack=not production,
        ),
        regional,
    )
    return Edge(domain, load_balancer, cdn)


def build_data(
    spec: StackSpec,
    base: Foundation,
    database_clients: Mapping[str, pulumi.Input[str]],
    cache_clients: Mapping[str, pulumi.Input[str]],
) -> Data:
    """The data stores, each admitting its clients (security group ids), and the settings the app reads
    them by."""
    regional, network, prefix = base.regional, base.network, spec.name_prefix
    database = Database(
        "database",
        DatabaseArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.data_subnet_ids,
            availability_zones=network.availability_zones,
            client_security_group_ids=database_clients,
            identifier=f"{prefix}-db",
            **spec.database.model_dump(),
            log_retention_days=spec.monitoring.log_retention_days,
            logs_key_arn=base.logs_key_arn,
        ),
        regional,
    )
    cache = Cache(
        "cache",
        CacheArgs(
            vpc_id=network.vpc_id,
            subnet_ids=network.data_subnet_ids,
            client_security_group_ids=cache_clients,
            replication_group_id=f"{prefix}-cache",
            **spec.cache.model_dump(),
            log_retention_days=spec.monitoring.log_retention_days,
            logs_key_arn=base.logs_key_arn,
        ),
        regional,
    )
    settings = AppSettings(
        "settings",
        AppSettingsArgs(
            parameter_path=f"/{NAMESPACE}/{spec.stack}/app",
            database_host=database.primary_address,
            database_replica_hosts=database.replica_addresses,
            database_name=spec.database.database_name,
            database_secret_arn=database.master_secret_arn,
            database_resource_ids=database.resource_ids,
            cache_host=cache.primary_address,
            cache_secret_arn=cache.auth_secret_arn,
            port=spec.app.port,
            environment=spec.app.environment,
            app_secrets_name=app_secrets_name(spec.stack),
        ),
        regional,
    )
    return Data(database, cache, settings)


def build_compute(spec: StackSpec, base: Foundation, edge: Edge, data: Data) -> Compute:
    """One AppGroup per service, named after it; every one runs the deploy's tag of its image."""
    groups = {
        service.name: AppGroup(
            service.name,
            _group_args(
                spec,
                service,
                base,
                _image(spec, service, base),
                data.settings_for(service),
                edge.load_balancer,
            ),
            base.regional,
        )
        for service in spec.all_services
    }
    return Compute(groups)


def _image(spec: StackSpec, service: Service, base: Foundation) -> ImageRef:
    """The stack's repository, or the service's own (`imageRepository`, in the stack's account)."""
    name = service.spec.image_repository
    if not name:
        return ImageRef(base.registry.repository_url, base.registry.repository_arn, spec.image_tag)
    providers = base.regional.providers
    provider = providers.get("aws") if isinstance(providers, Mapping) else None
    found = aws.ecr.get_repository_output(name=name, opts=pulumi.InvokeOutputOptions(provider=provider))
    return ImageRef(found.repository_url, found.arn, spec.image_tag)


def build_observability(
    spec: StackSpec, base: Foundation, edge: Edge, data: Data, compute: Compute
) -> Monitoring:
    web = compute.groups[next(s.name for s in spec.all_services if s.default)]
    assert web.target_group_arn_suffix is not None
    return Monitoring(
        "monitoring",
        MonitoringArgs(
            name_prefix=spec.name_prefix,
            load_balancer_arn_suffix=edge.load_balancer.arn_suffix,
            target_group_arn_suffix=web.target_group_arn_suffix,
            database_instance_ids=data.database.instance_identifiers,
            cache_node_ids=data.cache.member_cluster_ids,
            distribution_id=edge.cdn.distribution_id,
            edge_provider=base.edge_provider,
            web_asg_name=web.asg_name,
            alarm_email=spec.monitoring.alarm_email,
            error_rate_percent=spec.monitoring.error_rate_percent,
            p99_latency_ms=spec.monitoring.p99_latency_ms,
            replica_lag_seconds=spec.monitoring.replica_lag_seconds,
            region=spec.region,
            services=[_service_row(spec, s, compute.groups[s.name]) for s in spec.all_services],
        ),
        base.regional,
    )


def _service_row(spec: StackSpec, service: Service, group: AppGroup) -> ServiceRow:
    queues = service.worker.queues if service.worker else []
    return ServiceRow(
        name=service.name,
        asg_name=group.asg_name,
        target_group_arn_suffix=group.target_group_arn_suffix,
        queue_metrics=[(metrics_namespace(spec), QUEUE_LENGTH_METRIC, QUEUE_DIMENSION, q) for q in queues],
        default=service.default,
        target_messages_per_worker=service.worker.target_messages_per_worker if service.worker else 0,
    )


def stack_outputs(
    spec: StackSpec, base: Foundation, edge: Edge, data: Data, compute: Compute, monitoring: Monitoring
) -> dict[str, Any]:
    """The stack outputs, by their contract names (infra/contract.py)."""
    web, worker = compute.web, compute.worker
    assert web.target_group_arn is not None
    return {
        Output.URL: edge.cdn.url,
        Output.REGION: spec.region,
        Output.IMAGE_TAG: spec.image_tag,
        Output.ALB_DNS_NAME: edge.load_balancer.dns_name,
        Output.ECR_REPOSITORY_URL: base.registry.repository_url,
        Output.ECR_REPOSITORY_NAME: base.registry.repository_name,
        Output.WEB_ASG_NAME: web.asg_name,
        Output.WORKER_ASG_NAME: worker.asg_name,
        Output.WEB_TARGET_GROUP_ARN: web.target_group_arn,
        Output.CLOUDFRONT_DISTRIBUTION_ID: edge.cdn.distribution_id,
        Output.STATIC_BUCKET_NAME: edge.cdn.static_bucket_name,
        Output.DB_PRIMARY_ENDPOINT: data.database.primary_address,
        Output.DB_REPLICA_ENDPOINTS: data.database.replica_addresses,
        Output.DB_INSTANCE_IDS: data.database.instance_identifiers,
        Output.CACHE_REPLICATION_GROUP_ID: data.cache.replication_group_id,
        Output.CACHE_ENDPOINT: data.cache.primary_address,
        Output.ALARM_NAMES: monitoring.alarm_names,
        Output.DASHBOARD_URL: monitoring.dashboard_url,
        # The pipeline starts each group's instance refresh towards its template's latest version.
        Output.LAUNCH_TEMPLATES: {
            name: {"id": group.launch_template.id, "version": group.launch_template.latest_version}
            for name, group in compute.groups.items()
        },
        # How the pipeline's instance refreshes replace instances: the one home of these preferences.
        Output.ROLLOUT: RolloutOutput(
            checkpoint_percentages=ROLLOUT_CHECKPOINTS,
            checkpoint_delay_seconds=ROLLOUT_CHECKPOINT_DELAY_SECONDS,
            alarm_names=tuple(Monitoring.stack_rollout_alarm_names(spec.name_prefix)),
            # A refresh of one service's group is stopped by that service's alarms, not another's.
            roles={
                s.name: RoleRollout(
                    s.spec.min_healthy_percent,
                    s.spec.health_check_grace_period_seconds,
                    tuple(monitoring.service_alarms[s.name]),
                )
                for s in spec.all_services
            },
        ).to_output(),
        Output.APP_COMMANDS: {"migrate": spec.app.migrate_command, "worker": spec.app.worker_command},
        Output.SERVICES: {
            s.name: _service_output(spec, s, compute.groups[s.name]) for s in spec.all_services
        },
    }


def _service_output(spec: StackSpec, service: Service, group: AppGroup) -> dict[str, Any]:
    """One service of the `services` output, as infra/contract.py ServiceOutput parses it."""
    output: dict[str, Any] = {
        "kind": "web" if service.web else "worker",
        "asgName": group.asg_name,
        "launchTemplate": {"id": group.launch_template.id, "version": group.launch_template.latest_version},
    }
    if group.target_group_arn is not None:
        output["targetGroupArn"] = group.target_group_arn
    if service.web:
        output["livenessPath"] = service.web.liveness_path or spec.app.liveness_path
        if not service.default:
            output["pathPatterns"] = list(service.web.path_patterns)
            output["hostNames"] = list(service.web.host_names)
    return output


def _production(spec: StackSpec) -> bool:
    return spec.environment == "prod"


def _http(spec: StackSpec, service: Service, web: WebSpec, load_balancer: LoadBalancer) -> HttpExposure:
    """How a web service is reached: its own target group behind its own rule (the default service's
    rule matches every path and comes last)."""
    return HttpExposure(
        listener_arn=load_balancer.listener_arn,
        load_balancer_security_group_id=load_balancer.security_group_id,
        load_balancer_arn_suffix=load_balancer.arn_suffix,
        origin_header_name=load_balancer.origin_header_name,
        origin_secret=load_balancer.origin_secret,
        readiness_path=web.readiness_path or spec.app.readiness_path,
        deregistration_delay_seconds=(
            spec.load_balancer.deregistration_delay_seconds
            if web.deregistration_delay_seconds is None
            else web.deregistration_delay_seconds
        ),
        slow_start_seconds=spec.load_balancer.slow_start_seconds,
        algorithm=spec.load_balancer.algorithm,
        requests_per_target=web.requests_per_target,
        path_patterns=tuple(web.path_patterns) or (() if web.host_names else ("/*",)),
        host_names=tuple(web.host_names),
        rule_priority=rule_priority(service),
    )


def metrics_namespace(spec: StackSpec) -> str:
    """The stack's CloudWatch namespace: the only one its instances may put metrics in."""
    return f"{NAMESPACE}/{spec.stack}"


def worker_command(spec: StackSpec, worker: WorkerSpec) -> tuple[str, ...]:
    """A worker's arguments: its own command, or app.workerCommand consuming its queues (Celery consumes
    its default queue, `celery`, without --queues: https://docs.celeryq.dev/en/stable/userguide/
    workers.html#queues)."""
    if worker.command:
        return tuple(worker.command)
    if worker.queues == [DEFAULT_QUEUE]:
        return tuple(spec.app.worker_command)
    return (*spec.app.worker_command, "--queues", ",".join(worker.queues))


def _group_args(
    spec: StackSpec,
    service: Service,
    base: Foundation,
    image: ImageRef,
    settings: AppSettingsRef,
    load_balancer: LoadBalancer,
) -> AppGroupArgs:
    """One service's args: a web service takes traffic from the load balancer, a worker runs its command."""
    group, web, worker = service.spec, service.web, service.worker
    network = base.network
    return AppGroupArgs(
        region=spec.region,
        vpc_id=network.vpc_id,
        vpc_cidr=network.cidr,
        subnet_ids=network.app_subnet_ids,
        image=image,
        settings=settings,
        log_group_name=log_group_name(spec.stack, service.name),
        instance_type=group.instance_type,
        min_size=group.min_size,
        desired_capacity=group.desired_capacity,
        max_size=group.max_size,
        cpu_target_percent=group.cpu_target_percent,
        root_volume_gib=group.root_volume_gib,
        command=worker_command(spec, worker) if worker else tuple(group.command or ()),
        container_port=(web.port if web and web.port else spec.app.port),
        http=_http(spec, service, web, load_balancer) if web else None,
        spot=bool(worker and worker.spot),
        warm_pool_size=web.warm_pool_size if web else 0,
        health_check_grace_period_seconds=group.health_check_grace_period_seconds,
        log_retention_days=spec.monitoring.log_retention_days,
        logs_key_arn=base.logs_key_arn,
        max_instance_lifetime_days=MAX_INSTANCE_LIFETIME_DAYS,
        metrics_namespace=metrics_namespace(spec),
        database_egress=group.uses_database,
        cache_egress=group.uses_cache,
        backlog=BacklogScaling(
            namespace=metrics_namespace(spec),
            queues=tuple(worker.queues),
            target_messages_per_worker=worker.target_messages_per_worker,
        )
        if worker
        else None,
        queue_publisher=QueuePublisher(metrics_namespace(spec), worker_queues(spec))
        if service.default
        else None,
    )


def worker_queues(spec: StackSpec) -> tuple[str, ...]:
    """Every queue some worker consumes, once each, in the services' order."""
    return tuple(dict.fromkeys(q for s in spec.all_services if s.worker for q in s.worker.queues))


def spec_from_engine() -> StackSpec:
    """The spec from the config the engine passes to `pulumi up` (structured values arrive as JSON)."""
    stack = pulumi.get_stack()
    config = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    # Every key goes to the spec, which ignores other namespaces' keys and refuses near-misses of its own.
    return parse_config(
        {k: _decode(v) for k, v in config.items()}, stack=stack, source=f"stacks/Pulumi.{stack}.yaml"
    )


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def run() -> None:
    try:
        spec = spec_from_engine()
    except SpecError as err:
        raise pulumi.RunError(str(err)) from None
    for key, value in build_stack(spec).items():
        pulumi.export(key, value)
