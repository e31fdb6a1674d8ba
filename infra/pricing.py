"""A monthly cost estimate of a plan: what the stack costs standing still, before any traffic.

List prices are on-demand, us-east-1, as published in mid-2025; they are a table here, not fetched, so the
estimate works offline like the plan it reads. Usage-based charges (data transfer, NAT and load-balancer
processing, CloudFront requests, storage growth) depend on traffic and are left out, and said to be.
A size missing from the table is reported as unpriced rather than guessed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from infra.planned import Plan, PlannedResource

LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
APP_GROUP = "scalestack:compute:AppGroup"
# The one region the tables below hold. AWS lists a price per region
# (https://aws.amazon.com/ec2/pricing/on-demand/ has a region selector), so another region's stack gets no
# estimate rather than one in us-east-1's prices.
PRICED_REGION = "us-east-1"
PRICES_AS_OF = f"on-demand list prices, {PRICED_REGION}, mid-2025"
HOURS_PER_MONTH = 730
LEFT_OUT = "data transfer, NAT and ALB processing, CloudFront requests, log ingestion, backups beyond free"

EC2_HOURLY = {
    "t3.micro": 0.0104, "t3.small": 0.0208, "t3.medium": 0.0416, "t3.large": 0.0832,
    "t4g.small": 0.0168, "t4g.medium": 0.0336, "t4g.large": 0.0672,
    "m6i.large": 0.096, "m6i.xlarge": 0.192, "m7i.large": 0.1008, "m7i.xlarge": 0.2016,
    "m7g.large": 0.0816, "m7g.xlarge": 0.1632, "c7i.large": 0.08925, "c7g.large": 0.0725,
}  # fmt: skip
RDS_POSTGRES_HOURLY = {
    "db.t4g.micro": 0.016, "db.t4g.small": 0.032, "db.t4g.medium": 0.065, "db.t4g.large": 0.129,
    "db.m7g.large": 0.168, "db.m7g.xlarge": 0.337, "db.r7g.large": 0.239, "db.r7g.xlarge": 0.478,
    "db.r6g.large": 0.225, "db.m6i.large": 0.178,
}  # fmt: skip
CACHE_HOURLY = {
    "cache.t4g.micro": 0.016, "cache.t4g.small": 0.032, "cache.t4g.medium": 0.065,
    "cache.m7g.large": 0.158, "cache.r7g.large": 0.219, "cache.r7g.xlarge": 0.437, "cache.r6g.large": 0.206,
}  # fmt: skip
MONTHLY = {
    "nat_gateway": 0.045 * HOURS_PER_MONTH,
    "public_ipv4": 0.005 * HOURS_PER_MONTH,
    "load_balancer": 0.0225 * HOURS_PER_MONTH,
    "interface_endpoint_per_az": 0.01 * HOURS_PER_MONTH,
    "kms_key": 1.0,
    "alarm": 0.10,
    "dashboard": 3.0,
    "secret": 0.40,
    "web_acl": 5.0,
    "web_acl_rule": 1.0,
    "ebs_gp3_gib": 0.08,
    "rds_gp3_gib": 0.115,
}


@dataclass(frozen=True)
class CostLine:
    item: str
    resource: str
    quantity: float
    unit: str
    monthly: float | None  # None: the size is not in the price table
    note: str = ""
    service: str = ""
    """The service (app group) the resource belongs to; empty for the stack's shared resources."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v != ""}


@dataclass(frozen=True)
class CostEstimate:
    stack: str
    lines: tuple[CostLine, ...]

    @property
    def total(self) -> float:
        return round(sum(line.monthly or 0.0 for line in self.lines), 2)

    @property
    def by_service(self) -> dict[str, float]:
        """Each service's monthly subtotal: every priced line of its app group (instances, alarms...)."""
        totals: dict[str, float] = {}
        for line in self.lines:
            if line.service:
                totals[line.service] = round(totals.get(line.service, 0.0) + (line.monthly or 0.0), 2)
        return totals

    @property
    def unpriced(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.monthly is None)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "currency": "USD",
            "period": "month",
            "prices": PRICES_AS_OF,
            "leftOut": LEFT_OUT,
            "total": self.total,
            "services": self.by_service,
            "lines": [line.to_json() for line in self.lines],
        }


def estimate(plan: Plan) -> CostEstimate:
    """Every standing charge the plan's resources incur, one line per resource."""
    index = _Index(plan)
    lines = [
        replace(line, service=index.service_of(resource))
        for resource in plan.resources
        for line in _lines(resource, index)
    ]
    return CostEstimate(plan.stack, tuple(lines))


