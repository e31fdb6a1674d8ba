"""The VPC: three subnet tiers per availability zone, NAT, VPC endpoints and flow logs."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

from infra.reachability import INSTANCE_AWS_SERVICES

# Interface endpoints that keep the app's AWS traffic (image pulls, Session Manager, logs) off the NAT;
# the reachability analysis checks the instances reach each of them.
INTERFACE_ENDPOINT_SERVICES = INSTANCE_AWS_SERVICES
TIERS = ("public", "app", "data")


@dataclass(frozen=True)
class NetworkArgs:
    cidr: str
    """IPv4 block of the VPC; cut into /(prefix+4) subnets, one per tier and AZ."""
    availability_zones: int
    """How many AZs the subnets span (2 or 3)."""
    nat_gateways: Literal["single", "one-per-az"]
    """`one-per-az` keeps egress up when an AZ fails; `single` saves cost."""
    interface_endpoints: bool
    """Private endpoints for ECR, SSM, CloudWatch Logs and Secrets Manager."""
    flow_log_retention_days: int
    """Days VPC flow logs (rejected traffic) stay in CloudWatch Logs."""
    logs_key_arn: pulumi.Input[str]
    """The customer-managed key the log groups are encrypted with (infra.kms.logs_key)."""
    existing_vpc_id: str | None
    """Bring your own: look this VPC up instead of creating one (with `existing_subnet_ids`)."""
    existing_subnet_ids: Mapping[str, Sequence[str]] | None
    """Per tier (public, app, data), the existing subnets to place resources in, one per zone."""


class Network(pulumi.ComponentResource):
    """A VPC with public subnets (load balancer, NAT), private app subnets and isolated data subnets.

    The data subnets have no route to the internet at all: databases and caches are reachable only
    from inside the VPC.
    """

    vpc: aws.ec2.Vpc | None
    """None for an existing VPC, which the stack looks up and does not manage."""
    subnets: dict[str, list[aws.ec2.Subnet]]
    """Per tier (public, app, data), one subnet per availability zone; empty for an existing VPC."""
    nat_gateways: list[aws.ec2.NatGateway]
    vpc_id: pulumi.Output[str]
    cidr: str
    availability_zones: list[str]
    public_subnet_ids: list[pulumi.Output[str]]
    app_subnet_ids: list[pulumi.Output[str]]
    data_subnet_ids: list[pulumi.Output[str]]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("scalestack:network:Network", name, None, opts)
        if args.existing_vpc_id:
            self._look_up(args.existing_vpc_id, args.existing_subnet_ids or {})
            self._register()
            return
        child = pulumi.ResourceOptions(parent=self)
        zones = aws.get_availability_zones(state="available", opts=pulumi.InvokeOptions(parent=self))
        self.availability_zones = list(zones.names[: args.availability_zones])
        self.cidr = args.cidr
        self._region = aws.get_region_output(opts=pulumi.InvokeOutputOptions(parent=self)).region

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": name},
            opts=child,
        )
        self.vpc, self.vpc_id = vpc, vpc.id
        # The default security group admits all traffic between its members: strip it of every rule.
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, opts=child)

        blocks = _subnet_blocks(args.cidr)
        subnets = {
            tier: [
                aws.ec2.Subnet(
                    _subnet_name(name, tier, zone),
                    vpc_id=vpc.id,
                    cidr_block=str(blocks[t * 4 + i]),
                    availability_zone=zone,
                    map_public_ip_on_launch=False,
                    tags={"Name": f"{name}-{tier}-{zone}", "scalestack:tier": tier},
                    opts=child,
                )
                for i, zone in enumerate(self.availability_zones)
            ]
            for t, tier in enumerate(TIERS)
        }
        self.subnets = subnets
        self.public_subnet_ids = [s.id for s in subnets["public"]]
        self.app_subnet_ids = [s.id for s in subnets["app"]]
        self.data_subnet_ids = [s.id for s in subnets["data"]]

        gateway = self._public_routes(name, vpc, subnets["public"], child)
        app_tables = self._app_routes(
            name, vpc, gateway, subnets["public"], subnets["app"], args.nat_gateways, child
        )
        data_table = aws.ec2.RouteTable(
            f"{name}-data-rt", vpc_id=vpc.id, tags={"Name": f"{name}-data"}, opts=child
        )
        for zone, subnet in zip(self.availability_zones, subnets["data"], strict=True):
            aws.ec2.RouteTableAssociation(
                f"{_subnet_name(name, 'data', zone)}-rta",
                subnet_id=subnet.id,
                route_table_id=data_table.id,
                opts=child,
            )

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=pulumi.Output.concat("com.amazonaws.", self._region, ".s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in app_tables],
            opts=child,
        )
        if args.interface_endpoints:
            self._interface_endpoints(name, vpc, child)
        self._flow_logs(name, vpc, args.flow_log_retention_days, args.logs_key_arn, child)
        self._register()

    def _look_up(self, vpc_id: str, subnet_ids: Mapping[str, Sequence[str]]) -> None:
        """An existing VPC and its subnets: read, never managed. Its routes, NAT, endpoints and flow logs are
        its owner's; the kit places its resources in the subnets named per tier."""
        invoke = pulumi.InvokeOptions(parent=self)
        vpc = aws.ec2.get_vpc(id=vpc_id, opts=invoke)
        found = {tier: [aws.ec2.get_subnet(id=s, opts=invoke) for s in subnet_ids[tier]] for tier in TIERS}
        strays = [
            f"{s.id} (in {s.vpc_id})" for subnets in found.values() for s in subnets if s.vpc_id != vpc.id
        ]
        if strays:
            # RunError: the engine prints the message alone, not a traceback.
            raise pulumi.RunError(
                f"scalestack:network.existingSubnetIds: {', '.join(strays)} not in existingVpcId {vpc_id}"
            )
        self.vpc, self.subnets, self.nat_gateways = None, {}, []
        self.vpc_id, self.cidr = pulumi.Output.from_input(vpc.id), vpc.cidr_block
        # The data subnets' zones: where the database places its replicas.
        self.availability_zones = [s.availability_zone for s in found["data"]]
        ids = {tier: [pulumi.Output.from_input(s.id) for s in subnets] for tier, subnets in found.items()}
        self.public_subnet_ids, self.app_subnet_ids, self.data_subnet_ids = (
            ids["public"],
            ids["app"],
            ids["data"],
        )

    def _register(self) -> None:
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "appSubnetIds": self.app_subnet_ids,
                "dataSubnetIds": self.data_subnet_ids,
            }
        )

    def _public_routes(
        self, name: str, vpc: aws.ec2.Vpc, public: list[aws.ec2.Subnet], child: pulumi.ResourceOptions
    ) -> aws.ec2.InternetGateway:
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        table = aws.ec2.RouteTable(
            f"{name}-public-rt",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=gateway.id)],
            tags={"Name": f"{name}-public"},
            opts=child,
        )
        for zone, subnet in zip(self.availability_zones, public, strict=True):
            aws.ec2.RouteTableAssociation(
                f"{_subnet_name(name, 'public', zone)}-rta",
                subnet_id=subnet.id,
                route_table_id=table.id,
                opts=child,
            )
        return gateway

    def _app_routes(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        internet: aws.ec2.InternetGateway,
        public: list[aws.ec2.Subnet],
        app: list[aws.ec2.Subnet],
        strategy: str,
        child: pulumi.ResourceOptions,
    ) -> list[aws.ec2.RouteTable]:
        """Each app subnet egresses through the NAT in its own AZ, or through the single NAT."""
        zones = self.availability_zones
        gateways: list[aws.ec2.NatGateway] = []
        self.nat_gateways = gateways
        for zone, subnet in list(zip(zones, public, strict=True))[
            : 1 if strategy == "single" else len(public)
        ]:
            nat_name = f"{name}-nat-{zone[-1]}"
            address = aws.ec2.Eip(f"{nat_name}-ip", domain="vpc", opts=child)
            # A public NAT gateway needs the VPC's internet gateway attached, or AWS fails it with
            # Gateway.NotAttached; nothing in its inputs says so, hence the explicit dependency
            # (https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/nat_gateway).
            gateways.append(
                aws.ec2.NatGateway(
                    nat_name,
                    subnet_id=subnet.id,
                    allocation_id=address.id,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[internet]),
                )
            )
        tables = []
        for i, (zone, subnet) in enumerate(zip(zones, app, strict=True)):
            subnet_name = _subnet_name(name, "app", zone)
            table = aws.ec2.RouteTable(
                f"{subnet_name}-rt",
                vpc_id=vpc.id,
                routes=[
                    aws.ec2.RouteTableRouteArgs(
                        cidr_block="0.0.0.0/0", nat_gateway_id=gateways[i % len(gateways)].id
                    )
                ],
                tags={"Name": subnet_name},
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{subnet_name}-rta", subnet_id=subnet.id, route_table_id=table.id, opts=child
            )
            tables.append(table)
        return tables

    def _interface_endpoints(self, name: str, vpc: aws.ec2.Vpc, child: pulumi.ResourceOptions) -> None:
        group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            vpc_id=vpc.id,
            description="HTTPS from inside the VPC to AWS endpoints",
            opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-https",
            security_group_id=group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=self.cidr,
            description="HTTPS from the VPC",
            opts=child,
        )
        for service in INTERFACE_ENDPOINT_SERVICES:
            aws.ec2.VpcEndpoint(
                f"{name}-{service.replace('.', '-')}",
                vpc_id=vpc.id,
                service_name=pulumi.Output.concat("com.amazonaws.", self._region, f".{service}"),
                vpc_endpoint_type="Interface",
                private_dns_enabled=True,
                subnet_ids=self.app_subnet_ids,
                security_group_ids=[group.id],
                opts=child,
            )

    def _flow_logs(
        self,
        name: str,
        vpc: aws.ec2.Vpc,
        retention_days: int,
        key_arn: pulumi.Input[str] | None,
        child: pulumi.ResourceOptions,
    ) -> None:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs", retention_in_days=retention_days, kms_key_id=key_arn, opts=child
        )
        role = aws.iam.Role(
            f"{name}-flow-logs-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs-write",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": [
                                    "logs:CreateLogStream",
                                    "logs:PutLogEvents",
                                    "logs:DescribeLogStreams",
                                ],
                                "Resource": [arn, f"{arn}:*"],
                            }
                        ],
                    }
                )
            ),
            opts=child,
        )
        aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=vpc.id,
            traffic_type="REJECT",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            opts=child,
        )


def _subnet_name(network: str, tier: str, zone: str) -> str:
    return f"{network}-{tier}-{zone[-1]}"


def _subnet_blocks(cidr: str) -> list[ipaddress.IPv4Network]:
    network = ipaddress.IPv4Network(cidr)
    return list(network.subnets(new_prefix=network.prefixlen + 4))
