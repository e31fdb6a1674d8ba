"""One role of the app (web, worker, ...): its instances, their role, and how they scale and roll out."""

from __future__ import annotations

import base64
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra import iam

SESSION_MANAGER_POLICY = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
GRAVITON = (
    "a1.",
    "c6g",
    "c7g",
    "c8g",
    "m6g",
    "m7g",
    "m8g",
    "r6g",
    "r7g",
    "r8g",
    "t4g",
    "x2g",
    "im4g",
    "is4g",
)


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


@dataclass(frozen=True)
class HttpExposure:
    """How a web-facing group is reached: a target group behind a rule on the load balancer's listener."""

    listener_arn: pulumi.Input[str]
    load_balancer_security_group_id: pulumi.Input[str]
    load_balancer_arn_suffix: pulumi.Input[str]
    origin_header_name: str
    origin_secret: pulumi.Input[str]
    readiness_path: str = "/readyz"
    path_patterns: Sequence[str] = ("/*",)
    rule_priority: int = 100
    deregistration_delay_seconds: int = 30
    slow_start_seconds: int = 30
    requests_per_target: int = 1000
    """Target tracking on ALBRequestCountPerTarget, beside CPU."""


@dataclass(frozen=True)
class AppGroupArgs:
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    subnet_ids: Sequence[pulumi.Input[str]]
    image: ImageRef
    settings: AppSettingsRef
    log_group_name: str
    instance_type: str = "t3.small"
    min_size: int = 1
    desired_capacity: int = 1
    max_size: int = 2
    cpu_target_percent: int = 50
    root_volume_gib: int = 16
    command: Sequence[str] = ()
    """Arguments after the image; empty runs the image's own CMD."""
    container_port: int = 8000
    http: HttpExposure | None = None
    """None for groups that take no traffic (workers)."""
    spot: bool = False
    warm_pool_size: int = 0
    health_check_grace_period_seconds: int = 120
    min_healthy_percent: int = 90
    """Share of capacity kept in service while an instance refresh replaces instances."""
    rollout_alarm_names: Sequence[str] = field(default_factory=tuple)
    """Alarms that stop an instance refresh and roll it back when they fire."""
    checkpoint_percentages: Sequence[int] = (50, 100)
    checkpoint_delay_seconds: int = 120
    stop_timeout_seconds: int = 45
    """SIGTERM to SIGKILL: covers the app's drain (5 s) and graceful timeout (30 s)."""
    log_retention_days: int = 30
    metrics_namespace: str = "scalestack"
    """The only CloudWatch namespace the instances may publish custom metrics to."""


