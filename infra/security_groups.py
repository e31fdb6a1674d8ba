"""Security groups of the data tier: one port, admitted only from the named client groups."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_aws as aws


def admitting_clients(
    name: str,
    vpc_id: pulumi.Input[str],
    service: str,
    port: int,
    clients: Mapping[str, pulumi.Input[str]],
    parent: pulumi.Resource,
) -> aws.ec2.SecurityGroup:
    """A group whose only ingress is `port` from each client group; no CIDR is ever admitted.

    Each rule is named after its client (a service), so adding or removing a service creates or deletes
    its own rule and leaves the others be; named by position, the clients after it would be renamed, and
    a renamed resource is a replaced one. The alias is the name the rule had when rules were numbered in
    the same order, so a stack brought up then keeps its rules rather than replacing them
    (https://www.pulumi.com/docs/iac/concepts/options/aliases/).
    """
    group = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=vpc_id,
        description=f"{service} from the app only",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    for i, (client, client_group) in enumerate(clients.items()):
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-from-{client}",
            security_group_id=group.id,
            referenced_security_group_id=client_group,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=f"{service} from an app group",
            opts=pulumi.ResourceOptions(
                parent=parent, aliases=[pulumi.Alias(name=f"{name}-from-client-{i}")]
            ),
        )
    return group
