"""CloudWatch alarms and dashboards: each metric under a dimension set AWS actually publishes it with.

CloudWatch accepts an alarm or a widget on any namespace, metric and dimensions: a combination AWS never
publishes has no data, so the alarm stays OK (missing data is not breaching) and the widget stays empty.
The table below lists, for the namespaces the kit watches, the metrics it uses and the dimension sets
each is published under, from each service's metrics page (cited per namespace).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from infra.policies import tokens as t
from infra.policies.model import AWS_REQUIRED, Category, Finding, Resource, Rule, Severity, Stack, StackRule
from infra.policies.values import get, is_unknown, items

Dimensions = frozenset[str]


@dataclass(frozen=True)
class Namespace:
    source: str
    metrics: Mapping[str, frozenset[Dimensions]]


def _sets(*sets: tuple[str, ...]) -> frozenset[Dimensions]:
    return frozenset(frozenset(s) for s in sets)


# ALB: load-balancer metrics per LoadBalancer (and AZ); target metrics also per TargetGroup.
_ALB_ONLY = _sets(("LoadBalancer",), ("LoadBalancer", "AvailabilityZone"))
_ALB_TARGET = _ALB_ONLY | _sets(
    ("LoadBalancer", "TargetGroup"), ("LoadBalancer", "AvailabilityZone", "TargetGroup")
)
_ALB_HOSTS = _sets(("LoadBalancer", "TargetGroup"), ("LoadBalancer", "AvailabilityZone", "TargetGroup"))
# RDS publishes instance metrics per DBInstanceIdentifier, and aggregates per class and engine.
_RDS = _sets(("DBInstanceIdentifier",), ("DatabaseClass",), ("EngineName",))
# ElastiCache host-level and Valkey/Redis OSS metrics are per node: the node's cluster (CacheClusterId,
# a replication group's member cluster) and optionally its CacheNodeId; never per ReplicationGroupId.
_CACHE_NODE = _sets(("CacheClusterId",), ("CacheClusterId", "CacheNodeId"))
_CLOUDFRONT = _sets(("DistributionId", "Region"))
_ASG = _sets(("AutoScalingGroupName",))

METRICS: Final[dict[str, Namespace]] = {
    "AWS/ApplicationELB": Namespace(
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html",
        {
            "RequestCount": _ALB_TARGET,
            "HTTPCode_Target_5XX_Count": _ALB_TARGET,
            "HTTPCode_Target_4XX_Count": _ALB_TARGET,
            "TargetResponseTime": _ALB_TARGET,
            "HTTPCode_ELB_5XX_Count": _ALB_ONLY,
            "HTTPCode_ELB_4XX_Count": _ALB_ONLY,
            # Per target group, alone or with its load balancer; the only valid statistic is Sum.
            "RequestCountPerTarget": _sets(("TargetGroup",), ("LoadBalancer", "TargetGroup")),
            "HealthyHostCount": _ALB_HOSTS,
            "UnHealthyHostCount": _ALB_HOSTS,
        },
    ),
    "AWS/RDS": Namespace(
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/dimensions.html",
        {
            name: _RDS
            for name in (
                "CPUUtilization",
                "FreeStorageSpace",
                "FreeableMemory",
                "DatabaseConnections",
                "ReplicaLag",
                "ReadLatency",
                "WriteLatency",
            )
        },
    ),
    "AWS/ElastiCache": Namespace(
        "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/CacheMetrics.Redis.html",
        {
            name: _CACHE_NODE
            for name in (
                "CPUUtilization",
                "EngineCPUUtilization",
                "DatabaseMemoryUsagePercentage",
                "Evictions",
                "CacheHitRate",
                "CurrConnections",
                "ReplicationLag",
                "FreeableMemory",
            )
        },
    ),
    "AWS/CloudFront": Namespace(
        "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/programming-cloudwatch-metrics.html",
        {name: _CLOUDFRONT for name in ("Requests", "4xxErrorRate", "5xxErrorRate", "TotalErrorRate")},
    ),
    "AWS/AutoScaling": Namespace(
        "https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-metrics.html",
        {
            name: _ASG
            for name in (
                "GroupMinSize",
                "GroupMaxSize",
                "GroupDesiredCapacity",
                "GroupInServiceInstances",
                "GroupPendingInstances",
                "GroupTotalInstances",
            )
        },
    ),
}


@dataclass(frozen=True)
class MetricUse:
    namespace: str
    name: str
    dimensions: Dimensions
    where: str  # for the message: "the alarm" or "widget 'Cache CPU'"


def judge(use: MetricUse) -> str | None:
    """Why AWS never publishes this metric under these dimensions; None when it does (or isn't tabled)."""
    namespace = METRICS.get(use.namespace)
    if namespace is None:
        return None
    allowed = namespace.metrics.get(use.name)
    if allowed is None:
        return (
            f"{use.where} reads {use.namespace} {use.name}, which is not in the kit's table of metrics AWS "
            "publishes, so it may never have data; check the name or add it with its source."
        )
    if use.dimensions in allowed:
        return None
    shown = " or ".join(sorted("+".join(sorted(s)) for s in allowed))
    given = "+".join(sorted(use.dimensions)) or "no dimensions"
    return (
        f"{use.where} reads {use.namespace} {use.name} by {given}, which AWS never publishes, so it gets "
        f"no data; use {shown}."
    )


def _use(namespace: Any, name: Any, dimensions: Any, where: str) -> MetricUse | None:
    """A metric read, or None while preview can't tell which (unknown name, namespace or dimensions)."""
    if any(is_unknown(v) for v in (namespace, name, dimensions)) or (
        isinstance(dimensions, Mapping) and any(is_unknown(k) for k in dimensions)
    ):
        return None
    keys = frozenset(dimensions) if isinstance(dimensions, Mapping) else frozenset()
    return MetricUse(str(namespace), str(name), keys, where)


def _alarm_uses(alarm: Resource) -> Iterator[MetricUse | None]:
    where = f"alarm {alarm.name}"
    if alarm.get("metricName") is not None:
        yield _use(alarm.get("namespace"), alarm.get("metricName"), alarm.get("dimensions"), where)
    for query in items(alarm.get("metricQueries")) or []:
        metric = get(query, "metric")
        if metric is None or is_unknown(metric):
            continue
        yield _use(get(metric, "namespace"), get(metric, "metricName"), get(metric, "dimensions"), where)


def _alarms(stack: Stack) -> Iterator[Finding]:
    for alarm in stack.of_type(*t.METRIC_ALARM):
        for use in _alarm_uses(alarm):
            message = judge(use) if use else None
            if message:
                yield Finding(alarm, message)


def widget_uses(widget: Mapping[str, Any]) -> list[MetricUse] | None:
    """The metrics a dashboard widget graphs; None for a metric widget with none (an empty graph).

    Rows follow the dashboard body syntax: [namespace, name, dim1, value1, ..., {options}], where "."
    repeats the row above's value at that position and {"expression": ...} rows are metric math.
    """
    if widget.get("type") != "metric":
        return []
    properties = widget.get("properties") or {}
    title = f"dashboard widget {properties.get('title', '(untitled)')!r}"
    rows = [r for r in properties.get("metrics") or [] if isinstance(r, list)]
    uses: list[MetricUse] = []
    previous: list[Any] = []
    for row in rows:
        fields = [f for f in row if not isinstance(f, Mapping)]
        if not fields:
            continue  # a metric-math expression row
        fields = [previous[i] if f == "." and i < len(previous) else f for i, f in enumerate(fields)]
        previous = fields
        names = fields[2::2]
        uses.append(MetricUse(str(fields[0]), str(fields[1]), frozenset(map(str, names)), title))
    return uses or None


def _dashboards(stack: Stack) -> Iterator[Finding]:
    for dashboard in stack.of_type(*t.DASHBOARD):
        body = dashboard.get("dashboardBody")
        if body is None or is_unknown(body):
            continue
        try:
            widgets = json.loads(body).get("widgets", []) if isinstance(body, str) else []
        except ValueError:
            continue
        for widget in widgets:
            uses = widget_uses(widget)
            if uses is None:
                title = (widget.get("properties") or {}).get("title", "(untitled)")
                yield Finding(
                    dashboard,
                    f"dashboard widget {title!r} graphs no metric, which CloudWatch shows as an empty "
                    "panel; leave the widget out when there is nothing to graph.",
                )
                continue
            for use in uses:
                message = judge(use)
                if message:
                    yield Finding(dashboard, message)


def _published_dimensions(stack: Stack) -> Iterator[Finding]:
    yield from _alarms(stack)
    yield from _dashboards(stack)


RULES: list[Rule] = [
    StackRule(
        id="cloudwatch-metric-dimensions",
        types=t.METRIC_ALARM + t.DASHBOARD,
        description=(
            "Alarms and dashboard widgets read each metric by a dimension set AWS publishes it under, "
            "and every widget graphs at least one metric."
        ),
        severity=Severity.HIGH,
        enforcement=AWS_REQUIRED,
        check=_published_dimensions,
        category=Category.AWS,
        source=METRICS["AWS/ElastiCache"].source,
    ),
]
