"""ElastiCache (Redis OSS or Valkey): a replication group encrypted at rest and in transit, with auth."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_random as random

from infra.kms import encryption_key
from infra.security_groups import admitting_clients

PORT = 6379


@dataclass(frozen=True)
class CacheArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    client_security_group_ids: Sequence[pulumi.Input[str]]
    """The only groups admitted on 6379: the app's instances."""
    replication_group_id: str
    """Unique per account and region, at most 40 characters."""
    engine: Literal["redis", "valkey"]
    engine_version: str
    node_type: str
    replicas: int
    """Replicas of the primary; with at least one, a failed primary fails over automatically (Multi-AZ)."""
    snapshot_retention_days: int
    log_retention_days: int


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
        aws.secretsmanager.SecretVersion(
            f"{name}-auth-value", secret_id=secret.id, secret_string=token.result, opts=child
        )
        self.auth_secret_arn = secret.arn
        group = admitting_clients(name, args.vpc_id, "Redis", PORT, args.client_security_group_ids, self)
        self.security_group = group
        subnets = aws.elasticache.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.subnet_ids), opts=child)
        slow_log = aws.cloudwatch.LogGroup(
            f"{name}-slow-log", retention_in_days=args.log_retention_days, opts=child
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
            opts=child,
        )
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


def _nth_member(index: int) -> Callable[[Sequence[str]], str]:
    def pick(member_cluster_ids: Sequence[str]) -> str:
        return sorted(member_cluster_ids)[index]

    return pick
