"""Alarms on what users feel and what runs out, an SNS topic they notify, and one dashboard."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra import iam
from infra.kms import encryption_key


@dataclass(frozen=True)
class ServiceRow:
    """One service's dashboard row: its group's instances, and its requests (web) or queues (worker)."""

    name: str
    asg_name: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str] | None
    """A web service's target group; None for a worker."""
    queue_metrics: Sequence[tuple[str, str, str, str]] = ()
    """A worker's queue-length metrics: (namespace, metric name, dimension, queue)."""
    default: bool = False
    """The default web service: its alarms keep their names from before services (service_alarm_names)."""
    target_messages_per_worker: int = 0
    """A worker's backlog per instance that target tracking holds; its backlog alarm is a multiple of it."""


@dataclass(frozen=True)
class MonitoringArgs:
    name_prefix: str
    """Alarm and dashboard names start with it; unique per account and region."""
    load_balancer_arn_suffix: pulumi.Input[str]
    target_group_arn_suffix: pulumi.Input[str]
    database_instance_ids: Sequence[pulumi.Input[str]]
    """Primary first, then the replicas."""
    cache_node_ids: Sequence[pulumi.Input[str]]
    """Each cache node's CacheClusterId: ElastiCache publishes CPU, memory and evictions per node only."""
    distribution_id: pulumi.Input[str]
    edge_provider: pulumi.ProviderResource
    """us-east-1, where CloudFront publishes its metrics."""
    web_asg_name: pulumi.Input[str]
    alarm_email: str | None
    error_rate_percent: float
    p99_latency_ms: int
    replica_lag_seconds: int
    region: str
    services: Sequence[ServiceRow]
    """Every service, one dashboard row each."""
    free_storage_gib: int = 5


BACKLOG_ALARM_FACTOR = 3
"""A worker's backlog alarm: backlog per instance above this many times its target. Target tracking holds
the target; a backlog that stays at a multiple of it means scaling cannot catch up (the group is at its
maximum, instances fail to start, or the workers stopped consuming)."""
BACKLOG_ALARM_MINUTES = 15
"""...for this many one-minute periods in a row: longer than a scale-out (warm-up and boot) takes."""


