"""One role of the app (web, worker, ...): its instances, their role, and how they scale and roll out."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.aws_facts import instance_architecture
from infra.components import boot
from infra.components.app_settings import TOKEN_REFRESH_MINUTES
from infra.contract import (
    INSTANCE_ENV_FILE,
    QUEUE_DIMENSION,
    QUEUE_LENGTH_METRIC,
    RENDER_COMMAND,
    TOKEN_DIR_IN_CONTAINER,
    TOKEN_DIR_ON_HOST,
)

# Session Manager and the SSM agent, without AmazonSSMManagedInstanceCore's ssm:GetParameter(s) on "*"
# (https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AmazonSSMManagedEC2InstanceDefaultPolicy.html);
# the app's own parameters come from the stack-scoped statement in _instance_statements.
SESSION_MANAGER_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedEC2InstanceDefaultPolicy"
# Where the group names its launch template version, by whether it has a mixed instances policy (spot).
PINNED_VERSION = {
    False: "launchTemplate.version",
    True: "mixedInstancesPolicy.launchTemplate.launchTemplateSpecification.version",
}
LAUNCH_HOOK_NAME = "scalestack-boot"
LAUNCH_HOOK_HEARTBEAT_SECONDS = 900
"""How long a launching instance may take to boot (packages, image pull, app ready) before it is abandoned."""
LIFECYCLE_TAG = "scalestack:lifecycle-group"
"""Tags the group; the instance role may complete lifecycle actions only on the group carrying its value."""


@dataclass(frozen=True)
class ImageRef:
    repository_url: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    tag: str


@dataclass(frozen=True)
class AppSettingsRef:
    """Where an instance reads the app's settings at boot: the stack's parameters, secrets and their keys."""

    parameter_path: str
    """SSM path (e.g. /scalestack/prod/app); each parameter becomes an environment variable."""
    parameter_path_arn: pulumi.Input[str]
    secret_arns: Sequence[pulumi.Input[str]]
    kms_key_arns: Sequence[pulumi.Input[str]]
    render_script: pulumi.Input[str]
    """Shell that writes the container's env file from the parameters and secrets."""
    database_user_arns: Sequence[pulumi.Input[str]] = ()
    """rds-db:connect resources: the app's database user on the primary and on each replica."""


@dataclass(frozen=True)
class HttpExposure:
    """How a web-facing group is reached: a target group behind a rule on the load balancer's listener."""

    listener_arn: pulumi.Input[str]
    load_balancer_security_group_id: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    origin_header_name: str
    origin_secret: pulumi.Input[str]
    readiness_path: str
    deregistration_delay_seconds: int
    slow_start_seconds: int
    algorithm: str
    """round_robin, least_outstanding_requests or weighted_random; slow start needs round_robin."""
    requests_per_target: int
    """Target tracking on ALBRequestCountPerTarget, beside CPU."""
    path_patterns: Sequence[str]
    """The rule's path condition; empty: no path condition (a host-only rule)."""
    host_names: Sequence[str]
    """The rule's host condition; empty: none."""
    rule_priority: int


@dataclass(frozen=True)
class BacklogScaling:
    """A worker group scaled on its queues' backlog per in-service instance (the queue-length metric)."""

    namespace: str
    queues: Sequence[str]
    target_messages_per_worker: int


@dataclass(frozen=True)
class QueuePublisher:
    """The queue-length publisher a group's instances run every minute (a group that never sits at zero)."""

    namespace: str
    queues: Sequence[str]


