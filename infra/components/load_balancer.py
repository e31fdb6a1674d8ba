"""The application load balancer: reachable only from CloudFront, and only with CloudFront's secret header."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.components.bucket import SecureBucket, SecureBucketArgs, StatementsFor

CLOUDFRONT_ORIGIN_PREFIX_LIST = "com.amazonaws.global.cloudfront.origin-facing"
ORIGIN_HEADER = "X-Origin-Verify"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


@dataclass(frozen=True)
class LoadBalancerArgs:
    vpc_id: pulumi.Input[str]
    public_subnet_ids: Sequence[pulumi.Input[str]]
    certificate_arn: pulumi.Input[str] | None
    """ACM certificate for the origin name; with it CloudFront reaches the ALB over HTTPS."""
    idle_timeout_seconds: int
    """Must stay below the app's keep-alive, or the ALB reuses connections the app has closed (502s)."""
    deletion_protection: bool
    access_log_retention_days: int
    destroy_logs_with_stack: bool
    """Let `pulumi destroy` remove the access-log bucket with its logs (non-production stacks)."""


class LoadBalancer(pulumi.ComponentResource):
    """An internet-facing ALB whose security group admits only CloudFront's origin-facing addresses.

    The listener answers 403 unless a request carries the origin header CloudFront adds (a generated
    secret), so the ALB's own DNS name is useless to anyone else. Services attach listener rules to
    `listener_arn` (see `AppGroup`), each with its own target group.
    """

    alb: aws.lb.LoadBalancer
    listener: aws.lb.Listener
    """The origin listener CloudFront connects to (HTTPS with a domain, else HTTP); rules attach here."""
    https_listener: aws.lb.Listener | None
    """The same listener when it is HTTPS; None without a domain."""
    security_group: aws.ec2.SecurityGroup
    arn_suffix: pulumi.Output[str]
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    listener_arn: pulumi.Output[str]
    security_group_id: pulumi.Output[str]
    origin_protocol: str
    origin_port: int
    origin_header_name: str
    origin_secret: pulumi.Output[str]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:edge:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        https = args.certificate_arn is not None
        self.origin_protocol, self.origin_port = ("https", 443) if https else ("http", 80)
        self.origin_header_name = ORIGIN_HEADER
        secret = random.RandomPassword(f"{name}-origin-secret", length=48, special=False, opts=child)
        self.origin_secret = pulumi.Output.secret(secret.result)

        group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            description="CloudFront origin-facing addresses only",
            opts=child,
        )
        self.security_group, self.security_group_id = group, group.id
        cloudfront = aws.ec2.get_managed_prefix_list_output(
            name=CLOUDFRONT_ORIGIN_PREFIX_LIST, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        # One rule only: the prefix list weighs ~55 entries against the 60-rule quota of a group.
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-cloudfront",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=self.origin_port,
            to_port=self.origin_port,
            prefix_list_id=cloudfront.id,
            description="CloudFront origin-facing",
            opts=child,
        )

        logs = SecureBucket(
            f"{name}-access-logs",
            SecureBucketArgs(
                expire_after_days=args.access_log_retention_days,
                versioning=False,
                force_destroy=args.destroy_logs_with_stack,
            ),
            policy_statements=_log_delivery_statements(self),
            opts=child,
        )
        balancer = aws.lb.LoadBalancer(
            name,
            load_balancer_type="application",
            internal=False,
            subnets=list(args.public_subnet_ids),
            security_groups=[group.id],
            idle_timeout=args.idle_timeout_seconds,
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=args.deletion_protection,
            enable_http2=True,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs.name, enabled=True),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[logs]),
        )
        self.alb = balancer
        self.arn_suffix, self.dns_name, self.zone_id = (
            balancer.arn_suffix,
            balancer.dns_name,
            balancer.zone_id,
        )

        deny = aws.lb.ListenerDefaultActionArgs(
            type="fixed-response",
            fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                content_type="text/plain", message_body="Forbidden", status_code="403"
            ),
        )
        listener = aws.lb.Listener(
            f"{name}-{self.origin_protocol}",
            load_balancer_arn=balancer.arn,
            port=self.origin_port,
            protocol=self.origin_protocol.upper(),
            ssl_policy=TLS_POLICY if https else None,
            certificate_arn=args.certificate_arn,
            default_actions=[deny],
            opts=child,
        )
        self.listener, self.https_listener = listener, listener if https else None
        self.listener_arn = listener.arn
        if https:
            # Plain HTTP that reaches the ALB from inside the VPC (tools, probes) is sent to HTTPS.
            aws.lb.Listener(
                f"{name}-http-redirect",
                load_balancer_arn=balancer.arn,
                port=80,
                protocol="HTTP",
                default_actions=[
                    aws.lb.ListenerDefaultActionArgs(
                        type="redirect",
                        redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                            port="443", protocol="HTTPS", status_code="HTTP_301"
                        ),
                    )
                ],
                opts=child,
            )
        self.register_outputs({"dnsName": self.dns_name, "listenerArn": self.listener_arn})


def _log_delivery_statements(parent: pulumi.Resource) -> StatementsFor:
    """ALB access-log delivery: the regional ELB account (older regions) and the log-delivery service."""
    invoke = pulumi.InvokeOutputOptions(parent=parent)
    elb_account = aws.elb.get_service_account_output(opts=invoke).arn
    account_id = aws.get_caller_identity_output(opts=invoke).account_id

    def statements(bucket_arn: pulumi.Output[str]) -> pulumi.Output[list[dict[str, Any]]]:
        return pulumi.Output.all(bucket_arn, elb_account, account_id).apply(
            lambda v: [
                {
                    "Sid": "AlbAccessLogs",
                    "Effect": "Allow",
                    "Principal": {"AWS": v[1], "Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                    "Action": "s3:PutObject",
                    "Resource": f"{v[0]}/AWSLogs/{v[2]}/*",
                }
            ]
        )

    return statements
