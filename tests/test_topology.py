"""The real program under mocks, for every shipped stack: what it builds and how it is secured."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from infra.offline import FAKE_AMIS
from infra.planned import Plan, PlannedResource
from infra.policies.values import get, plain
from infra.program import ROLLOUT_CHECKPOINT_DELAY_SECONDS, ROLLOUT_CHECKPOINTS
from infra.spec import StackSpec
from scripts.deploy.ports import RolloutPreferences
from tests.conftest import SHIPPED_STACKS

Planned = Callable[[str], tuple[StackSpec, Plan]]
ASG = "aws:autoscaling/group:Group"
RDS = "aws:rds/instance:Instance"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"


def inputs(resource: PlannedResource) -> dict[str, Any]:
    return plain(resource.inputs)  # type: ignore[no-any-return]


def one(plan: Plan, type_token: str, name: str | None = None) -> PlannedResource:
    found = [r for r in plan.by_type(type_token) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def group_of(plan: Plan, rule: PlannedResource, key: str) -> PlannedResource:
    """The security group a rule's input came from, followed through the engine's property dependencies."""
    by_urn = plan.by_urn()
    groups = [by_urn[u] for u in rule.property_dependencies.get(key, ()) if by_urn[u].type == SECURITY_GROUP]
    assert len(groups) == 1, f"{rule.name}.{key} should come from one security group"
    return groups[0]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_load_balancer_is_public_but_admits_only_cloudfront(stack: str, planned: Planned) -> None:
    _, plan = planned(stack)
    alb = inputs(one(plan, "aws:lb/loadBalancer:LoadBalancer"))
    assert alb["internal"] is False and alb["dropInvalidHeaderFields"] is True
    assert alb["accessLogs"]["enabled"] is True
    alb_rules = [r for r in plan.by_type(INGRESS) if group_of(plan, r, "securityGroupId").name == "alb-sg"]
    assert len(alb_rules) == 1
    assert inputs(alb_rules[0])["prefixListId"] == "pl-3b927c52"
    assert "cidrIpv4" not in inputs(alb_rules[0])
    for listener_rule in plan.by_type("aws:lb/listenerRule:ListenerRule"):  # one per web service
        rule = inputs(listener_rule)
        headers = [c["httpHeader"] for c in rule["conditions"] if "httpHeader" in c]
        assert headers[0]["httpHeaderName"] == "X-Origin-Verify" and len(headers[0]["values"][0]) >= 32
    listener = inputs(
        one(
            plan,
            "aws:lb/listener:Listener",
            next(r.name for r in plan.by_type("aws:lb/listener:Listener") if "redirect" not in r.name),
        )
    )
    assert listener["defaultActions"][0]["fixedResponse"]["statusCode"] == "403"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_security_groups_chain_cloudfront_alb_app_data(stack: str, planned: Planned) -> None:
    _, plan = planned(stack)
    for rule in plan.by_type(INGRESS):
        values = inputs(rule)
        assert values.get("cidrIpv4") not in ("0.0.0.0/0",) and values.get("cidrIpv6") not in ("::/0",), (
            rule.name
        )
    admitted: dict[str, set[str]] = {}
    for rule in plan.by_type(INGRESS):
        if "referencedSecurityGroupId" in rule.inputs:
            target = group_of(plan, rule, "securityGroupId").name
            admitted.setdefault(target, set()).add(group_of(plan, rule, "referencedSecurityGroupId").name)
    spec, _ = planned(stack)
    services = spec.all_services
    assert admitted == {
        **{f"{s.name}-sg": {"alb-sg"} for s in services if s.web},
        "database-sg": {f"{s.name}-sg" for s in services if s.spec.uses_database},
        "cache-sg": {f"{s.name}-sg" for s in services if s.spec.uses_cache},
    }
    assert {"web-sg", "worker-sg"} <= admitted["database-sg"] & admitted["cache-sg"]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_instances_require_imdsv2_encrypted_disks_and_no_way_in(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    templates = plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert sorted(t.name for t in templates) == sorted(f"{s.name}-lt" for s in spec.all_services)
    for template in templates:
        values = inputs(template)
        assert values["metadataOptions"]["httpTokens"] == "required"
        assert values["metadataOptions"]["httpPutResponseHopLimit"] == 1
        assert values["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"
        assert values["networkInterfaces"][0]["associatePublicIpAddress"] == "false"
        assert "keyName" not in values
        # An AMI ID, not a resolve:ssm: reference: AWS cannot roll a refresh back to the latter.
        assert values["imageId"] == FAKE_AMIS["x86_64"]
        boot = base64.b64decode(values["userData"]).decode()
        assert f"scalestack-{stack}:{spec.image_tag}" in boot
    web = inputs(one(plan, ASG, "web-asg"))
    assert web["healthCheckType"] == "ELB"
    assert (web["minSize"], web["maxSize"]) == (spec.web.min_size, spec.web.max_size)
    # No provider-managed refresh (it cannot roll back to the previous version); the pipeline starts it.
    assert "instanceRefresh" not in web
    assert len(web["vpcZoneIdentifiers"]) == spec.network.availability_zones
    policies = {
        inputs(p)["targetTrackingConfiguration"]["predefinedMetricSpecification"]["predefinedMetricType"]
        for p in plan.by_type("aws:autoscaling/policy:Policy")
        if p.name.startswith("web-")
    }
    assert policies == {"ASGAverageCPUUtilization", "ALBRequestCountPerTarget"}
    worker = inputs(one(plan, ASG, "worker-asg"))
    assert ("mixedInstancesPolicy" in worker) is spec.worker.spot


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_database_primary_and_replicas(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    instances = {r.name: inputs(r) for r in plan.by_type(RDS)}
    primary = instances.pop("database-primary")
    assert len(instances) == spec.database.read_replicas
    assert primary["storageEncrypted"] is True and primary["publiclyAccessible"] is False
    assert primary["manageMasterUserPassword"] is True and "password" not in primary
    assert primary["multiAz"] is spec.database.multi_az
    assert primary["deletionProtection"] is spec.database.deletion_protection
    assert primary["backupRetentionPeriod"] == spec.database.backup_retention_days
    zones = set()
    for replica in instances.values():
        assert replica["replicateSourceDb"] == primary["identifier"]
        assert replica["storageEncrypted"] is True and replica["publiclyAccessible"] is False
        zones.add(replica["availabilityZone"])
    assert len(zones) == len(instances)
    params = {
        p["name"]: p["value"]
        for p in inputs(one(plan, "aws:rds/parameterGroup:ParameterGroup"))["parameters"]
    }
    assert params["rds.force_ssl"] == "1"


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_cache_encrypted_with_auth_and_failover_where_replicated(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    group = inputs(one(plan, "aws:elasticache/replicationGroup:ReplicationGroup"))
    assert group["atRestEncryptionEnabled"] is True and group["transitEncryptionEnabled"] is True
    assert len(group["authToken"]) >= 32
    assert group["numCacheClusters"] == 1 + spec.cache.replicas
    assert group["automaticFailoverEnabled"] is (spec.cache.replicas >= 1)
    assert group["multiAzEnabled"] is (spec.cache.replicas >= 1)


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_cloudfront_redirects_to_https_and_signs_origin_requests(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    distribution = inputs(one(plan, "aws:cloudfront/distribution:Distribution"))
    behaviors = [distribution["defaultCacheBehavior"], *distribution["orderedCacheBehaviors"]]
    assert {b["viewerProtocolPolicy"] for b in behaviors} == {"redirect-to-https"}
    assert distribution["httpVersion"] == "http2and3"
    assert distribution["priceClass"] == spec.cdn.price_class
    app = next(o for o in distribution["origins"] if o["originId"] == "app")
    assert app["customHeaders"][0]["name"] == "X-Origin-Verify"
    expected = "https-only" if spec.domain else "http-only"
    assert app["customOriginConfig"]["originProtocolPolicy"] == expected
    static = next(o for o in distribution["origins"] if o["originId"] == "static")
    assert static["originAccessControlId"]
    assert ("webAclId" in distribution) is spec.cdn.web_acl


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_network_shape_per_environment(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    zones = spec.network.availability_zones
    assert len(plan.by_type("aws:ec2/subnet:Subnet")) == 3 * zones
    nats = len(plan.by_type("aws:ec2/natGateway:NatGateway"))
    assert nats == (1 if spec.network.nat_gateways == "single" else zones)
    data_tables = [
        inputs(t) for t in plan.by_type("aws:ec2/routeTable:RouteTable") if t.name.endswith("data-rt")
    ]
    assert data_tables == [{"vpcId": "network-vpc-id", "tags": {"Name": "network-data"}}]


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_no_policy_grants_every_action_on_everything(stack: str, planned: Planned) -> None:
    _, plan = planned(stack)
    documents = [
        json.loads(inputs(r)[key])
        for r in plan.resources
        for key in ("policy", "assumeRolePolicy")
        if isinstance(inputs(r).get(key), str) and inputs(r)[key].startswith("{")
    ]
    documents = [d for d in documents if "Statement" in d]  # IAM, bucket and key policies, not ECR lifecycles
    assert len(documents) >= 8
    for document in documents:
        for statement in document["Statement"]:
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            resources = statement.get("Resource")
            resources = [resources] if isinstance(resources, str) else resources or []
            assert not ("*" in actions and "*" in resources), statement


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_instance_role_reaches_only_this_stacks_repository_and_settings(stack: str, planned: Planned) -> None:
    _, plan = planned(stack)
    policy = json.loads(inputs(one(plan, "aws:iam/rolePolicy:RolePolicy", "web-access"))["policy"])
    by_action = {action: s["Resource"] for s in policy["Statement"] for action in s["Action"]}
    assert by_action["ecr:BatchGetImage"] == [f"arn:aws:ecr:us-east-1:123456789012:scalestack-{stack}"]
    assert by_action["ssm:GetParametersByPath"][0].endswith(f":parameter/scalestack/{stack}/app")
    assert all(
        arn.startswith("arn:aws:secretsmanager:") for arn in by_action["secretsmanager:GetSecretValue"]
    )
    metrics = next(s for s in policy["Statement"] if s["Action"] == ["cloudwatch:PutMetricData"])
    assert metrics["Condition"] == {"StringEquals": {"cloudwatch:namespace": f"scalestack/{stack}"}}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_stack_outputs(stack: str, planned: Planned) -> None:
    spec, plan = planned(stack)
    outputs = plan.outputs
    assert outputs["url"] == (
        f"https://{spec.domain.name}" if spec.domain else "https://cdn.cloudfront.example"
    )
    assert len(outputs["dbReplicaEndpoints"]) == spec.database.read_replicas
    assert outputs["dbInstanceIds"][0] == f"scalestack-{stack}-db"
    for key in (
        "albDnsName",
        "cacheEndpoint",
        "ecrRepositoryUrl",
        "webAsgName",
        "workerAsgName",
        "dashboardUrl",
    ):
        assert outputs[key], key
    assert set(outputs["rollout"]["alarmNames"]) <= set(outputs["alarmNames"])
    # The pipeline reads its refresh preferences from this output, and from nowhere else.
    preferences = RolloutPreferences.from_output(outputs["rollout"], "web")
    assert preferences.checkpoint_delay_seconds == ROLLOUT_CHECKPOINT_DELAY_SECONDS
    assert preferences.checkpoint_percentages == ROLLOUT_CHECKPOINTS
    assert preferences.min_healthy_percentage == spec.web.min_healthy_percent


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_groups_pin_a_version_that_pulumi_up_never_moves(stack: str, planned: Planned) -> None:
    """Each group starts on its template's numbered latest version, and `pulumi up` ignores that input
    afterwards (the path must name the input the group really has), so only the pipeline's refresh moves
    it; the pipeline reads each template's id and latest version from the `launchTemplates` output."""
    _, plan = planned(stack)
    for role in ("web", "worker"):
        group = one(plan, ASG, f"{role}-asg")
        pinned = [path for path in group.ignore_changes if path.endswith(".version")]
        assert len(pinned) == 1, group.ignore_changes
        assert get(inputs(group), pinned[0]) == "1"  # the mocked template's latestVersion, as a number
        assert plan.outputs["launchTemplates"][role] == {"id": f"{role}-lt-id", "version": 1}