class AppGroup(pulumi.ComponentResource):
    """An auto-scaling group of instances that each run the app's image as one systemd-managed container.

    Instances live in private subnets, have no SSH key and no public IP (Session Manager instead),
    require IMDSv2 with a hop limit of 1 (so the container cannot borrow the instance's credentials),
    and read settings from the stack's SSM parameters and secrets at boot. The launch template
    version is pinned, so an instance refresh can roll back to the previous one.
    """

    asg_name: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    target_group_arn: pulumi.Output[str] | None
    target_group_arn_suffix: pulumi.Output[str] | None

    def __init__(self, name: str, args: AppGroupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:compute:AppGroup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=args.log_group_name, retention_in_days=args.log_retention_days, opts=child
        )
        profile = self._instance_profile(name, args, log_group, child)
        group = self._security_group(name, args, child)
        self.security_group_id = group.id
        target_group = self._target_group(name, args, group, child) if args.http else None
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
        asg = self._auto_scaling_group(name, args, template, target_group, child)
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
            ("postgres", 5432, args.vpc_cidr, "PostgreSQL inside the VPC"),
            ("redis", 6379, args.vpc_cidr, "Redis inside the VPC"),
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
            load_balancing_algorithm_type="least_outstanding_requests",
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
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name=http.origin_header_name, values=[http.origin_secret]
                    )
                ),
                aws.lb.ListenerRuleConditionArgs(
                    path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=list(http.path_patterns))
                ),
            ],
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
        preferences = aws.autoscaling.GroupInstanceRefreshPreferencesArgs(
            min_healthy_percentage=args.min_healthy_percent,
            instance_warmup=str(args.health_check_grace_period_seconds),
            auto_rollback=True,
            skip_matching=True,
            checkpoint_percentages=list(args.checkpoint_percentages),
            checkpoint_delay=str(args.checkpoint_delay_seconds),
            scale_in_protected_instances="Refresh",
            standby_instances="Terminate",
            alarm_specification=aws.autoscaling.GroupInstanceRefreshPreferencesAlarmSpecificationArgs(
                alarms=list(args.rollout_alarm_names)
            )
            if args.rollout_alarm_names
            else None,
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
            default_instance_warmup=args.health_check_grace_period_seconds,
            target_group_arns=[target_group.arn] if target_group else [],
            termination_policies=["OldestLaunchTemplate", "OldestInstance"],
            enabled_metrics=[
                aws.autoscaling.Metric.GROUP_DESIRED_CAPACITY,
                aws.autoscaling.Metric.GROUP_IN_SERVICE_INSTANCES,
                aws.autoscaling.Metric.GROUP_PENDING_INSTANCES,
                aws.autoscaling.Metric.GROUP_TOTAL_INSTANCES,
            ],
            instance_refresh=aws.autoscaling.GroupInstanceRefreshArgs(
                strategy="Rolling", preferences=preferences
            ),
            warm_pool=aws.autoscaling.GroupWarmPoolArgs(
                pool_state="Stopped",
                min_size=args.warm_pool_size,
                instance_reuse_policy=aws.autoscaling.GroupWarmPoolInstanceReusePolicyArgs(
                    reuse_on_scale_in=True
                ),
            )
            if args.warm_pool_size
            else None,
            tags=[aws.autoscaling.GroupTagArgs(key="Name", value=name, propagate_at_launch=True)],
            # Target tracking owns the running count; a later `pulumi up` must not reset it.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["desiredCapacity"]),
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


def _current_ami(instance_type: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """Amazon Linux 2023's current AMI, read from its public SSM parameter when the stack is updated.

    The template holds the AMI ID itself rather than `resolve:ssm:`, because AWS cannot roll an instance
    refresh back to a template that names a parameter; a new AMI arrives as a template version that the
    next update rolls out like any other change.
    """
    arch = "arm64" if instance_type.startswith(GRAVITON) else "x86_64"
    parameter = aws.ssm.get_parameter_output(
        name=f"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-{arch}",
        opts=pulumi.InvokeOutputOptions(parent=parent),
    )
    return parameter.value


def _instance_statements(
    repository: str, parameters: str, secrets: list[str], keys: list[str], logs: str, metrics_namespace: str
) -> list[iam.Statement]:
    """What an instance may do: pull this repository, read this stack's settings, write logs and metrics."""
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
    return f"""#!/bin/bash
set -euo pipefail
export AWS_DEFAULT_REGION={args.region}
dnf install -y -q docker
systemctl enable --now docker
install -d -m 0700 /etc/scalestack
cat > /usr/local/bin/scalestack-render-env <<'RENDER'
#!/bin/bash
set -euo pipefail
{render}
RENDER
chmod 0700 /usr/local/bin/scalestack-render-env
cat > /etc/systemd/system/scalestack-app.service <<'UNIT'
[Unit]
Description=scalestack app container
After=docker.service
Requires=docker.service

[Service]
Environment=AWS_DEFAULT_REGION={args.region}
Restart=always
RestartSec=5
TimeoutStopSec={args.stop_timeout_seconds + 5}
ExecStartPre=/usr/local/bin/scalestack-render-env
ExecStartPre=/bin/sh -c 'aws ecr get-login-password | docker login --username AWS --password-stdin {registry}'
ExecStartPre=/usr/bin/docker pull {image}
ExecStartPre=-/usr/bin/docker rm -f app
ExecStart=/usr/bin/docker run --name app --init --env-file /etc/scalestack/app.env {ports} \\
  --log-driver awslogs --log-opt awslogs-region={args.region} --log-opt awslogs-group={log_group} \\
  --stop-timeout {args.stop_timeout_seconds} {image} {command}
ExecStop=/usr/bin/docker stop -t {args.stop_timeout_seconds} app

[Install]
WantedBy=multi-user.target
UNIT
systemctl daemon-reload
systemctl enable --now scalestack-app.service
"""