@dataclass(frozen=True)
class AppGroupArgs:
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    image: ImageRef
    settings: AppSettingsRef
    log_group_name: str
    instance_type: str
    min_size: int
    desired_capacity: int
    max_size: int
    cpu_target_percent: int
    root_volume_gib: int
    command: Sequence[str]
    """Arguments after the image; empty runs the image's own CMD."""
    container_port: int
    http: HttpExposure | None
    """None for groups that take no traffic (workers)."""
    spot: bool
    warm_pool_size: int
    health_check_grace_period_seconds: int
    log_retention_days: int
    logs_key_arn: pulumi.Input[str]
    """The customer-managed key the log groups are encrypted with (infra.kms.logs_key)."""
    max_instance_lifetime_days: int
    """Replace instances older than this (0: never); keeps rotated credentials fresh in every container."""
    metrics_namespace: str
    """The only CloudWatch namespace the instances may publish custom metrics to."""
    database_egress: bool
    """Whether the instances may open connections to PostgreSQL (the database admits them)."""
    cache_egress: bool
    """Whether the instances may open connections to Redis (the cache admits them)."""
    backlog: BacklogScaling | None
    """Workers: scale on queue backlog per instance; None for web groups."""
    queue_publisher: QueuePublisher | None
    """The default web service's instances publish every worker queue's length; None elsewhere."""
    stop_timeout_seconds: int = 45
    """SIGTERM to SIGKILL: covers the app's drain (5 s) and graceful timeout (30 s)."""


