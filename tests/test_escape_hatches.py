"""Components open up: a program adds its own resources on the ones the kit's components made, and the
offline plan shows them exactly as `pulumi up` would (no resource transforms, nothing the mock skips)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from infra.offline import PlanError, plan_stack
from infra.program import compose
from infra.spec import SpecError, StackSpec, load_stack_spec, parse_config
from tests.test_spec import config

BASTION_SG = "sg-0bastion000000000"


def _with_additions(spec: StackSpec) -> dict[str, Any]:
    stack = compose(spec)
    database, alb = stack.data.database, stack.edge.load_balancer
    # A bastion the team already runs may reach PostgreSQL: one rule on the database's own group.
    aws.vpc.SecurityGroupIngressRule(
        "bastion-to-db",
        security_group_id=database.security_group.id,
        referenced_security_group_id=BASTION_SG,
        ip_protocol="tcp",
        from_port=5432,
        to_port=5432,
        description="PostgreSQL from the team's bastion",
    )
    # A maintenance page in front of everything, on the listener CloudFront connects to.
    aws.lb.ListenerRule(
        "maintenance",
        listener_arn=alb.listener.arn,
        priority=1,
        conditions=[aws.lb.ListenerRuleConditionArgs(path_pattern={"values": ["/maintenance"]})],
        actions=[
            aws.lb.ListenerRuleActionArgs(
                type="fixed-response",
                fixed_response={"content_type": "text/plain", "status_code": "503"},
            )
        ],
    )
    return {**stack.outputs(spec), "primaryArn": database.primary.arn}


@pytest.fixture(scope="module")
def plan_with_additions() -> Any:
    return plan_stack(load_stack_spec("prod"), _with_additions)


def test_resources_added_on_exposed_ones_are_planned_with_their_references(plan_with_additions: Any) -> None:
    plan = plan_with_additions
    urns = plan.by_urn()
    (rule,) = [
        r
        for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r.name == "bastion-to-db"
    ]
    (group_urn,) = rule.property_dependencies["securityGroupId"]
    assert urns[group_urn].type == "aws:ec2/securityGroup:SecurityGroup"
    assert urns[group_urn].parent is not None and "Database::database" in urns[group_urn].parent
    (maintenance,) = [r for r in plan.by_type("aws:lb/listenerRule:ListenerRule") if r.name == "maintenance"]
    (listener_urn,) = maintenance.property_dependencies["listenerArn"]
    assert urns[listener_urn].inputs["protocol"] == "HTTPS"
    assert plan.outputs["primaryArn"].startswith("arn:aws:rds:")


def test_components_expose_the_resources_they_made() -> None:
    seen: dict[str, Any] = {}

    def build(spec: StackSpec) -> dict[str, Any]:
        stack = compose(spec)
        network, alb = stack.foundation.network, stack.edge.load_balancer
        seen.update(
            vpc=network.vpc,
            subnets=[s for tier in network.subnets.values() for s in tier],
            nat_gateways=network.nat_gateways,
            alb=alb.alb,
            https_listener=alb.https_listener,
            alb_security_group=alb.security_group,
            primary=stack.data.database.primary,
            replicas=stack.data.database.replicas,
            replication_group=stack.data.cache.replication_group,
            distribution=stack.edge.cdn.distribution,
            web_group=stack.compute.web.group,
            web_template=stack.compute.web.launch_template,
            web_target_group=stack.compute.web.target_group,
            worker_target_group=stack.compute.worker.target_group,
        )
        return stack.outputs(spec)

    spec = load_stack_spec("prod")
    plan_stack(spec, build)
    expected = {
        "vpc": aws.ec2.Vpc,
        "alb": aws.lb.LoadBalancer,
        "https_listener": aws.lb.Listener,
        "alb_security_group": aws.ec2.SecurityGroup,
        "primary": aws.rds.Instance,
        "replication_group": aws.elasticache.ReplicationGroup,
        "distribution": aws.cloudfront.Distribution,
        "web_group": aws.autoscaling.Group,
        "web_template": aws.ec2.LaunchTemplate,
        "web_target_group": aws.lb.TargetGroup,
    }
    for name, kind in expected.items():
        assert isinstance(seen[name], kind), name
    assert len(seen["subnets"]) == 3 * spec.network.availability_zones
    assert len(seen["nat_gateways"]) == (
        1 if spec.network.nat_gateways == "single" else spec.network.availability_zones
    )
    assert len(seen["replicas"]) == spec.database.read_replicas
    assert seen["worker_target_group"] is None  # the worker takes no traffic
    assert all(isinstance(r, pulumi.CustomResource) for r in seen["replicas"])


CDN_CERT = "arn:aws:acm:us-east-1:123456789012:certificate/0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"
ORIGIN_CERT = "arn:aws:acm:eu-west-1:123456789012:certificate/1a2b3c4d-5e6f-7081-92a3-b4c5d6e7f809"
DOMAIN = {"name": "app.example.com", "hostedZoneId": "Z0123456789EXAMPLE"}


def test_certificates_brought_along_are_used_and_none_are_requested() -> None:
    domain = {**DOMAIN, "cdnCertificateArn": CDN_CERT, "originCertificateArn": ORIGIN_CERT}
    spec = parse_config(config("prod", domain=domain), stack="prod", source="x.yaml")
    plan = plan_stack(spec)
    assert not plan.by_type("aws:acm/certificate:Certificate")
    assert not plan.by_type("aws:acm/certificateValidation:CertificateValidation")
    (distribution,) = plan.by_type("aws:cloudfront/distribution:Distribution")
    assert distribution.inputs["viewerCertificate"]["acmCertificateArn"] == CDN_CERT
    (https,) = [r for r in plan.by_type("aws:lb/listener:Listener") if r.inputs.get("protocol") == "HTTPS"]
    assert https.inputs["certificateArn"] == ORIGIN_CERT


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        (
            {"cdnCertificateArn": ORIGIN_CERT},
            "scalestack:domain.cdnCertificateArn: String should match pattern '^arn:aws:acm:us-east-1:",
        ),
        (
            {"originCertificateArn": CDN_CERT},
            "scalestack:domain.originCertificateArn: the certificate is in us-east-1 but the load balancer is in "
            "eu-west-1 (ACM certificates are regional): name one from eu-west-1",
        ),
    ],
)
def test_a_certificate_from_the_wrong_region_is_refused(domain: dict[str, str], expected: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_config(config("prod", domain={**DOMAIN, **domain}), stack="prod", source="x.yaml")
    assert expected in str(raised.value)


@pytest.mark.parametrize("stack_wide", [True, False])
def test_a_program_with_resource_transforms_is_refused_rather_than_planned_differently(
    stack_wide: bool,
) -> None:
    """The mock engine does not run transforms; `pulumi up` would. The plan says so instead of differing."""

    def untagged(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        return pulumi.ResourceTransformResult(props={**args.props, "tags": {}}, opts=args.opts)

    def build(spec: StackSpec) -> dict[str, Any]:
        if stack_wide:
            pulumi.runtime.register_resource_transform(untagged)
        aws.s3.Bucket("extra", opts=pulumi.ResourceOptions(transforms=[] if stack_wide else [untagged]))
        return {}

    with pytest.raises(
        PlanError, match=r"resource transforms are not run by the offline plan \(registered for: "
    ):
        plan_stack(load_stack_spec("dev"), build)
