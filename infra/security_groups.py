"""Security groups of the data tier: one port, admitted only from the named client groups."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_aws as aws


def admitting_clients(
    name: str,
    vpc_id: pulumi.Input[str],
    service: str,
    port: int,
    clients: Sequence[pulumi.Input[str]],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A group whose only ingress is `port` from each client group; no CIDR is ever admitted."""
    opts = pulumi.ResourceOptions(parent=parent)
    group = aws.ec2.SecurityGroup(
        f"{name}-sg", vpc_id=vpc_id, description=f"{service} from the app only", opts=opts
    )
    for i, client in enumerate(clients):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-client-{i}",
            security_group_id=group.id,
            referenced_security_group_id=client,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{service} from an app group",
            opts=opts,
        )
    return group