class AppGroup(pulumi.ComponentResource):
    """An auto-scaling group of instances that each run the app's image as one systemd-managed container.

    Instances live in private subnets, have no SSH key and no public IP (Session Manager instead),
    require IMDSv2 with a hop limit of 1 (so the container cannot borrow the instance's credentials),
    and read settings from the stack's SSM parameters and secrets at boot. The group pins a numbered
    launch template version that `pulumi up` never moves: only an instance refresh the deploy pipeline
    starts does (DESIGN.md, "Who moves the launch template version").
    """

    launch_template: aws.ec2.LaunchTemplate
    group: aws.autoscaling.Group
    asg_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    security_group: aws.ec2.SecurityGroup
    target_group: aws.lb.TargetGroup | None
    target_group_arn: pulumi.Output[str] | None
    target_group_arn_suffix: pulumi.Output[str] | None

    def __init__(self, name: str, args: AppGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:compute:AppGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=args.log_group_name,
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        profile = self._instance_profile(name, args, log_group, child)
        if args.warm_pool_size:
            _lifecycle_permission(name, profile.role.apply(lambda role: role or ""), child)
        group = self._security_group(name, args, child)
        self.security_group, self.security_group_id = group, group.id
        target_group = self._target_group(name, args, group, child) if args.http else None
        self.target_group = target_group
        self.target_group_arn = target_group.arn if target_group else None
        self.target_group_arn_suffix = target_group.arn_suffix if target_group else None

        template = aws.ec2.LaunchTemplate(
            f"{name}-lt",
            image_id=_current_ami(args.instance_type, self),
            instance_type=None if args.spot else args.instance_type,
            iam_instance_profile=aws.ec2.LaunchTemplateIamInstanceProfileArgs(arn=profile.arn),
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1
            ),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_size=args.root_volume_gib,
                        volume_type="gp3",
                        encrypted="true",
                        delete_on_termination="true",
                    ),
                )
            ],
            network_interfaces=[
                aws.ec2.LaunchTemplateNetworkInterfaceArgs(
                    associate_public_ip_address="false",
                    security_groups=[group.id],
                    delete_on_termination="true",
                )
            ],
            monitoring=aws.ec2.LaunchTemplateMonitoringArgs(enabled=True),
            user_data=_user_data(args, log_group.name),
            tag_specifications=[
                aws.ec2.LaunchTemplateTagSpecificationArgs(
                    resource_type=kind, tags={"Name": name, "scalestack:role": name}
                )
                for kind in ("instance", "volume")
            ],
            update_default_version=True,
            opts=child,
        )
        self.launch_template = template
        asg = self._auto_scaling_group(name, args, template, target_group, child)
        self.group = asg
        self.asg_name = asg.name
        self._scaling_policies(name, args, asg, target_group, child)
        self.register_outputs({"asgName": self.asg_name, "securityGroupId": self.security_group_id})

    def _instance_profile(
        self, name: str, args: AppGroupArgs, log_group: aws.cloudwatch.LogGroup, child: pulumi.ResourceOptions
    ) -> aws.iam.InstanceProfile:
        role = aws.iam.Role(
            f"{name}-role", assume_role_policy=iam.assume_role("ec2.amazonaws.com"), opts=child
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-ssm-core", role=role.name, policy_arn=SESSION_MANAGER_POLICY, opts=child
        )
        statements = pulumi.Output.all(
            repository=args.image.repository_arn,
            parameters=args.settings.parameter_path_arn,
            secrets=list(args.settings.secret_arns),
            keys=list(args.settings.kms_key_arns),
            logs=log_group.arn,
            database_users=list(args.settings.database_user_arns),
        ).apply(lambda v: _instance_statements(**v, metrics_namespace=args.metrics_namespace))
        aws.iam.RolePolicy(f"{name}-access", role=role.id, policy=iam.rendered(statements), opts=child)
        return aws.iam.InstanceProfile(f"{name}-profile", role=role.name, opts=child)

    def _security_group(
        self, name: str, args: AppGroupArgs, child: pulumi.ResourceOptions
    ) -> aws.ec2.SecurityGroup:
        group = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description=f"{name} instances", opts=child
        )
        if args.http:
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-from-alb",
                security_group_id=group.id,
                referenced_security_group_id=args.http.load_balancer_security_group_id,
                ip_protocol="tcp",
                from_port=args.container_port,
                to_port=args.container_port,
                description="App port from the load balancer only",
                opts=child,
            )
            # The provider revokes AWS's default allow-all egress of every group it creates
            # (terraform-provider-aws internal/service/ec2/vpc_security_group.go, resourceSecurityGroupCreate;
            # https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/security_group,
            # "NOTE on Egress rules"), so without this the load balancer can send nothing to the instances.
            # One port covers requests and health checks: the target group's health check uses its
            # default port, "traffic-port" (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html).
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-alb-to-app",
                security_group_id=args.http.load_balancer_security_group_id,
                referenced_security_group_id=group.id,
                ip_protocol="tcp",
                from_port=args.container_port,
                to_port=args.container_port,
                description=f"Requests and health checks to the {name} instances",
                opts=child,
            )
        egress = [
            ("https", 443, "0.0.0.0/0", "HTTPS: AWS APIs, image pulls, package mirrors"),
            *(
                [("postgres", 5432, args.vpc_cidr, "PostgreSQL inside the VPC")]
                if args.database_egress
                else []
            ),
            *([("redis", 6379, args.vpc_cidr, "Redis inside the VPC")] if args.cache_egress else []),
        ]
        for label, port, cidr, description in egress:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-to-{label}",
                security_group_id=group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                cidr_ipv4=cidr,
                description=description,
                opts=child,
            )
        return group

    def _target_group(
        self, name: str, args: AppGroupArgs, group: aws.ec2.SecurityGroup, child: pulumi.ResourceOptions
    ) -> aws.lb.TargetGroup:
        http = args.http
        assert http is not None
        target_group = aws.lb.TargetGroup(
            f"{name}-tg",
            vpc_id=args.vpc_id,
            port=args.container_port,
            protocol="HTTP",
            target_type="instance",
            deregistration_delay=http.deregistration_delay_seconds,
            slow_start=http.slow_start_seconds,
            load_balancing_algorithm_type=http.algorithm,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                path=http.readiness_path,
                protocol="HTTP",
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            opts=child,
        )
        aws.lb.ListenerRule(
            f"{name}-rule",
            listener_arn=http.listener_arn,
            priority=http.rule_priority,
            conditions=_rule_conditions(http),
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_group.arn)],
            opts=child,
        )
        return target_group

    def _auto_scaling_group(
        self,
        name: str,
        args: AppGroupArgs,
        template: aws.ec2.LaunchTemplate,
        target_group: aws.lb.TargetGroup | None,
        child: pulumi.ResourceOptions,
    ) -> aws.autoscaling.Group:
        """The group starts on the template's first version; after that only the pipeline's instance refresh
        moves it (`ignore_changes` below), so a bare `pulumi up` makes a new version and replaces nothing."""
        # A numbered version, never $Latest/$Default: AWS rolls a refresh back only to a numbered version
        # (https://docs.aws.amazon.com/autoscaling/ec2/userguide/instance-refresh-rollback.html).
        version = template.latest_version.apply(str)
        template_ref = aws.autoscaling.GroupLaunchTemplateArgs(id=template.id, version=version)
        mixed = (
            aws.autoscaling.GroupMixedInstancesPolicyArgs(
                instances_distribution=aws.autoscaling.GroupMixedInstancesPolicyInstancesDistributionArgs(
                    on_demand_base_capacity=0,
                    on_demand_percentage_above_base_capacity=0,
                    spot_allocation_strategy="price-capacity-optimized",
                ),
                launch_template=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateArgs(
                    launch_template_specification=aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateLaunchTemplateSpecificationArgs(
                        launch_template_id=template.id, version=version
                    ),
                    overrides=[
                        aws.autoscaling.GroupMixedInstancesPolicyLaunchTemplateOverrideArgs(
                            instance_type=args.instance_type
                        )
                    ],
                ),
            )
            if args.spot
            else None
        )
        return aws.autoscaling.Group(
            f"{name}-asg",
            vpc_zone_identifiers=list(args.subnet_ids),
            launch_template=None if args.spot else template_ref,
            mixed_instances_policy=mixed,
            capacity_rebalance=args.spot,
            min_size=args.min_size,
            max_size=args.max_size,
            desired_capacity=args.desired_capacity,
            health_check_type="ELB" if target_group else "EC2",
            health_check_grace_period=args.health_check_grace_period_seconds,
            # 0 or 86400-31536000 s (https://docs.aws.amazon.com/autoscaling/ec2/userguide/asg-max-instance-lifetime.html).
            max_instance_lifetime=args.max_instance_lifetime_days * 86400 or None,
            default_instance_warmup=args.health_check_grace_period_seconds,
            target_group_arns=[target_group.arn] if target_group else [],
            termination_policies=["OldestLaunchTemplate", "OldestInstance"],
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
                aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
            ],
            # No provider-managed instance_refresh: the provider saves the new version on the group before it
            # starts the refresh, so the refresh's rollback returns to the new version, not the previous one
            # (https://github.com/hashicorp/terraform-provider-aws/issues/34189). The pipeline starts it.
            warm_pool=_warm_pool(args),
            initial_lifecycle_hooks=_launch_hooks(args),
            tags=[
                aws.autoscaling.GroupTagArgs(key="Name", value=name, propagate_at_launch=True),
                *_lifecycle_tags(name, args),
            ],
            # Target tracking owns the running count; a later `pulumi up` must not reset it. The pipeline's
            # instance refresh owns the version: AWS saves it on the group when the refresh succeeds
            # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_StartInstanceRefresh.html).
            # Ignored inputs are still used when the group is created
            # (https://www.pulumi.com/docs/iac/concepts/options/ignorechanges/).
            opts=pulumi.ResourceOptions(
                parent=self, ignore_changes=["desiredCapacity", PINNED_VERSION[args.spot]]
            ),
        )

    def _scaling_policies(
        self,
        name: str,
        args: AppGroupArgs,
        asg: aws.autoscaling.Group,
        target_group: aws.lb.TargetGroup | None,
        child: pulumi.ResourceOptions,
    ) -> None:
        _target_tracking(
            f"{name}-cpu",
            asg,
            aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                predefined_metric_type="ASGAverageCPUUtilization"
            ),
            args.cpu_target_percent,
            child,
        )
        if args.backlog:
            _backlog_policies(name, args.backlog, asg, args.min_size, child)
        if args.http and target_group:
            label = pulumi.Output.concat(args.http.load_balancer_arn_suffix, "/", target_group.arn_suffix)
            _target_tracking(
                f"{name}-requests",
                asg,
                aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs(
                    predefined_metric_type="ALBRequestCountPerTarget", resource_label=label
                ),
                args.http.requests_per_target,
                child,
            )