def test_graviton_types_get_the_arm64_image() -> None:
    from infra.offline import plan_stack
    from infra.spec import parse_config

    config = {
        "aws:region": "us-east-1",
        "scalestack:environment": "dev",
        "scalestack:imageTag": "1",
        "scalestack:app": {"architecture": "arm64"},
        "scalestack:web": {"instanceType": "m7g.large"},
        "scalestack:worker": {"instanceType": "c7g.large"},
    }
    plan = plan_stack(parse_config(config, stack="arm", source="Pulumi.arm.yaml"))
    images = {t.name: inputs(t)["imageId"] for t in plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")}
    assert images == {"web-lt": FAKE_AMIS["arm64"], "worker-lt": FAKE_AMIS["arm64"]}


@pytest.mark.parametrize("stack", SHIPPED_STACKS)
def test_target_group_uses_the_specs_algorithm_and_never_slow_start_without_round_robin(
    stack: str, planned: Planned
) -> None:
    """AWS refuses a target group with slow start and least_outstanding_requests (ALB user guide)."""
    spec, plan = planned(stack)
    target_groups = plan.by_type("aws:lb/targetGroup:TargetGroup")
    assert len(target_groups) == len([s for s in spec.all_services if s.web])
    for target_group in target_groups:
        algorithm, slow_start = (
            inputs(target_group)["loadBalancingAlgorithmType"],
            inputs(target_group)["slowStart"],
        )
        assert algorithm == spec.load_balancer.algorithm
        assert slow_start == spec.load_balancer.slow_start_seconds
        assert slow_start == 0 or algorithm == "round_robin", (algorithm, slow_start)
