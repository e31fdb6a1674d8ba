"""RDS PostgreSQL: an encrypted primary in the isolated subnets and read replicas spread over the AZs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.aws_facts import postgres_parameter_group_family
from infra.kms import encryption_key
from infra.security_groups import admitting_clients

PORT = 5432
LOG_EXPORTS = ("postgresql", "upgrade")


@dataclass(frozen=True)
class DatabaseArgs:
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    """Isolated data subnets, one per AZ."""
    availability_zones: Sequence[str]
    client_security_group_ids: Mapping[str, pulumi.Input[str]]
    """The only groups admitted on 5432: each service's instances that use it, by service name."""
    identifier: str
    """RDS identifier of the primary (replicas add -replica-N); unique per account and region."""
    engine_version: str
    instance_class: str
    allocated_storage_gib: int
    max_allocated_storage_gib: int
    multi_az: bool
    read_replicas: int
    backup_retention_days: int
    deletion_protection: bool
    """Also keeps a final snapshot when the database is deleted."""
    performance_insights: bool
    monitoring_interval_seconds: int
    """Enhanced monitoring; 0 turns it off."""
    slow_query_ms: int
    database_name: str
    master_username: str
    log_retention_days: int
    logs_key_arn: pulumi.Input[str]
    """The customer-managed key the log groups are encrypted with (infra.kms.logs_key)."""


class Database(pulumi.ComponentResource):
    """A PostgreSQL primary and N read replicas, reachable only from the given security groups.

    The master password is generated and rotated by RDS in Secrets Manager (never in Pulumi state);
    storage, backups, Performance Insights and the secret are encrypted with the database's own key;
    SSL is forced by the parameter group.
    """

    primary: aws.rds.Instance
    replicas: list[aws.rds.Instance]
    security_group: aws.ec2.SecurityGroup
    primary_address: pulumi.Output[str]
    replica_addresses: list[pulumi.Output[str]]
    instance_identifiers: list[pulumi.Output[str]]
    resource_ids: list[pulumi.Output[str]]
    """DbiResourceId of the primary, then of each replica."""
    master_secret_arn: pulumi.Output[str]
    kms_key_arn: pulumi.Output[str]
    port: int = PORT

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:data:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        key = encryption_key(
            f"{name}-key", "RDS storage, backups, Performance Insights and master secret", self
        )
        self.kms_key_arn = key.arn
        subnets = aws.rds.SubnetGroup(f"{name}-subnets", subnet_ids=list(args.subnet_ids), opts=child)
        group = admitting_clients(name, args.vpc_id, "PostgreSQL", PORT, args.client_security_group_ids, self)
        self.security_group = group
        parameters = self._parameter_group(name, args, child)
        monitoring_role = self._monitoring_role(name, child) if args.monitoring_interval_seconds else None
        identifiers = [
            args.identifier,
            *(f"{args.identifier}-replica-{i + 1}" for i in range(args.read_replicas)),
        ]
        for identifier in identifiers:
            for log in LOG_EXPORTS:
                # Created here so retention is ours; RDS would otherwise create them with no expiry.
                aws.cloudwatch.LogGroup(
                    f"{identifier}-{log}-logs",
                    name=f"/aws/rds/instance/{identifier}/{log}",
                    retention_in_days=args.log_retention_days,
                    kms_key_id=args.logs_key_arn,
                    opts=child,
                )

        common: dict[str, Any] = {
            "instance_class": args.instance_class,
            "storage_type": "gp3",
            "storage_encrypted": True,
            "kms_key_id": key.arn,
            "vpc_security_group_ids": [group.id],
            "parameter_group_name": parameters.name,
            "publicly_accessible": False,
            "auto_minor_version_upgrade": True,
            "copy_tags_to_snapshot": True,
            "performance_insights_enabled": args.performance_insights,
            "performance_insights_kms_key_id": key.arn if args.performance_insights else None,
            "performance_insights_retention_period": 7 if args.performance_insights else None,
            "monitoring_interval": args.monitoring_interval_seconds,
            "monitoring_role_arn": monitoring_role.arn if monitoring_role else None,
            "enabled_cloudwatch_logs_exports": list(LOG_EXPORTS),
            "iam_database_authentication_enabled": True,
            "deletion_protection": args.deletion_protection,
        }
        primary = aws.rds.Instance(
            f"{name}-primary",
            identifier=args.identifier,
            engine="postgres",
            engine_version=args.engine_version,
            db_name=args.database_name,
            username=args.master_username,
            manage_master_user_password=True,
            master_user_secret_kms_key_id=key.arn,
            allocated_storage=args.allocated_storage_gib,
            max_allocated_storage=args.max_allocated_storage_gib,
            db_subnet_group_name=subnets.name,
            multi_az=args.multi_az,
            backup_retention_period=args.backup_retention_days,
            backup_window="03:00-04:00",
            maintenance_window="sun:04:30-sun:05:30",
            skip_final_snapshot=not args.deletion_protection,
            final_snapshot_identifier=f"{args.identifier}-final" if args.deletion_protection else None,
            **common,
            opts=child,
        )
        replicas = [
            aws.rds.Instance(
                f"{name}-replica-{i + 1}",
                identifier=identifiers[i + 1],
                replicate_source_db=primary.identifier,
                # A replica doesn't take the source's storage autoscaling: without its own ceiling it stops
                # growing and replication halts once the primary outgrows it (RDS user guide, storage
                # autoscaling: https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_PIOPS.Autoscaling.html).
                max_allocated_storage=args.max_allocated_storage_gib,
                # The primary sits in the first AZ; replicas start from the next one round the list.
                availability_zone=args.availability_zones[(i + 1) % len(args.availability_zones)],
                skip_final_snapshot=True,
                **common,
                opts=child,
            )
            for i in range(args.read_replicas)
        ]
        self.primary, self.replicas = primary, replicas
        self.primary_address = primary.address
        self.replica_addresses = [r.address for r in replicas]
        self.instance_identifiers = [primary.identifier, *(r.identifier for r in replicas)]
        self.resource_ids = [primary.resource_id, *(r.resource_id for r in replicas)]
        self.master_secret_arn = primary.master_user_secrets.apply(lambda secrets: str(secrets[0].secret_arn))
        self.register_outputs(
            {"primaryAddress": self.primary_address, "replicaAddresses": self.replica_addresses}
        )

    def _parameter_group(
        self, name: str, args: DatabaseArgs, child: pulumi.ResourceOptions
    ) -> aws.rds.ParameterGroup:
        settings = {
            "rds.force_ssl": "1",
            "log_min_duration_statement": str(args.slow_query_ms),
            "log_connections": "1",
            "log_disconnections": "1",
            "log_lock_waits": "1",
            "log_temp_files": "0",
            # Replicas cancel queries that conflict with replay only after this long.
            "max_standby_streaming_delay": "30000",
        }
        return aws.rds.ParameterGroup(
            f"{name}-params",
            family=postgres_parameter_group_family(args.engine_version),
            parameters=[aws.rds.ParameterGroupParameterArgs(name=k, value=v) for k, v in settings.items()],
            opts=child,
        )

    def _monitoring_role(self, name: str, child: pulumi.ResourceOptions) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{name}-monitoring-role",
            assume_role_policy=iam.assume_role("monitoring.rds.amazonaws.com"),
            opts=child,
        )
        aws.iam.RolePolicyAttachment(
            f"{name}-monitoring",
            role=role.name,
            policy_arn="arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
            opts=child,
        )
        return role