@dataclass(frozen=True)
class _MetricQuery:
    """One metric a backlog expression reads, by its id in the expression."""

    id: str
    namespace: str
    metric_name: str
    dimensions: dict[str, pulumi.Input[str]]
    stat: str


def _queue_queries(backlog: BacklogScaling, asg: aws.autoscaling.Group) -> tuple[list[_MetricQuery], str]:
    """Each queue's length and the group's in-service count, and the expression that sums the queues.
    Maximum: every publisher puts the same length, so duplicates from several instances neither add up
    nor dilute."""
    queues = [
        _MetricQuery(f"q{i}", backlog.namespace, QUEUE_LENGTH_METRIC, {QUEUE_DIMENSION: queue}, "Maximum")
        for i, queue in enumerate(backlog.queues)
    ]
    # GroupInServiceInstances exists only while the group's metrics collection is on (enabled_metrics
    # above): https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html
    instances = _MetricQuery(
        "instances",
        "AWS/AutoScaling",
        "GroupInServiceInstances",
        {"AutoScalingGroupName": asg.name},
        "Average",
    )
    return [*queues, instances], " + ".join(q.id for q in queues)


def _backlog_policies(
    name: str,
    backlog: BacklogScaling,
    asg: aws.autoscaling.Group,
    min_size: int,
    child: pulumi.ResourceOptions,
) -> None:
    """Target tracking on backlog per instance = queue length / in-service instances (metric math), as
    AWS's SQS example does (https://docs.aws.amazon.com/autoscaling/ec2/userguide/
    ec2-auto-scaling-target-tracking-metric-math.html); a group that may sit at zero also gets a wake
    policy, since a ratio over zero instances has no value to track (DESIGN.md, "Workers scale on
    their backlog")."""
    queries, total = _queue_queries(backlog, asg)
    metrics = [
        aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
            id=query.id,
            metric_stat=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatArgs(
                metric=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricArgs(
                    namespace=query.namespace,
                    metric_name=query.metric_name,
                    dimensions=[
                        aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricMetricStatMetricDimensionArgs(
                            name=key, value=value
                        )
                        for key, value in query.dimensions.items()
                    ],
                ),
                stat=query.stat,
            ),
            return_data=False,
        )
        for query in queries
    ]
    metrics.append(
        aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationMetricArgs(
            id="backlog", expression=f"({total}) / instances", label="Backlog per instance", return_data=True
        )
    )
    aws.autoscaling.Policy(
        f"{name}-backlog",
        autoscaling_group_name=asg.name,
        policy_type="TargetTrackingScaling",
        target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
            customized_metric_specification=aws.autoscaling.PolicyTargetTrackingConfigurationCustomizedMetricSpecificationArgs(
                metrics=metrics
            ),
            target_value=backlog.target_messages_per_worker,
        ),
        opts=child,
    )
    if min_size == 0:
        _wake_policy(name, queries, total, asg, child)