class Monitoring(pulumi.ComponentResource):
    alarm_names: list[str]
    service_alarms: dict[str, list[str]]
    """Each service's own alarms (service_alarm_names)."""
    rollout_alarm_names: dict[str, list[str]]
    """Each service's alarms that stop an instance refresh of its group: the stack-wide ones and its own."""
    topic_arn: pulumi.Output[str]
    dashboard_url: pulumi.Output[str]

    @staticmethod
    def stack_rollout_alarm_names(name_prefix: str) -> list[str]:
        """Alarms that stop a refresh of any group: the ALB's 5xx rate counts every service's requests."""
        return [f"{name_prefix}-alb-5xx-rate"]

    @staticmethod
    def service_alarm_names(name_prefix: str, service: ServiceRow) -> list[str]:
        """A service's own alarms, by its name: a web service's target group (p99 latency, unhealthy hosts,
        5xx rate), a worker's backlog per instance. The default web service keeps the names its p99 and
        unhealthy-host alarms had before services (a renamed alarm is a replaced one). Names cannot meet:
        service names are non-empty and never a stack component's (RESERVED_SERVICE_NAMES), and each
        suffix here differs from the others and from the stack-wide alarms' (db-cpu, cache-cpu, ...)."""
        own = f"{name_prefix}-{service.name}"
        if service.target_group_arn_suffix is None:
            return [f"{own}-backlog-per-instance"]
        legacy = service.default
        return [
            f"{name_prefix}-target-p99-latency" if legacy else f"{own}-target-p99-latency",
            f"{name_prefix}-unhealthy-hosts" if legacy else f"{own}-unhealthy-hosts",
            f"{own}-target-5xx-rate",
        ]

    @classmethod
    def rollout_alarm_names_for(cls, name_prefix: str, service: ServiceRow) -> list[str]:
        """The alarms that stop a refresh of one service's group: the stack-wide ones and its own."""
        return [*cls.stack_rollout_alarm_names(name_prefix), *cls.service_alarm_names(name_prefix, service)]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:observability:Monitoring", name, None, opts)
        self._args = args
        self.topic_arn = self._topic(name, None)
        # CloudFront's metrics live in us-east-1 and an alarm may only notify a topic in its own region.
        edge_topic = (
            self.topic_arn if args.region == "us-east-1" else self._topic(f"{name}-edge", args.edge_provider)
        )
        self.alarm_names = []
        prefix = args.name_prefix
        alb = {"LoadBalancer": args.load_balancer_arn_suffix}
        (alb_5xx,) = self.stack_rollout_alarm_names(prefix)
        self._error_rate_alarm(alb_5xx, alb)
        self.service_alarms = {row.name: self.service_alarm_names(prefix, row) for row in args.services}
        self.rollout_alarm_names = {
            row.name: self.rollout_alarm_names_for(prefix, row) for row in args.services
        }
        for row in args.services:
            if row.target_group_arn_suffix is None:
                self._backlog_alarm(row)
            else:
                self._target_group_alarms(row, alb)
        primary, *replicas = args.database_instance_ids
        database = {"DBInstanceIdentifier": primary}
        self._alarm(
            f"{prefix}-db-cpu", "Database primary CPU", metric("AWS/RDS", "CPUUtilization", database), 80
        )
        self._alarm(
            f"{prefix}-db-free-storage",
            "Database free storage",
            metric("AWS/RDS", "FreeStorageSpace", database, statistic="Minimum"),
            args.free_storage_gib * 1024**3,
            comparison="LessThanThreshold",
        )
        for i, replica in enumerate(replicas):
            self._alarm(
                f"{prefix}-db-replica-{i + 1}-lag",
                "Replica behind the primary: reads see stale data",
                metric("AWS/RDS", "ReplicaLag", {"DBInstanceIdentifier": replica}, statistic="Maximum"),
                args.replica_lag_seconds,
            )
        self._busiest_cache_node_alarm(
            f"{prefix}-cache-cpu", "Cache engine CPU (busiest node)", "EngineCPUUtilization", "Average", 80
        )
        self._busiest_cache_node_alarm(
            f"{prefix}-cache-memory",
            "Cache memory in use (fullest node)",
            "DatabaseMemoryUsagePercentage",
            "Maximum",
            90,
        )
        self._busiest_cache_node_alarm(
            f"{prefix}-cache-evictions",
            "Keys evicted for lack of memory (any node)",
            "Evictions",
            "Sum",
            1000,
        )
        self._alarm(
            f"{prefix}-cdn-5xx-rate",
            "Share of CloudFront responses that are 5xx",
            metric(
                "AWS/CloudFront", "5xxErrorRate", {"DistributionId": args.distribution_id, "Region": "Global"}
            ),
            args.error_rate_percent,
            topic=edge_topic,
            provider=args.edge_provider,
        )
        dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=prefix,
            dashboard_body=_dashboard_body(args),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.dashboard_url = pulumi.Output.concat(
            f"https://{args.region}.console.aws.amazon.com/cloudwatch/home?region={args.region}#dashboards:name=",
            dashboard.dashboard_name,
        )
        self.register_outputs({"alarmNames": self.alarm_names, "dashboardUrl": self.dashboard_url})

    def _topic(self, name: str, provider: pulumi.ProviderResource | None) -> pulumi.Output[str]:
        opts = pulumi.ResourceOptions(parent=self, provider=provider)
        # The AWS-managed SNS key does not let CloudWatch publish: the topic gets a key that does.
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        key = encryption_key(
            f"{name}-alarms-key",
            "Alarm topic",
            self,
            policy=account.apply(_alarm_key_policy),
            provider=provider,
        )
        topic = aws.sns.Topic(f"{name}-alarms", kms_master_key_id=key.id, opts=opts)
        if self._args.alarm_email:
            aws.sns.TopicSubscription(
                f"{name}-alarms-email",
                topic=topic.arn,
                protocol="email",
                endpoint=self._args.alarm_email,
                opts=opts,
            )
        return topic.arn

    def _error_rate_alarm(self, alarm_name: str, alb: dict[str, pulumi.Input[str]]) -> None:
        """5xx as a share of requests, so a quiet night's single error does not page anyone."""
        queries = [
            _sum_query("target5xx", "HTTPCode_Target_5XX_Count", alb),
            _sum_query("elb5xx", "HTTPCode_ELB_5XX_Count", alb),
            _sum_query("requests", "RequestCount", alb),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="rate",
                expression="100 * (FILL(target5xx, 0) + FILL(elb5xx, 0)) / MAX([requests, 1])",
                label="5xx %",
                return_data=True,
            ),
        ]
        self._alarm(
            alarm_name,
            "Share of load-balancer responses that are 5xx (app and ALB)",
            {"metric_queries": queries},
            self._args.error_rate_percent,
        )

    def _target_group_alarms(self, row: ServiceRow, alb: dict[str, pulumi.Input[str]]) -> None:
        """A web service's own target group: its p99 latency, unhealthy hosts and 5xx rate. ELB publishes
        these per LoadBalancer and TargetGroup together (the `cloudwatch-metric-dimensions` rule's table,
        https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html);
        the ALB's own 5xx have no target group, so the stack-wide alarm keeps them."""
        assert row.target_group_arn_suffix is not None
        latency, unhealthy, errors = self.service_alarm_names(self._args.name_prefix, row)
        target = {**alb, "TargetGroup": row.target_group_arn_suffix}
        self._alarm(
            latency,
            f"Slowest 1% of {row.name}'s responses",
            metric("AWS/ApplicationELB", "TargetResponseTime", target, extended_statistic="p99"),
            self._args.p99_latency_ms / 1000,
        )
        self._alarm(
            unhealthy,
            f"{row.name} targets failing the readiness check",
            metric("AWS/ApplicationELB", "UnHealthyHostCount", target, statistic="Maximum"),
            0,
        )
        queries = [
            _sum_query("target5xx", "HTTPCode_Target_5XX_Count", target),
            _sum_query("requests", "RequestCount", target),
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id="rate",
                expression="100 * FILL(target5xx, 0) / MAX([requests, 1])",
                label=f"{row.name} 5xx %",
                return_data=True,
            ),
        ]
        self._alarm(
            errors,
            f"Share of {row.name}'s responses that are 5xx",
            {"metric_queries": queries},
            self._args.error_rate_percent,
        )

    def _backlog_alarm(self, row: ServiceRow) -> None:
        """A worker's backlog per instance staying far above its target: what the publisher puts (each
        queue's length, the only queue metric it has) over the group's in-service instances, counted as
        at least one so a group stuck at zero alarms on its whole backlog (FILL, MAX: metric math
        functions, https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html)."""
        (name,) = self.service_alarm_names(self._args.name_prefix, row)
        queues = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=f"q{i}",
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace=namespace,
                    metric_name=metric_name,
                    dimensions={dimension: queue},
                    period=60,
                    # Every publisher puts the same length: the maximum neither adds nor dilutes them.
                    stat="Maximum",
                ),
            )
            for i, (namespace, metric_name, dimension, queue) in enumerate(row.queue_metrics)
        ]
        instances = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="instances",
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/AutoScaling",
                metric_name="GroupInServiceInstances",
                dimensions={"AutoScalingGroupName": row.asg_name},
                period=60,
                stat="Average",
            ),
        )
        total = " + ".join(f"FILL(q{i}, 0)" for i in range(len(queues)))
        backlog = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="backlog",
            expression=f"({total}) / MAX([FILL(instances, 0), 1])",
            label=f"{row.name} backlog per instance",
            return_data=True,
        )
        self._alarm(
            name,
            f"{row.name}'s queues wait for more than {BACKLOG_ALARM_FACTOR}x its target per instance",
            {"metric_queries": [*queues, instances, backlog]},
            BACKLOG_ALARM_FACTOR * row.target_messages_per_worker,
            evaluation_periods=BACKLOG_ALARM_MINUTES,
            datapoints_to_alarm=BACKLOG_ALARM_MINUTES,
        )

    def _busiest_cache_node_alarm(
        self, alarm_name: str, description: str, metric_name: str, stat: str, threshold: float
    ) -> None:
        """One alarm on the worst node: ElastiCache publishes these per node (CacheClusterId), not per group.

        https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html; MAX over an
        array of series is a series of the per-point maximum
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
        """
        nodes = [
            aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=f"node{i + 1}",
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ElastiCache",
                    metric_name=metric_name,
                    dimensions={"CacheClusterId": node},
                    period=60,
                    stat=stat,
                ),
            )
            for i, node in enumerate(self._args.cache_node_ids)
        ]
        worst = aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="worst",
            expression=f"MAX([{', '.join(f'node{i + 1}' for i in range(len(nodes)))}])",
            label=f"{metric_name}, worst node",
            return_data=True,
        )
        self._alarm(alarm_name, description, {"metric_queries": [*nodes, worst]}, threshold)

    def _alarm(
        self,
        alarm_name: str,
        description: str,
        measured: dict[str, Any],
        threshold: float,
        comparison: str = "GreaterThanThreshold",
        topic: pulumi.Output[str] | None = None,
        provider: pulumi.ProviderResource | None = None,
        evaluation_periods: int = 3,
        datapoints_to_alarm: int = 2,
    ) -> None:
        notify = topic or self.topic_arn
        aws.cloudwatch.MetricAlarm(
            alarm_name,
            name=alarm_name,
            alarm_description=description,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            threshold=threshold,
            treat_missing_data="notBreaching",
            alarm_actions=[notify],
            ok_actions=[notify],
            **measured,
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        self.alarm_names.append(alarm_name)


def _sum_query(
    query_id: str, metric_name: str, dimensions: dict[str, pulumi.Input[str]]
) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
    """One ALB count per minute, for a metric math expression."""
    return aws.cloudwatch.MetricAlarmMetricQueryArgs(
        id=query_id,
        metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
            namespace="AWS/ApplicationELB",
            metric_name=metric_name,
            dimensions=dimensions,
            period=60,
            stat="Sum",
        ),
    )