class _Index:
    """Lookups across resources: a group's launch template, a replica's primary."""

    def __init__(self, plan: Plan) -> None:
        self.by_urn = plan.by_urn()
        self.databases = {r.inputs.get("identifier"): r for r in plan.by_type("aws:rds/instance:Instance")}

    def service_of(self, resource: PlannedResource) -> str:
        """The name of the app group (one per service) a resource was made in; empty outside one."""
        parent = self.by_urn.get(resource.parent or "")
        while parent is not None:
            if parent.type == APP_GROUP:
                return parent.name
            parent = self.by_urn.get(parent.parent or "")
        return ""

    def launch_template(self, group: PlannedResource) -> PlannedResource | None:
        urns = [u for deps in group.property_dependencies.values() for u in deps]
        return next((self.by_urn[u] for u in urns if self.by_urn[u].type == LAUNCH_TEMPLATE), None)


def _hourly(table: dict[str, float], size: str, quantity: float) -> float | None:
    price = table.get(size)
    return None if price is None else round(price * HOURS_PER_MONTH * quantity, 2)


def _flat(
    item: str, resource: PlannedResource, key: str, quantity: float = 1, unit: str = "each"
) -> CostLine:
    return CostLine(item, resource.name, quantity, unit, round(MONTHLY[key] * quantity, 2))


def _instances(group: PlannedResource, index: _Index) -> Iterator[CostLine]:
    count = float(group.inputs.get("desiredCapacity") or group.inputs.get("minSize") or 0)
    mixed = group.inputs.get("mixedInstancesPolicy")
    template = index.launch_template(group)
    if mixed:
        size = str(mixed["launchTemplate"]["overrides"][0]["instanceType"])
    else:
        size = str(template.inputs.get("instanceType")) if template else "unknown"
    note = "spot: usually well below this on-demand price" if mixed else ""
    yield CostLine(f"EC2 {size}", group.name, count, "instances", _hourly(EC2_HOURLY, size, count), note)
    if template:
        volume = float(template.inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"])
        yield _flat("EBS gp3 root volumes", group, "ebs_gp3_gib", volume * count, "GiB")


def _database(instance: PlannedResource, index: _Index) -> Iterator[CostLine]:
    inputs = instance.inputs
    source = index.databases.get(inputs.get("replicateSourceDb"))
    storage = float((source or instance).inputs.get("allocatedStorage") or 0)
    copies = 2.0 if inputs.get("multiAz") else 1.0
    size = str(inputs.get("instanceClass"))
    note = (
        "Multi-AZ: a standby doubles instance and storage"
        if copies == 2
        else ("read replica" if source else "")
    )
    monthly = _hourly(RDS_POSTGRES_HOURLY, size, copies)
    yield CostLine(f"RDS PostgreSQL {size}", instance.name, copies, "instances", monthly, note)
    yield _flat("RDS gp3 storage", instance, "rds_gp3_gib", storage * copies, "GiB")
    if inputs.get("manageMasterUserPassword"):
        yield _flat("Secrets Manager secret (RDS-managed)", instance, "secret")


def _cache(group: PlannedResource, _: _Index) -> Iterator[CostLine]:
    nodes = float(group.inputs.get("numCacheClusters") or 1)
    size = str(group.inputs.get("nodeType"))
    yield CostLine(f"ElastiCache {size}", group.name, nodes, "nodes", _hourly(CACHE_HOURLY, size, nodes))


def _endpoint(endpoint: PlannedResource, _: _Index) -> Iterator[CostLine]:
    if endpoint.inputs.get("vpcEndpointType") == "Interface":
        zones = float(len(endpoint.inputs.get("subnetIds") or []))
        yield _flat("Interface endpoint", endpoint, "interface_endpoint_per_az", zones, "AZ")


def _web_acl(acl: PlannedResource, _: _Index) -> Iterator[CostLine]:
    yield _flat("WAF web ACL", acl, "web_acl")
    yield _flat("WAF rules", acl, "web_acl_rule", float(len(acl.inputs.get("rules") or [])), "rules")


def _each(item: str, key: str) -> Callable[[PlannedResource, _Index], Iterator[CostLine]]:
    def line(resource: PlannedResource, _: _Index) -> Iterator[CostLine]:
        yield _flat(item, resource, key)

    return line


_PRICED: dict[str, Callable[[PlannedResource, _Index], Iterator[CostLine]]] = {
    "aws:autoscaling/group:Group": _instances,
    "aws:rds/instance:Instance": _database,
    "aws:elasticache/replicationGroup:ReplicationGroup": _cache,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _endpoint,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:ec2/natGateway:NatGateway": _each("NAT gateway", "nat_gateway"),
    "aws:ec2/eip:Eip": _each("Public IPv4 address", "public_ipv4"),
    "aws:lb/loadBalancer:LoadBalancer": _each("Application load balancer", "load_balancer"),
    "aws:kms/key:Key": _each("KMS key", "kms_key"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": _each("CloudWatch alarm", "alarm"),
    "aws:cloudwatch/dashboard:Dashboard": _each("CloudWatch dashboard", "dashboard"),
    "aws:secretsmanager/secret:Secret": _each("Secrets Manager secret", "secret"),
}


def _lines(resource: PlannedResource, index: _Index) -> Iterator[CostLine]:
    priced = _PRICED.get(resource.type)
    return priced(resource, index) if priced else iter(())