def _wake_policy(
    name: str,
    queries: list[_MetricQuery],
    total: str,
    asg: aws.autoscaling.Group,
    child: pulumi.ResourceOptions,
) -> None:
    """One instance for a group at zero as soon as a message waits: an alarm on the queued messages while
    nothing is in service (FILL: a group at zero may report no data points; metric math functions:
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html) starts a step
    policy that adds one; from one instance on, the backlog policy has a ratio to track."""
    wake = aws.autoscaling.Policy(
        f"{name}-wake",
        autoscaling_group_name=asg.name,
        policy_type="StepScaling",
        adjustment_type="ChangeInCapacity",
        step_adjustments=[
            aws.autoscaling.PolicyStepAdjustmentArgs(scaling_adjustment=1, metric_interval_lower_bound="0")
        ],
        opts=child,
    )
    aws.cloudwatch.MetricAlarm(
        f"{name}-wake",
        alarm_description=f"Messages wait for {name} while none of its instances is in service",
        comparison_operator="GreaterThanOrEqualToThreshold",
        threshold=1,
        evaluation_periods=1,
        treat_missing_data="notBreaching",
        metric_queries=[
            *(
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id=query.id,
                    metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                        namespace=query.namespace,
                        metric_name=query.metric_name,
                        dimensions=query.dimensions,
                        stat=query.stat,
                        period=60,
                    ),
                    return_data=False,
                )
                for query in queries
            ),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="waiting",
                expression=f"IF(FILL(instances, 0) < 1, {total}, 0)",
                label="Messages waiting with no instance in service",
                return_data=True,
            ),
        ],
        alarm_actions=[wake.arn],
        opts=child,
    )