def metric(
    namespace: str,
    name: str,
    dimensions: dict[str, pulumi.Input[str]],
    statistic: str = "Average",
    extended_statistic: str | None = None,
) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "metric_name": name,
        "dimensions": dimensions,
        "period": 60,
        **({"extended_statistic": extended_statistic} if extended_statistic else {"statistic": statistic}),
    }


def _alarm_key_policy(account_id: str) -> str:
    return iam.document(
        [
            {
                "Sid": "AccountAdministers",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            },
            {
                "Sid": "CloudWatchPublishesAlarms",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            },
        ]
    )


def _dashboard_body(args: MonitoringArgs) -> pulumi.Output[str]:
    def widget(title: str, metrics: list[list[object]], stat: str = "Average") -> dict[str, object]:
        return {
            "type": "metric",
            "width": 12,
            "height": 6,
            "properties": {
                "title": title,
                "metrics": metrics,
                "stat": stat,
                "period": 60,
                "region": args.region,
            },
        }

    def build(v: dict[str, Any]) -> str:
        alb, target, asg, databases, nodes = v["alb"], v["target"], v["asg"], v["databases"], v["nodes"]
        widgets = [
            widget("Requests", [["AWS/ApplicationELB", "RequestCount", "LoadBalancer", alb]], "Sum"),
            widget(
                "5xx",
                [
                    ["AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", "LoadBalancer", alb],
                    ["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", alb],
                ],
                "Sum",
            ),
            widget(
                "Latency p99",
                [["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", alb, "TargetGroup", target]],
                "p99",
            ),
            widget(
                "Web instances", [["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", asg]]
            ),
            widget(
                "Database CPU",
                [["AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", db] for db in databases],
            ),
            # Without replicas this widget would graph nothing: it is left out.
            *(
                [
                    widget(
                        "Replica lag",
                        [["AWS/RDS", "ReplicaLag", "DBInstanceIdentifier", db] for db in databases[1:]],
                        "Maximum",
                    )
                ]
                if databases[1:]
                else []
            ),
            # Per node: ElastiCache publishes these by CacheClusterId only.
            widget(
                "Cache CPU", [["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", n] for n in nodes]
            ),
            widget("Cache hits", [["AWS/ElastiCache", "CacheHitRate", "CacheClusterId", n] for n in nodes]),
            *(w for row in v["services"] for w in _service_widgets(row, alb, widget)),
        ]
        return json.dumps({"widgets": widgets})

    return pulumi.Output.all(
        alb=args.load_balancer_arn_suffix,
        target=args.target_group_arn_suffix,
        asg=args.web_asg_name,
        databases=pulumi.Output.all(*args.database_instance_ids),
        nodes=pulumi.Output.all(*args.cache_node_ids),
        services=pulumi.Output.all(
            *(
                pulumi.Output.all(
                    name=row.name,
                    asg=row.asg_name,
                    target=row.target_group_arn_suffix,
                    queues=[list(q) for q in row.queue_metrics],
                )
                for row in args.services
            )
        ),
    ).apply(build)


def _service_widgets(
    row: dict[str, Any], alb: str, widget: Callable[..., dict[str, object]]
) -> list[dict[str, object]]:
    """A service's row: in-service and desired instances, then requests per target or queue lengths."""
    name, asg = row["name"], row["asg"]
    instances = widget(
        f"{name}: instances",
        [
            ["AWS/AutoScaling", "GroupInServiceInstances", "AutoScalingGroupName", asg],
            ["AWS/AutoScaling", "GroupDesiredCapacity", "AutoScalingGroupName", asg],
        ],
    )
    if row["target"]:
        per_target = ["AWS/ApplicationELB", "RequestCountPerTarget", "TargetGroup", row["target"]]
        return [
            instances,
            widget(f"{name}: requests per target", [[*per_target, "LoadBalancer", alb]], "Sum"),
        ]
    queues = [[namespace, metric, dimension, queue] for namespace, metric, dimension, queue in row["queues"]]
    return [instances, widget(f"{name}: queue length", queues, "Maximum")]
