"""Run the real program under Pulumi's mock engine: no CLI, no credentials, no network.

The mock engine answers every resource registration with its inputs plus the few computed outputs
other resources read (ARNs, endpoints, DNS names), and every provider function the program calls
with a fixed, plausible answer. What the program registered is recorded as it reaches the engine,
so a plan shows exactly the inputs `pulumi up` would send.
"""

from __future__ import annotations

import hashlib
import ipaddress
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _sync_await

from infra import hosts
from infra.planned import Plan, PlannedResource
from infra.spec import NetworkSpec, StackSpec

PROJECT_ROOT = Path(__file__).resolve().parents[1]

PROJECT = "scalestack"
ACCOUNT_ID = "123456789012"
FAKE_AMIS = {"x86_64": "ami-0a1b2c3d4e5f60718", "arm64": "ami-0f1e2d3c4b5a69788"}


class PlanError(Exception):
    """The program cannot be planned as written (a defect in the program, not in the stack file)."""


class _FakeCloud(pulumi.runtime.Mocks):
    """Plausible computed outputs for the resources and provider functions the program uses."""

    def __init__(self, region: str, network: NetworkSpec | None = None) -> None:
        self.region = region
        self.existing = _existing_network(region, network) if network and network.existing_vpc_id else {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        # A physical name the program chose wins over the logical one, which stands in for autonaming.
        state: dict[str, Any] = {"name": args.name, **args.inputs}
        physical = str(state["name"])
        service = args.typ.split(":")[1].split("/")[0]
        state.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{physical}")
        computed = _COMPUTED.get(args.typ)
        if computed:
            state.update(computed(physical, self.region, args.inputs))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        if args.token in _LOOKUPS:
            found = self.existing.get(str(args.args.get("id")))
            if found is None:
                raise PlanError(
                    f"{args.token}: {args.args.get('id')} is not in the stack's network.existing* keys"
                )
            return found
        answer = _CALLS.get(args.token)
        if answer is None:
            raise PlanError(f"the offline plan has no answer for provider function {args.token}")
        return answer(self.region, args.args)


def _az_names(region: str, _: Mapping[str, Any]) -> dict[str, Any]:
    names = [f"{region}{suffix}" for suffix in "abcdef"]
    return {
        "names": names,
        "zoneIds": [f"use1-az{i}" for i in range(1, 7)],
        "id": region,
        "state": "available",
    }


_CALLS: dict[str, Callable[[str, Mapping[str, Any]], dict[str, Any]]] = {
    "aws:index/getAvailabilityZones:getAvailabilityZones": _az_names,
    "aws:ec2/getManagedPrefixList:getManagedPrefixList": lambda region, args: {
        "id": "pl-3b927c52",
        "name": args.get("name", ""),
        "addressFamily": "IPv4",
    },
    "aws:index/getCallerIdentity:getCallerIdentity": lambda region, _: {
        "accountId": ACCOUNT_ID,
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan",
        "userId": "AIDAPLAN",
        "id": ACCOUNT_ID,
    },
    # A service's own image repository (`imageRepository`), looked up by name in the stack's account.
    "aws:ecr/getRepository:getRepository": lambda region, args: {
        "name": args["name"],
        "arn": f"arn:aws:ecr:{region}:{ACCOUNT_ID}:repository/{args['name']}",
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{args['name']}",
        "registryId": ACCOUNT_ID,
        "id": args["name"],
    },
    "aws:index/getRegion:getRegion": lambda region, _: {"region": region, "name": region, "id": region},
    "aws:ssm/getParameter:getParameter": lambda region, args: {
        "name": args["name"],
        "value": FAKE_AMIS["arm64" if str(args["name"]).endswith("arm64") else "x86_64"],
        "type": "String",
        "id": args["name"],
    },
    "aws:elb/getServiceAccount:getServiceAccount": lambda region, _: {
        "arn": "arn:aws:iam::127311923021:root",
        "id": "127311923021",
    },
}


# Lookups of what the stack brings (network.existingVpcId and existingSubnetIds), answered from the spec.
_LOOKUPS = frozenset({"aws:ec2/getVpc:getVpc", "aws:ec2/getSubnet:getSubnet"})


def _existing_network(region: str, network: NetworkSpec) -> dict[str, dict[str, Any]]:
    """What AWS would answer for the VPC and subnets the stack names: the VPC's block is the spec's `cidr`
    (the owner states it), the subnets are laid out as the kit lays out its own (one per zone, in the order
    listed, a /(prefix+4) block each). `pulumi up` reads the real ones; a plan takes the spec's word.
    """
    assert network.existing_vpc_id and network.existing_subnet_ids
    vpc = network.existing_vpc_id
    answers: dict[str, dict[str, Any]] = {
        vpc: {"id": vpc, "cidrBlock": network.cidr, "arn": f"arn:aws:ec2:{region}:{ACCOUNT_ID}:vpc/{vpc}"}
    }
    blocks = list(
        ipaddress.IPv4Network(network.cidr).subnets(
            new_prefix=ipaddress.IPv4Network(network.cidr).prefixlen + 4
        )
    )
    for t, tier in enumerate(("public", "app", "data")):
        for i, subnet in enumerate(getattr(network.existing_subnet_ids, tier)):
            answers[subnet] = {
                "id": subnet,
                "vpcId": vpc,
                "availabilityZone": f"{region}{'abcdef'[i]}",
                "cidrBlock": str(blocks[t * 4 + i]),
                "mapPublicIpOnLaunch": False,
            }
    return answers


def _hostname(name: str, region: str, service: str) -> str:
    return f"{name}.{service}.{region}.amazonaws.example"


def _member_clusters(inputs: Mapping[str, Any]) -> list[str]:
    """The node clusters ElastiCache creates for a cluster-mode-disabled group: `<group id>-001`, -002, ...

    The naming AWS uses (observed, e.g. https://github.com/widdix/aws-cf-templates/issues/571); the kit
    itself only reads them from the provider's member_clusters output, never builds them.
    """
    group = str(inputs.get("replicationGroupId", "cache"))
    return [f"{group}-{node:03d}" for node in range(1, int(inputs.get("numCacheClusters", 1)) + 1)]


_COMPUTED: dict[str, Callable[[str, str, Mapping[str, Any]], dict[str, Any]]] = {
    "aws:lb/loadBalancer:LoadBalancer": lambda name, region, _: {
        "dnsName": _hostname(name, region, "elb"),
        "zoneId": "Z35SXDOTRQ7X7K",
        "arnSuffix": f"app/{name}/0123456789abcdef",
    },
    "aws:lb/targetGroup:TargetGroup": lambda name, region, _: {
        "arnSuffix": f"targetgroup/{name}/0123456789abcdef"
    },
    "aws:rds/instance:Instance": lambda name, region, inputs: {
        "identifier": inputs.get("identifier", name),
        "address": _hostname(name, region, "rds"),
        "endpoint": _hostname(name, region, "rds") + ":5432",
        # DbiResourceId: unique per instance, replicas included (what rds-db:connect ARNs name).
        "resourceId": "db-" + hashlib.sha256(name.encode()).hexdigest()[:26].upper(),
        "masterUserSecrets": [
            {
                "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!{name}",
                "kmsKeyId": "key",
            }
        ],
    },
    "aws:elasticache/replicationGroup:ReplicationGroup": lambda name, region, inputs: {
        "primaryEndpointAddress": "master." + _hostname(name, region, "cache"),
        "readerEndpointAddress": "replica." + _hostname(name, region, "cache"),
        "memberClusters": _member_clusters(inputs),
    },
    "aws:cloudfront/distribution:Distribution": lambda name, region, _: {
        "domainName": f"{name}.cloudfront.example",
        "hostedZoneId": "Z2FDTNDATAQYW2",
    },
    "aws:ecr/repository:Repository": lambda name, region, _: {
        "repositoryUrl": f"{ACCOUNT_ID}.dkr.ecr.{region}.amazonaws.com/{name}"
    },
    "aws:ec2/launchTemplate:LaunchTemplate": lambda name, region, _: {"latestVersion": 1},
    "aws:kms/key:Key": lambda name, region, _: {"keyId": f"{name}-key-id"},
    "aws:s3/bucket:Bucket": lambda name, region, inputs: {
        "bucket": inputs.get("bucket", name),
        "bucketRegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        "bucketDomainName": f"{name}.s3.amazonaws.com",
    },
    # ACM answers one validation option per name on the certificate, subject alternative names included;
    # a wildcard's record is its base name's (hosts.ACM_WILDCARD_VALIDATION_SOURCE).
    "aws:acm/certificate:Certificate": lambda name, region, inputs: {
        "domainValidationOptions": [
            {
                "domainName": domain,
                "resourceRecordName": f"_validation.{hosts.validation_name(str(domain))}.",
                "resourceRecordType": "CNAME",
                "resourceRecordValue": "_validation.acm-validations.aws.",
            }
            for domain in [inputs.get("domainName"), *(inputs.get("subjectAlternativeNames") or [])]
        ]
    },
    "aws:route53/record:Record": lambda name, region, inputs: {
        "fqdn": str(inputs.get("name", name)).rstrip(".")
    },
    "random:index/randomPassword:RandomPassword": lambda name, region, inputs: {
        "result": "x" * int(inputs.get("length", 32))
    },
}


def _plain_assets(value: Any) -> Any:
    """Assets and archives (a Lambda's code) as data: the SDK's objects compare and print by identity.

    A file asset is named by its path relative to the project, as the code that deploys it is.
    """
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": str(Path(value.path).resolve().relative_to(PROJECT_ROOT))}
    if isinstance(value, pulumi.AssetArchive):
        return {"archive": {name: _plain_assets(member) for name, member in sorted(value.assets.items())}}
    if isinstance(value, dict):
        return {key: _plain_assets(member) for key, member in value.items()}
    if isinstance(value, list):
        return [_plain_assets(member) for member in value]
    return value


def _is_stack(urn: str) -> bool:
    return "::pulumi:pulumi:Stack::" in urn


class _RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock monitor, recording each registration with its parent and dependencies.

    The stock mock monitor accepts a second resource with the URN of an earlier one; the engine does
    not, so duplicates are recorded here and fail the plan.
    """

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.registered: list[PlannedResource] = []
        self.duplicates: list[str] = []
        self.transformed: list[str] = []  # resources registered with transforms, "stack" for stack-wide ones
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # The engine leaves the stack out of its children's type chain; so does a plan.
        return super().make_urn("" if _is_stack(parent) else parent, type_, name)

    def RegisterStackTransform(self, request: Any) -> Any:
        self.transformed.append("stack")
        return super().RegisterStackTransform(request)

    def RegisterResource(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.transforms:
            self.transformed.append(request.name)
        inputs = rpc.deserialize_properties(request.object)
        args = pulumi.runtime.MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, custom=request.custom or False
        )
        resource_id, state = self.mocks.new_resource(args)
        with self._lock:
            if urn in self._seen:
                self.duplicates.append(urn)
            self._seen.add(urn)
            self.registered.append(
                PlannedResource(
                    type=request.type,
                    name=request.name,
                    urn=urn,
                    parent=None if _is_stack(request.parent) else request.parent,
                    inputs=_plain_assets(inputs),
                    custom=request.custom or False,
                    property_dependencies={
                        # A set to the engine, in arbitrary order: sorted, so two plans of a stack compare.
                        key: tuple(sorted(deps.urns))
                        for key, deps in request.propertyDependencies.items()
                        if deps.urns
                    },
                    ignore_changes=tuple(request.ignoreChanges),
                    dependencies=tuple(sorted(set(request.dependencies))),
                )
            )
            self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id or "", state)
        obj = _sync_await(rpc.serialize_properties(state, {}))
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id or "", object=obj)


def plan_stack(spec: StackSpec, build: Callable[[StackSpec], Mapping[str, Any]] | None = None) -> Plan:
    """Run `build` (the stack's program) under mocks and return what it registered and exported."""
    if build is None:
        from infra.program import build_stack

        build = build_stack
    monitor = _RecordingMonitor(_FakeCloud(spec.region, spec.network))
    pulumi.runtime.set_mocks(monitor.mocks, project=PROJECT, stack=spec.stack, preview=False, monitor=monitor)
    exported: dict[str, Any] = {}

    @pulumi.runtime.test
    def run() -> pulumi.Output[Any]:
        return pulumi.Output.from_input(build(spec)).apply(exported.update)

    run()
    if monitor.transformed:
        # The engine runs transforms during `pulumi up`; the mock engine would skip them, and a plan that
        # differs from what `up` sends is worse than none.
        raise PlanError(
            "resource transforms are not run by the offline plan (registered for: "
            + ", ".join(monitor.transformed)
            + "): reach the components' exposed resources instead (DESIGN.md, escape hatches)"
        )
    if monitor.duplicates:
        raise PlanError(
            "duplicate resource names (the engine would refuse them): " + ", ".join(monitor.duplicates)
        )
    return Plan(stack=spec.stack, resources=tuple(monitor.registered), outputs=exported)