def _rule_conditions(http: HttpExposure) -> list[aws.lb.ListenerRuleConditionArgs]:
    """The origin-header check in every rule (only CloudFront knows the secret), then the service's routes:
    conditions of one rule must all match, values of one condition any
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/rule-condition-types.html)."""
    conditions = [
        aws.lb.ListenerRuleConditionArgs(
            http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                http_header_name=http.origin_header_name, values=[http.origin_secret]
            )
        )
    ]
    if http.path_patterns:
        conditions.append(
            aws.lb.ListenerRuleConditionArgs(
                path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=list(http.path_patterns))
            )
        )
    if http.host_names:
        conditions.append(
            aws.lb.ListenerRuleConditionArgs(
                host_header=aws.lb.ListenerRuleConditionHostHeaderArgs(values=list(http.host_names))
            )
        )
    return conditions


def _target_tracking(
    name: str,
    asg: aws.autoscaling.Group,
    metric: aws.autoscaling.PolicyTargetTrackingConfigurationPredefinedMetricSpecificationArgs,
    target: float,
    child: pulumi.ResourceOptions,
) -> None:
    aws.autoscaling.Policy(
        name,
        autoscaling_group_name=asg.name,
        policy_type="TargetTrackingScaling",
        target_tracking_configuration=aws.autoscaling.PolicyTargetTrackingConfigurationArgs(
            predefined_metric_specification=metric, target_value=target
        ),
        opts=child,
    )


def _warm_pool(args: AppGroupArgs) -> aws.autoscaling.GroupWarmPoolArgs | None:
    """A pool of exactly `warm_pool_size` stopped, booted instances; None without one.

    AWS sizes the pool as maxGroupPreparedCapacity - desired capacity, or max - desired without it (prod:
    12 - 3 = 9), and never below its minSize (https://docs.aws.amazon.com/autoscaling/ec2/userguide/
    ec2-auto-scaling-warm-pools.html, "Warm pool size"). Prepared capacity = the group's minimum plus
    the pool gives the pool's size at the minimum; above it the pool's minSize holds it at the same size.
    """
    if not args.warm_pool_size:
        return None
    return aws.autoscaling.GroupWarmPoolArgs(
        pool_state="Stopped",
        min_size=args.warm_pool_size,
        max_group_prepared_capacity=args.min_size + args.warm_pool_size,
        instance_reuse_policy=aws.autoscaling.GroupWarmPoolInstanceReusePolicyArgs(reuse_on_scale_in=True),
    )


