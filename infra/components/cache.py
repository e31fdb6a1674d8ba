"""ElastiCache (Redis OSS or Valkey): a replication group encrypted at rest and in transit, with auth."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra import iam
from infra.kms import encryption_key
from infra.rotation import cache_auth_token
from infra.security_groups import admitting_clients

PORT = 6379
AUTH_TOKEN_ROTATION_DAYS = 30
"""Secrets Manager rotates the AUTH token this often; each token works for two periods (rotation/)."""
MAX_INSTANCE_LIFETIME_DAYS = 14
"""App instances are replaced before this age, so every container reads a token less than one rotation old
(the groups' maximum instance lifetime; DESIGN.md, "The cache token rotates")."""


@dataclass(frozen=True)
class CacheArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    client_security_group_ids: Mapping[str, pulumi.Input[str]]
    """The only groups admitted on 6379: each service's instances that use it, by service name."""
    replication_group_id: str
    """Unique per account and region, at most 40 characters."""
    engine: Literal["redis", "valkey"]
    engine_version: str
    node_type: str
    replicas: int
    """Replicas of the primary; with at least one, a failed primary fails over automatically (Multi-AZ)."""
    snapshot_retention_days: int
    log_retention_days: int
    logs_key_arn: pulumi.Input[str]
    """The customer-managed key the log groups are encrypted with (infra.kms.logs_key)."""


class Cache(pulumi.ComponentResource):
    """A primary and its replicas across AZs; TLS required, an auth token kept in Secrets Manager."""

    replication_group: aws.elasticache.ReplicationGroup
    security_group: aws.ec2.SecurityGroup
    primary_address: pulumi.Output[str]
    reader_address: pulumi.Output[str]
    replication_group_id: pulumi.Output[str]
    member_cluster_ids: list[pulumi.Output[str]]
    """One per node, primary and replicas: the CacheClusterId CloudWatch publishes each node's metrics by."""
    auth_secret_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    port: int = PORT

    def __init__(self, name: str, args: CacheArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:data:Cache", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = encryption_key(f"{name}-key", "ElastiCache data at rest and its auth token", self)
        self.kms_key_arn = key.arn
        token = random.RandomPassword(f"{name}-auth-token", length=64, special=False, opts=child)
        secret = aws.secretsmanager.Secret(
            f"{name}-auth", description="Auth token of the cache", kms_key_id=key.arn, opts=child
        )
        # The rotation function owns the value and its stages after the first version: `pulumi up` must not
        # put the first token back.
        aws.secretsmanager.SecretVersion(
            f"{name}-auth-value",
            secret_id=secret.id,
            secret_string=token.result,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["secretString", "versionStages"]),
        )
        self.auth_secret_arn = secret.arn
        group = admitting_clients(name, args.vpc_id, "Redis", PORT, args.client_security_group_ids, self)
        self.security_group = group
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.subnet_ids), opts=child)
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-slow-log",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        failover = args.replicas >= 1
        replication_group = aws.elasticache.ReplicationGroup(
            name,
            replication_group_id=args.replication_group_id,
            description="App cache",
            engine=args.engine,
            engine_version=args.engine_version,
            node_type=args.node_type,
            port=PORT,
            num_cache_clusters=1 + args.replicas,
            automatic_failover_enabled=failover,
            multi_az_enabled=failover,
            subnet_group_name=subnets.name,
            security_group_ids=[group.id],
            at_rest_encryption_enabled=True,
            kms_key_id=key.arn,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            auth_token=token.result,
            auth_token_update_strategy="ROTATE",
            snapshot_retention_limit=args.snapshot_retention_days,
            snapshot_window="02:00-03:00",
            maintenance_window="sun:05:30-sun:06:30",
            auto_minor_version_upgrade=True,
            apply_immediately=False,
            log_delivery_configurations=[
                aws.elasticache.ReplicationGroupLogDeliveryConfigurationArgs(
                    destination=slow_log.name,
                    destination_type="cloudwatch-logs",
                    log_format="json",
                    log_type="slow-log",
                )
            ],
            # After the first rotation the group's tokens are the rotation function's, not this input's.
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["authToken"]),
        )
        self._rotate_auth_token(name, args, secret, key, replication_group)
        self.primary_address = replication_group.primary_endpoint_address
        self.reader_address = replication_group.reader_endpoint_address
        self.replication_group = replication_group
        self.replication_group_id = replication_group.replication_group_id
        # ElastiCache names the nodes' clusters itself; the provider reads them back after create as the
        # set member_clusters, one per node (num_cache_clusters of them), in no particular order.
        self.member_cluster_ids = [
            replication_group.member_clusters.apply(_nth_member(i)) for i in range(1 + args.replicas)
        ]
        self.register_outputs({"primaryAddress": self.primary_address})

    def _rotate_auth_token(
        self,
        name: str,
        args: CacheArgs,
        secret: aws.secretsmanager.Secret,
        key: aws.kms.Key,
        group: aws.elasticache.ReplicationGroup,
    ) -> None:
        """Secrets Manager runs infra/rotation/cache_auth_token.py every AUTH_TOKEN_ROTATION_DAYS."""
        child = pulumi.ResourceOptions(parent=self)
        function_name = f"{args.replication_group_id}-auth-rotation"
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-rotation-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            kms_key_id=args.logs_key_arn,
            opts=child,
        )
        role = aws.iam.Role(
            f"{name}-rotation-role", assume_role_policy=iam.assume_role("lambda.amazonaws.com"), opts=child
        )
        statements = pulumi.Output.all(secret.arn, key.arn, group.arn, log_group.arn).apply(
            lambda v: _rotation_statements(*v)
        )
        policy = aws.iam.RolePolicy(
            f"{name}-rotation-access", role=role.id, policy=iam.rendered(statements), opts=child
        )
        source = Path(cache_auth_token.__file__)
        function = aws.lambda_.Function(
            f"{name}-rotation",
            name=function_name,
            runtime=aws.lambda_.Runtime.PYTHON3D12,
            handler=f"{source.stem}.handler",
            code=pulumi.AssetArchive({source.name: pulumi.FileAsset(str(source))}),
            role=role.arn,
            # Each modification waits for the group to be available: minutes, not seconds.
            timeout=900,
            # Two rotations at once would interleave their SET and ROTATE calls.
            reserved_concurrent_executions=1,
            kms_key_arn=key.arn,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={"REPLICATION_GROUP_ID": args.replication_group_id}
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="Text", log_group=log_group.name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
        permission = aws.lambda_.Permission(
            f"{name}-rotation-invoke",
            action="lambda:InvokeFunction",
            function=function.name,
            principal="secretsmanager.amazonaws.com",
            source_arn=secret.arn,
            opts=child,
        )
        aws.secretsmanager.SecretRotation(
            f"{name}-auth-rotation",
            secret_id=secret.id,
            rotation_lambda_arn=function.arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=AUTH_TOKEN_ROTATION_DAYS
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[permission, group]),
        )


def _nth_member(index: int) -> Callable[[Sequence[str]], str]:
    def pick(member_cluster_ids: Sequence[str]) -> str:
        return sorted(member_cluster_ids)[index]

    return pick


def _rotation_statements(
    secret_arn: str, key_arn: str, group_arn: str, log_group_arn: str
) -> list[iam.Statement]:
    """What the rotation function does, on this secret, key and group only (GetRandomPassword: any)."""
    secret_actions = [
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ]
    return [
        iam.allow(secret_actions, [secret_arn]),
        iam.allow(["secretsmanager:GetRandomPassword"], ["*"]),
        iam.allow(["kms:Decrypt", "kms:GenerateDataKey"], [key_arn]),
        iam.allow(
            ["elasticache:DescribeReplicationGroups", "elasticache:ModifyReplicationGroup"], [group_arn]
        ),
        iam.allow(["logs:CreateLogStream", "logs:PutLogEvents"], [f"{log_group_arn}:*"]),
    ]
