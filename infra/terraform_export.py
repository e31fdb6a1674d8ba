"""The offline plan as a Terraform plan JSON, so scanners written for Terraform (checkov, trivy, conftest)
read what `pulumi up` would create.

pulumi-aws is bridged from the Terraform AWS provider: each Pulumi type token stands for one Terraform
resource type, and each input for one Terraform argument, camelCased and, for repeated blocks, pluralised
(`default_action` blocks become `defaultActions`). The export undoes both. The names come from the
provider's bridge metadata (`provider/cmd/pulumi-resource-aws/bridge-metadata.json` in pulumi/pulumi-aws,
`renames.resources` for the types and `renames.renamedProperties` for the arguments); pulumi-aws 7 renamed
the S3 `...V2` resources to the plain names (`aws:s3/bucket:Bucket` is `aws_s3_bucket`).

Terraform's plan JSON format: https://developer.hashicorp.com/terraform/internals/json-format
(nested blocks are lists of objects even when at most one is allowed; `configuration` carries each
argument's `references` to other resources, which scanners use to connect e.g. a bucket to its
public-access block). Pulumi records which resources an input came from (property dependencies), not
which of their attributes, so a reference names the resource (`aws_vpc.main`), as Terraform also does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infra.planned import Plan, PlannedResource, masked

FORMAT_VERSION = "1.2"
# The Terraform release whose plan format this mimics; scanners only check that it is there.
TERRAFORM_VERSION = "1.9.0"
AWS_PROVIDER = "registry.terraform.io/hashicorp/aws"
RANDOM_PROVIDER = "registry.terraform.io/hashicorp/random"

# Pulumi type token -> Terraform resource type, for every type the kit deploys and those issue 11's
# guardrails add (bridge-metadata.json, renames.resources). A new type fails the export (and
# tests/test_terraform_export.py) until it is added here.
TERRAFORM_TYPES: dict[str, str] = {
    "aws:acm/certificate:Certificate": "aws_acm_certificate",
    "aws:acm/certificateValidation:CertificateValidation": "aws_acm_certificate_validation",
    "aws:autoscaling/group:Group": "aws_autoscaling_group",
    "aws:autoscaling/lifecycleHook:LifecycleHook": "aws_autoscaling_lifecycle_hook",
    "aws:autoscaling/policy:Policy": "aws_autoscaling_policy",
    "aws:cloudfront/distribution:Distribution": "aws_cloudfront_distribution",
    "aws:cloudfront/originAccessControl:OriginAccessControl": "aws_cloudfront_origin_access_control",
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": "aws_cloudfront_response_headers_policy",
    "aws:cloudwatch/dashboard:Dashboard": "aws_cloudwatch_dashboard",
    "aws:cloudwatch/logDelivery:LogDelivery": "aws_cloudwatch_log_delivery",
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": "aws_cloudwatch_log_delivery_destination",
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": "aws_cloudwatch_log_delivery_source",
    "aws:cloudwatch/logGroup:LogGroup": "aws_cloudwatch_log_group",
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": "aws_cloudwatch_log_resource_policy",
    "aws:cloudwatch/metricAlarm:MetricAlarm": "aws_cloudwatch_metric_alarm",
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:ecr/lifecyclePolicy:LifecyclePolicy": "aws_ecr_lifecycle_policy",
    "aws:ecr/repository:Repository": "aws_ecr_repository",
    "aws:elasticache/replicationGroup:ReplicationGroup": "aws_elasticache_replication_group",
    "aws:elasticache/subnetGroup:SubnetGroup": "aws_elasticache_subnet_group",
    "aws:elasticache/user:User": "aws_elasticache_user",
    "aws:elasticache/userGroup:UserGroup": "aws_elasticache_user_group",
    "aws:iam/instanceProfile:InstanceProfile": "aws_iam_instance_profile",
    "aws:iam/role:Role": "aws_iam_role",
    "aws:iam/rolePolicy:RolePolicy": "aws_iam_role_policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": "aws_iam_role_policy_attachment",
    "aws:kms/alias:Alias": "aws_kms_alias",
    "aws:kms/key:Key": "aws_kms_key",
    "aws:kms/keyPolicy:KeyPolicy": "aws_kms_key_policy",
    "aws:lambda/function:Function": "aws_lambda_function",
    "aws:lambda/permission:Permission": "aws_lambda_permission",
    "aws:lb/listener:Listener": "aws_lb_listener",
    "aws:lb/listenerRule:ListenerRule": "aws_lb_listener_rule",
    "aws:lb/loadBalancer:LoadBalancer": "aws_lb",
    "aws:lb/targetGroup:TargetGroup": "aws_lb_target_group",
    "aws:rds/instance:Instance": "aws_db_instance",
    "aws:rds/parameterGroup:ParameterGroup": "aws_db_parameter_group",
    "aws:rds/subnetGroup:SubnetGroup": "aws_db_subnet_group",
    "aws:route53/record:Record": "aws_route53_record",
    "aws:s3/bucket:Bucket": "aws_s3_bucket",
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": (
        "aws_s3_bucket_lifecycle_configuration"
    ),
    "aws:s3/bucketLogging:BucketLogging": "aws_s3_bucket_logging",
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": "aws_s3_bucket_ownership_controls",
    "aws:s3/bucketPolicy:BucketPolicy": "aws_s3_bucket_policy",
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": "aws_s3_bucket_public_access_block",
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": (
        "aws_s3_bucket_server_side_encryption_configuration"
    ),
    "aws:s3/bucketVersioning:BucketVersioning": "aws_s3_bucket_versioning",
    "aws:secretsmanager/secret:Secret": "aws_secretsmanager_secret",
    "aws:secretsmanager/secretRotation:SecretRotation": "aws_secretsmanager_secret_rotation",
    "aws:secretsmanager/secretVersion:SecretVersion": "aws_secretsmanager_secret_version",
    "aws:sns/topic:Topic": "aws_sns_topic",
    "aws:sns/topicPolicy:TopicPolicy": "aws_sns_topic_policy",
    "aws:sns/topicSubscription:TopicSubscription": "aws_sns_topic_subscription",
    "aws:ssm/parameter:Parameter": "aws_ssm_parameter",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": "aws_vpc_security_group_egress_rule",
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": "aws_vpc_security_group_ingress_rule",
    "aws:wafv2/webAcl:WebAcl": "aws_wafv2_web_acl",
    "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration": (
        "aws_wafv2_web_acl_logging_configuration"
    ),
    "random:index/randomPassword:RandomPassword": "random_password",
}

# Arguments whose Terraform name is not the snake_case of the Pulumi name, by Terraform type: the bridge
# pluralises a repeated block (`origin` -> `origins`) and a few lists (`vpc_zone_identifier`); Terraform
# names that are already plural (`block_device_mappings`, `ingress`, `subnet_ids`) stay as they are.
# Keys are Pulumi paths inside the resource, dotted, list positions left out (renamedProperties).
RENAMED: dict[str, dict[str, str]] = {
    "aws_autoscaling_group": {
        "initialLifecycleHooks": "initial_lifecycle_hook",
        "tags": "tag",
        "vpcZoneIdentifiers": "vpc_zone_identifier",
        "mixedInstancesPolicy.launchTemplate.overrides": "override",
    },
    "aws_cloudfront_distribution": {
        "origins": "origin",
        "origins.customHeaders": "custom_header",
        "orderedCacheBehaviors": "ordered_cache_behavior",
    },
    "aws_cloudwatch_log_delivery": {"s3DeliveryConfigurations": "s3_delivery_configuration"},
    "aws_cloudwatch_metric_alarm": {"metricQueries": "metric_query"},
    "aws_db_parameter_group": {"parameters": "parameter"},
    "aws_ecr_repository": {"encryptionConfigurations": "encryption_configuration"},
    "aws_elasticache_replication_group": {"logDeliveryConfigurations": "log_delivery_configuration"},
    "aws_lb_listener": {"defaultActions": "default_action"},
    "aws_lb_listener_rule": {"actions": "action", "conditions": "condition"},
    "aws_route_table": {"routes": "route"},
    "aws_route53_record": {"aliases": "alias"},
    "aws_s3_bucket_lifecycle_configuration": {
        "rules": "rule",
        "rules.transitions": "transition",
        "rules.noncurrentVersionTransitions": "noncurrent_version_transition",
    },
    "aws_s3_bucket_logging": {"targetGrants": "target_grant"},
    "aws_s3_bucket_server_side_encryption_configuration": {"rules": "rule"},
    "aws_wafv2_web_acl": {"rules": "rule"},
    # The bridge turns Terraform's `filename` (a zip on disk) into the Pulumi archive `code`.
    "aws_lambda_function": {"code": "filename"},
}

# Map arguments: their keys are data (tag keys, metric dimension names), kept exactly as written.
MAP_ARGUMENTS = frozenset({"tags", "dimensions", "tagsAll"})

# How the plan records an asset or archive (a Lambda's code): Terraform names the zip file instead.
ASSET_KINDS = frozenset(
    {"archive", "fileAsset", "fileArchive", "stringAsset", "remoteAsset", "remoteArchive"}
)

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


class UnmappedTypeError(Exception):
    """The plan has a resource type the export has no Terraform name for."""


def snake_case(name: str) -> str:
    """`vpcSecurityGroupIds` -> `vpc_security_group_ids` (the bridge camelCases Terraform's names)."""
    return _CAMEL_BOUNDARY.sub("_", name).lower()


def terraform_type(resource: PlannedResource) -> str:
    try:
        return TERRAFORM_TYPES[resource.type]
    except KeyError:
        raise UnmappedTypeError(
            f"no Terraform resource type for {resource.type}: add it to TERRAFORM_TYPES in "
            "infra/terraform_export.py (its name is in pulumi-aws's bridge-metadata.json)"
        ) from None


def _argument(tf_type: str, path: str, name: str) -> str:
    return RENAMED.get(tf_type, {}).get(path, snake_case(name))


def _plain(value: Any) -> Any:
    """Numbers as Terraform prints them: the engine carries every number as a float."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def terraform_values(tf_type: str, inputs: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """Pulumi inputs (secrets already masked) as Terraform attribute values, nested blocks as lists."""
    values: dict[str, Any] = {}
    for key, value in inputs.items():
        here = f"{path}.{key}" if path else key
        values[_argument(tf_type, here, key)] = _value(tf_type, here, key, value)
    return values


def _value(tf_type: str, path: str, key: str, value: Any) -> Any:
    if isinstance(value, Mapping) and len(value) == 1 and next(iter(value)) in ASSET_KINDS:
        return f"{key}.zip"  # the archive `pulumi up` builds; its file names are data, not arguments
    if isinstance(value, Mapping):
        if key in MAP_ARGUMENTS:
            return {k: _plain(v) for k, v in value.items()}
        return [terraform_values(tf_type, value, path)]  # a nested block: a list of one
    if isinstance(value, list | tuple):
        return [
            terraform_values(tf_type, item, path) if isinstance(item, Mapping) else _plain(item)
            for item in value
        ]
    return _plain(value)


class _Addresses:
    """A Terraform address per resource: `<type>.<logical name>`, unique within the export."""

    def __init__(self, resources: list[PlannedResource]) -> None:
        self.by_urn: dict[str, str] = {}
        taken: set[str] = set()
        for resource in resources:
            base = f"{terraform_type(resource)}.{_identifier(resource.name)}"
            address, n = base, 1
            while address in taken:
                n += 1
                address = f"{base}_{n}"
            taken.add(address)
            self.by_urn[resource.urn] = address


def _identifier(name: str) -> str:
    """A Terraform identifier (letters, digits, `_`, `-`; not starting with a digit)."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", name)
    return cleaned if re.match(r"[A-Za-z_]", cleaned) else f"r_{cleaned}"