def _launch_hooks(args: AppGroupArgs) -> list[aws.autoscaling.GroupInitialLifecycleHookArgs]:
    """With a warm pool, a launch hook holds each instance until its boot script says the app is ready.

    Without it, AWS may stop an instance mid-boot and later put it in service unready
    (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html). ABANDON
    when the heartbeat runs out: an instance that never became ready is replaced, never used.
    """
    if not args.warm_pool_size:
        return []
    return [
        aws.autoscaling.GroupInitialLifecycleHookArgs(
            name=LAUNCH_HOOK_NAME,
            lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING",
            heartbeat_timeout=LAUNCH_HOOK_HEARTBEAT_SECONDS,
            default_result="ABANDON",
        )
    ]


def _lifecycle_group(name: str) -> str:
    """Unique per project, stack and role, so one stack's instances can't release another stack's."""
    return f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}"


def _lifecycle_tags(name: str, args: AppGroupArgs) -> list[aws.autoscaling.GroupTagArgs]:
    if not args.warm_pool_size:
        return []
    return [
        aws.autoscaling.GroupTagArgs(
            key=LIFECYCLE_TAG, value=_lifecycle_group(name), propagate_at_launch=False
        )
    ]


def _lifecycle_permission(name: str, role: pulumi.Input[str], child: pulumi.ResourceOptions) -> None:
    """The instance completes its own launch hook on its own group, and finds that group's name.

    The group's ARN exists only after the group (whose instances need this first), so the statement is
    scoped by the group's tag: CompleteLifecycleAction supports the autoScalingGroup resource with the
    autoscaling:ResourceTag/${TagKey} condition, while DescribeAutoScalingInstances supports no resource
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonec2autoscaling.html).
    """
    statements = [
        iam.allow(
            ["autoscaling:CompleteLifecycleAction"],
            ["*"],
            Condition={"StringEquals": {f"autoscaling:ResourceTag/{LIFECYCLE_TAG}": _lifecycle_group(name)}},
        ),
        iam.allow(["autoscaling:DescribeAutoScalingInstances"], ["*"]),
    ]
    aws.iam.RolePolicy(f"{name}-lifecycle", role=role, policy=iam.document(statements), opts=child)


def _current_ami(instance_type: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Amazon Linux 2023's current AMI, read from its public SSM parameter when the stack is updated.

    The template holds the AMI ID itself rather than `resolve:ssm:`, because AWS cannot roll an instance
    refresh back to a template that names a parameter; a new AMI arrives as a template version that the
    next update rolls out like any other change.
    """
    arch = instance_architecture(instance_type)
    parameter = aws.ssm.get_parameter_output(
        name=f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}",
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return parameter.value


def _instance_statements(
    repository: str,
    parameters: str,
    secrets: list[str],
    keys: list[str],
    logs: str,
    metrics_namespace: str,
    database_users: list[str] | None = None,
) -> list[iam.Statement]:
    """What an instance may do: pull this repository, read this stack's settings, write logs and metrics,
    and sign database login tokens for the app's own database user."""
    statements = [
        # GetAuthorizationToken has no resource-level permissions; it grants nothing by itself.
        iam.allow(["ecr:GetAuthorizationToken"], ["*"]),
        iam.allow(
            ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            [repository],
        ),
        iam.allow(
            ["ssm:GetParametersByPath", "ssm:GetParameters", "ssm:GetParameter"],
            [parameters, f"{parameters}/*"],
        ),
        iam.allow(
            ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], [logs, f"{logs}:*"]
        ),
        # PutMetricData has no resource-level permissions; the condition pins the namespace instead.
        iam.allow(
            ["cloudwatch:PutMetricData"],
            ["*"],
            Condition={"StringEquals": {"cloudwatch:namespace": metrics_namespace}},
        ),
    ]
    if secrets:
        statements.append(iam.allow(["secretsmanager:GetSecretValue"], secrets))
    if keys:
        statements.append(iam.allow(["kms:Decrypt"], keys))
    if database_users:
        # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/UsingWithRDS.IAMDBAuth.IAMPolicy.html
        statements.append(iam.allow(["rds-db:connect"], database_users))
    return statements


def _user_data(args: AppGroupArgs, log_group: pulumi.Input[str]) -> pulumi.Output[str]:
    return pulumi.Output.all(
        repository_url=args.image.repository_url, render=args.settings.render_script, log_group=log_group
    ).apply(lambda v: base64.b64encode(_boot_script(args, **v).encode()).decode())


def _boot_script(args: AppGroupArgs, repository_url: str, render: str, log_group: str) -> str:
    """Install Docker and run the image as a systemd service that renders its settings before each start."""
    registry = repository_url.split("/", 1)[0]
    image = f"{repository_url}:{args.image.tag}"
    ports = f"-p {args.container_port}:{args.container_port}" if args.http else ""
    command = " ".join(shlex.quote(part) for part in args.command)
    common = {"region": args.region, "render_command": RENDER_COMMAND}
    app_unit = boot.render(
        "scalestack-app.service.tmpl",
        **common,
        stop_timeout_unit=args.stop_timeout_seconds + 5,
        stop_timeout=args.stop_timeout_seconds,
        registry=registry,
        image=image,
        env_file=INSTANCE_ENV_FILE,
        ports=ports,
        token_dir_on_host=TOKEN_DIR_ON_HOST,
        token_dir_in_container=TOKEN_DIR_IN_CONTAINER,
        log_group=log_group,
        command=command,
    )
    script = boot.render(
        "boot.sh.tmpl",
        **common,
        render=render,
        app_unit=app_unit,
        tokens_unit=boot.render("scalestack-db-tokens.service.tmpl", **common),
        tokens_timer=boot.render("scalestack-db-tokens.timer.tmpl", refresh_minutes=TOKEN_REFRESH_MINUTES),
    )
    return script + _queue_publisher(args) + _launch_hook_completion(args)


def _queue_publisher(args: AppGroupArgs) -> str:
    """Shell that installs the queue-length publisher and its one-minute timer, for a group that has one."""
    publisher = args.queue_publisher
    if not publisher:
        return ""
    script = boot.render(
        "queue_metrics.py",
        namespace=publisher.namespace,
        metric_name=QUEUE_LENGTH_METRIC,
        dimension=QUEUE_DIMENSION,
        queues=",".join(publisher.queues),
        env_file=INSTANCE_ENV_FILE,
    )
    return boot.render(
        "queue-metrics.sh.tmpl",
        publisher=script,
        service_unit=boot.render("scalestack-queue-metrics.service.tmpl", region=args.region),
        timer_unit=boot.render("scalestack-queue-metrics.timer.tmpl"),
    )


def _launch_hook_completion(args: AppGroupArgs) -> str:
    """Shell that tells Auto Scaling the instance is ready, on every boot (a warm instance boots twice).

    User data runs on the first boot only, but an instance leaving a stopped warm pool passes the launch
    hook again (https://docs.aws.amazon.com/autoscaling/ec2/userguide/warm-pool-instance-lifecycle.html),
    so a systemd unit does it on each boot once the app is up: the readiness path answers on localhost
    for a web group, the container runs for a worker. It completes only a hook that is waiting.
    """
    if not args.warm_pool_size:
        return ""
    if args.http:
        ready = f"curl -fsS -o /dev/null http://localhost:{args.container_port}{args.http.readiness_path}"
    else:
        ready = "[ \"$(docker inspect -f '{{.State.Running}}' app 2>/dev/null)\" = true ]"
    complete_launch = boot.render(
        "scalestack-complete-launch.sh.tmpl", ready=ready, hook_name=LAUNCH_HOOK_NAME
    )
    hook_unit = boot.render(
        "scalestack-launch-hook.service.tmpl",
        region=args.region,
        heartbeat_seconds=LAUNCH_HOOK_HEARTBEAT_SECONDS,
    )
    return boot.render("launch-hook.sh.tmpl", complete_launch=complete_launch, hook_unit=hook_unit)