def _provider(tf_type: str) -> str:
    return RANDOM_PROVIDER if tf_type.startswith("random_") else AWS_PROVIDER


def _expressions(
    tf_type: str, resource: PlannedResource, values: Mapping[str, Any], addresses: _Addresses
) -> dict[str, Any]:
    """Each argument's expression: the resources it references (property dependencies) or its constant."""
    expressions: dict[str, Any] = {}
    for key in resource.inputs:
        argument = _argument(tf_type, key, key)
        sources = [
            addresses.by_urn[u] for u in resource.property_dependencies.get(key, ()) if u in addresses.by_urn
        ]
        expressions[argument] = {"references": sources} if sources else _constant(values[argument])
    return expressions


def _constant(value: Any) -> Any:
    """A literal's expression; blocks hold one expression per argument, as in Terraform's configuration."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return [{key: _constant(inner) for key, inner in block.items()} for block in value]
    return {"constant_value": value}


def export(plan: Plan) -> dict[str, Any]:
    """The plan as Terraform's `terraform show -json` of a plan that creates every resource."""
    resources = [r for r in plan.resources if r.custom and not r.type.startswith("pulumi:providers:")]
    addresses = _Addresses(resources)
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configured: list[dict[str, Any]] = []
    for resource in resources:
        tf_type = terraform_type(resource)
        address = addresses.by_urn[resource.urn]
        name = address.split(".", 1)[1]
        values = terraform_values(tf_type, masked(resource.inputs))
        common = {"address": address, "mode": "managed", "type": tf_type, "name": name}
        provider = _provider(tf_type)
        planned.append({**common, "provider_name": provider, "schema_version": 0, "values": values})
        changes.append(
            {
                **common,
                "provider_name": provider,
                "change": {"actions": ["create"], "before": None, "after": values, "after_unknown": {}},
            }
        )
        configured.append(
            {
                **common,
                "provider_config_key": provider.rsplit("/", 1)[1],
                "expressions": _expressions(tf_type, resource, values, addresses),
                "schema_version": 0,
                "depends_on": [addresses.by_urn[u] for u in resource.dependencies if u in addresses.by_urn],
            }
        )
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": _provider_config(plan),
            "root_module": {"resources": configured},
        },
    }


def _provider_config(plan: Plan) -> dict[str, Any]:
    config: dict[str, Any] = {"random": {"name": "random", "full_name": RANDOM_PROVIDER}}
    for provider in (r for r in plan.resources if r.type == "pulumi:providers:aws"):
        region = provider.inputs.get("region")
        config["aws"] = {
            "name": "aws",
            "full_name": AWS_PROVIDER,
            "expressions": {"region": {"constant_value": region}} if region else {},
        }
    return config
