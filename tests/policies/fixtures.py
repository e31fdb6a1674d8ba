"""A small stack that passes every rule, and the tools to break it one rule at a time.

Resources are written as the engine sees them (type tokens, camelCase inputs, numbers as floats) and
wired by property dependencies, exactly like an offline plan; `FixtureStack.planned()` turns them into
`PlannedResource`s.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.planned import PlannedResource

UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
UNKNOWN_ARRAY = "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2"
SECRET = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": "s3cr3t-token"}


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:test::scalestack::{type_token}::{name}"


@dataclass
class Spec:
    type: str
    inputs: dict[str, Any]
    deps: dict[str, list[str]] = field(default_factory=dict)  # input -> names of source resources
    depends_on: list[str] = field(default_factory=list)  # explicit depends_on, by name


class FixtureStack:
    def __init__(self, specs: Mapping[str, Spec]) -> None:
        self.specs: dict[str, Spec] = copy.deepcopy(dict(specs))

    def urn_of(self, name: str) -> str:
        return urn(self.specs[name].type, name)

    def set(self, name: str, path: str, value: Any) -> FixtureStack:
        *parents, last = path.split(".")
        target = self.specs[name].inputs
        for key in parents:
            target = target.setdefault(key, {}) if isinstance(target, dict) else target[int(key)]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
        return self

    def unset(self, name: str, path: str) -> FixtureStack:
        *parents, last = path.split(".")
        target: Any = self.specs[name].inputs
        for key in parents:
            target = target[key] if isinstance(target, dict) else target[int(key)]
        target.pop(last, None)
        return self

    def drop(self, name: str) -> FixtureStack:
        del self.specs[name]
        return self

    def add(self, name: str, type_token: str, inputs: dict[str, Any], **deps: list[str]) -> FixtureStack:
        self.specs[name] = Spec(type_token, inputs, dict(deps))
        return self

    def depend(self, name: str, prop: str, *sources: str) -> FixtureStack:
        self.specs[name].deps[prop] = list(sources)
        return self

    def order(self, name: str, *first: str) -> FixtureStack:
        """`name` gets an explicit depends_on on the resources `first` (as pulumi.ResourceOptions does)."""
        self.specs[name].depends_on = list(first)
        return self

    def planned(self) -> list[PlannedResource]:
        return [
            PlannedResource(
                type=spec.type,
                name=name,
                urn=urn(spec.type, name),
                parent=None,
                inputs=copy.deepcopy(spec.inputs),
                property_dependencies={
                    prop: tuple(self.urn_of(s) for s in sources if s in self.specs)
                    for prop, sources in spec.deps.items()
                },
                # The engine's `dependencies`: the explicit ones plus every input's sources.
                dependencies=tuple(
                    sorted(
                        {self.urn_of(s) for s in spec.depends_on if s in self.specs}
                        | {
                            self.urn_of(s)
                            for sources in spec.deps.values()
                            for s in sources
                            if s in self.specs
                        }
                    )
                ),
            )
            for name, spec in self.specs.items()
        ]


def _doc(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _tls_deny(bucket: str) -> dict[str, Any]:
    return {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def _sg(description: str) -> Spec:
    return Spec("aws:ec2/securityGroup:SecurityGroup", {"description": description, "vpcId": "vpc-1"}, {})


def _ingress(
    group: str, port: float, description: str, *, cidr: str | None = None, source: str | None = None
) -> Spec:
    inputs: dict[str, Any] = {
        "securityGroupId": f"sg-{group}",
        "ipProtocol": "tcp",
        "fromPort": port,
        "toPort": port,
        "description": description,
    }
    deps = {"securityGroupId": [group]}
    if cidr:
        inputs["cidrIpv4"] = cidr
    if source:
        inputs["referencedSecurityGroupId"] = f"sg-{source}"
        deps["referencedSecurityGroupId"] = [source]
    return Spec("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", inputs, deps)


def _bucket_companions(
    bucket: str, *, versioned: bool, extra_statements: tuple[dict[str, Any], ...] = ()
) -> dict[str, Spec]:
    ref = {"bucket": [bucket]}
    specs = {
        f"{bucket}-public-access-block": Spec(
            "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
            {
                "bucket": bucket,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
            dict(ref),
        ),
        f"{bucket}-encryption": Spec(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            {
                "bucket": bucket,
                "rules": [
                    {
                        "applyServerSideEncryptionByDefault": {
                            "sseAlgorithm": "aws:kms",
                            "kmsMasterKeyId": "arn:key",
                        }
                    }
                ],
            },
            dict(ref),
        ),
        f"{bucket}-ownership": Spec(
            "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
            {"bucket": bucket, "rule": {"objectOwnership": "BucketOwnerEnforced"}},
            dict(ref),
        ),
        f"{bucket}-lifecycle": Spec(
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            {"bucket": bucket, "rules": [_lifecycle_rule(versioned)]},
            dict(ref),
        ),
        f"{bucket}-policy": Spec(
            "aws:s3/bucketPolicy:BucketPolicy",
            {"bucket": bucket, "policy": _doc(_tls_deny(bucket), *extra_statements)},
            dict(ref),
        ),
    }
    if versioned:
        specs[f"{bucket}-versioning"] = Spec(
            "aws:s3/bucketVersioning:BucketVersioning",
            {"bucket": bucket, "versioningConfiguration": {"status": "Enabled"}},
            dict(ref),
        )
    return specs


def _lifecycle_rule(versioned: bool) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": "expire",
        "status": "Enabled",
        "filter": {"prefix": ""},
        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 7.0},
    }
    if versioned:
        rule["noncurrentVersionExpiration"] = {"noncurrentDays": 30.0}
    return rule


ROOT_ADMINISTERS = {
    "Sid": "AccountAdministers",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
LOGS_MAY_ENCRYPT = {
    "Effect": "Allow",
    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
    "Resource": "*",
    "Condition": {
        "ArnLike": {"kms:EncryptionContext:aws:logs:arn": "arn:aws:logs:us-east-1:123456789012:log-group:*"}
    },
}
SECURITY_HEADERS = {
    "strictTransportSecurity": {
        "accessControlMaxAgeSec": 63072000.0,
        "includeSubdomains": True,
        "override": True,
    },
    "contentTypeOptions": {"override": True},
    "frameOptions": {"frameOption": "DENY", "override": True},
    "referrerPolicy": {"referrerPolicy": "strict-origin-when-cross-origin", "override": True},
}
CLOUDFRONT_READ = {
    "Effect": "Allow",
    "Principal": {"Service": "cloudfront.amazonaws.com"},
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::static/*",
    "Condition": {"StringEquals": {"AWS:SourceArn": "arn:aws:cloudfront::123456789012:distribution/E1"}},
}
EC2_TRUST = _doc(
    {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
)
APP_POLICY = _doc(
    {
        "Effect": "Allow",
        "Action": ["ssm:GetParameter", "secretsmanager:GetSecretValue"],
        "Resource": "arn:aws:ssm:us-east-1:123456789012:parameter/scalestack/*",
    }
)
MANAGED = "arn:aws:iam::aws:policy/"


def dashboard_body(*extra_widgets: dict[str, Any]) -> str:
    """A dashboard whose widgets read metrics by the dimensions AWS publishes them under."""

    def widget(title: str, *metrics: list[Any]) -> dict[str, Any]:
        return {"type": "metric", "properties": {"title": title, "metrics": list(metrics)}}

    widgets = [
        widget("Requests", ["AWS/ApplicationELB", "RequestCount", "LoadBalancer", "app/alb/1"]),
        widget(
            "Cache CPU",
            ["AWS/ElastiCache", "EngineCPUUtilization", "CacheClusterId", "cache-001"],
            [".", ".", ".", "cache-002"],
        ),
        {"type": "text", "properties": {"markdown": "runbook"}},
        *extra_widgets,
    ]
    return json.dumps({"widgets": widgets})


BASELINE: dict[str, Spec] = {
    "private-a": Spec(
        "aws:ec2/subnet:Subnet", {"availabilityZone": "us-east-1a", "cidrBlock": "10.0.1.0/24"}
    ),
    "private-b": Spec(
        "aws:ec2/subnet:Subnet", {"availabilityZone": "us-east-1b", "cidrBlock": "10.0.2.0/24"}
    ),
    "alb-sg": _sg("load balancer"),
    "app-sg": _sg("app instances"),
    "db-sg": _sg("database"),
    "cache-sg": _sg("cache"),
    "alb-https": _ingress("alb-sg", 443.0, "HTTPS from the internet", cidr="0.0.0.0/0"),
    "alb-http": _ingress("alb-sg", 80.0, "HTTP redirect", cidr="0.0.0.0/0"),
    "app-from-alb": _ingress("app-sg", 8000.0, "app port from the ALB", source="alb-sg"),
    "db-from-app": _ingress("db-sg", 5432.0, "PostgreSQL from the app", source="app-sg"),
    "cache-from-app": _ingress("cache-sg", 6379.0, "Redis from the app", source="app-sg"),
    "logs": Spec("aws:s3/bucket:Bucket", {"forceDestroy": False}),
    **_bucket_companions("logs", versioned=False),
    "static": Spec("aws:s3/bucket:Bucket", {}),
    **_bucket_companions("static", versioned=True, extra_statements=(CLOUDFRONT_READ,)),
    "static-access-logging": Spec(
        "aws:s3/bucketLogging:BucketLogging",
        {"bucket": "static", "targetBucket": "logs", "targetPrefix": "s3/static/"},
        {"bucket": ["static"], "targetBucket": ["logs"]},
    ),
    "alb": Spec(
        "aws:lb/loadBalancer:LoadBalancer",
        {
            "loadBalancerType": "application",
            "internal": False,
            "securityGroups": ["sg-alb"],
            "dropInvalidHeaderFields": True,
            "enableDeletionProtection": True,
            "accessLogs": {"bucket": "logs", "enabled": True, "prefix": "alb"},
        },
        {"securityGroups": ["alb-sg"], "accessLogs": ["logs"]},
    ),
    "https": Spec(
        "aws:lb/listener:Listener",
        {
            "loadBalancerArn": "arn:alb",
            "port": 443.0,
            "protocol": "HTTPS",
            "sslPolicy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
            "certificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/abc",
            "defaultActions": [{"type": "forward", "targetGroupArn": "arn:tg"}],
        },
        {"loadBalancerArn": ["alb"]},
    ),
    "http": Spec(
        "aws:lb/listener:Listener",
        {
            "loadBalancerArn": "arn:alb",
            "port": 80.0,
            "protocol": "HTTP",
            "defaultActions": [
                {
                    "type": "redirect",
                    "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"},
                }
            ],
        },
        {"loadBalancerArn": ["alb"]},
    ),
    "web-tg": Spec(
        "aws:lb/targetGroup:TargetGroup",
        {
            "port": 8000.0,
            "protocol": "HTTP",
            "healthCheck": {"enabled": True, "path": "/healthz", "matcher": "200"},
        },
    ),
    "web-lt": Spec(
        "aws:ec2/launchTemplate:LaunchTemplate",
        {
            "imageId": "ami-123",
            "instanceType": "t3.small",
            "vpcSecurityGroupIds": ["sg-app"],
            "metadataOptions": {
                "httpEndpoint": "enabled",
                "httpTokens": "required",
                "httpPutResponseHopLimit": 1.0,
            },
            "blockDeviceMappings": [
                {"deviceName": "/dev/xvda", "ebs": {"encrypted": "true", "volumeSize": 20.0}}
            ],
            "networkInterfaces": [],
        },
        {"vpcSecurityGroupIds": ["app-sg"]},
    ),
    "web-asg": Spec(
        "aws:autoscaling/group:Group",
        {
            "minSize": 2.0,
            "maxSize": 6.0,
            "vpcZoneIdentifiers": ["subnet-a", "subnet-b"],
            "targetGroupArns": ["arn:tg"],
            "healthCheckType": "ELB",
            "launchTemplate": {"id": "lt-1", "version": "3"},
        },
        {"vpcZoneIdentifiers": ["private-a", "private-b"], "targetGroupArns": ["web-tg"]},
    ),
    "db-params": Spec(
        "aws:rds/parameterGroup:ParameterGroup",
        {"family": "postgres16", "parameters": [{"name": "rds.force_ssl", "value": "1"}]},
    ),
    "db": Spec(
        "aws:rds/instance:Instance",
        {
            "engine": "postgres",
            "engineVersion": "16.4",
            "instanceClass": "db.t4g.medium",
            "allocatedStorage": 20.0,
            "maxAllocatedStorage": 100.0,
            "storageEncrypted": True,
            "publiclyAccessible": False,
            "backupRetentionPeriod": 7.0,
            "multiAz": True,
            "deletionProtection": True,
            "skipFinalSnapshot": False,
            "finalSnapshotIdentifier": "db-final",
            "manageMasterUserPassword": True,
            "performanceInsightsEnabled": True,
            "enabledCloudwatchLogsExports": ["postgresql", "upgrade"],
            "autoMinorVersionUpgrade": True,
            "availabilityZone": "us-east-1a",
            "vpcSecurityGroupIds": ["sg-db"],
            "parameterGroupName": "db-params",
        },
        {"vpcSecurityGroupIds": ["db-sg"], "parameterGroupName": ["db-params"]},
    ),
    "db-replica-1": Spec(
        "aws:rds/instance:Instance",
        {
            "replicateSourceDb": "arn:aws:rds:us-east-1:123456789012:db:db",
            "instanceClass": "db.t4g.medium",
            "maxAllocatedStorage": 100.0,
            "availabilityZone": "us-east-1b",
            "performanceInsightsEnabled": True,
            "publiclyAccessible": False,
            "vpcSecurityGroupIds": ["sg-db"],
            "parameterGroupName": "db-params",
        },
        {"replicateSourceDb": ["db"], "vpcSecurityGroupIds": ["db-sg"], "parameterGroupName": ["db-params"]},
    ),
    "cache": Spec(
        "aws:elasticache/replicationGroup:ReplicationGroup",
        {
            "description": "sessions and queues",
            "engine": "redis",
            "engineVersion": "7.1",
            "numCacheClusters": 2.0,
            "atRestEncryptionEnabled": True,
            "transitEncryptionEnabled": True,
            "authToken": SECRET,
            "automaticFailoverEnabled": True,
            "multiAzEnabled": True,
            "snapshotRetentionLimit": 3.0,
            "securityGroupIds": ["sg-cache"],
        },
        {"securityGroupIds": ["cache-sg"], "authToken": ["cache-token"]},
    ),
    "cache-token": Spec("random:index/randomPassword:RandomPassword", {"length": 64.0, "special": False}),
    "cache-auth": Spec("aws:secretsmanager/secret:Secret", {"kmsKeyId": "arn:key"}, {"kmsKeyId": ["key"]}),
    "cache-auth-value": Spec(
        "aws:secretsmanager/secretVersion:SecretVersion",
        {"secretId": "arn:cache-auth", "secretString": SECRET},
        {"secretId": ["cache-auth"], "secretString": ["cache-token"]},
    ),
    "cache-auth-rotation": Spec(
        "aws:secretsmanager/secretRotation:SecretRotation",
        {
            "secretId": "arn:cache-auth",
            "rotationLambdaArn": "arn:rotation",
            "rotationRules": {"automaticallyAfterDays": 30.0},
        },
        {"secretId": ["cache-auth"]},
    ),
    "cdn": Spec(
        "aws:cloudfront/distribution:Distribution",
        {
            "enabled": True,
            "defaultCacheBehavior": {
                "targetOriginId": "alb",
                "viewerProtocolPolicy": "redirect-to-https",
                "responseHeadersPolicyId": "rhp-1",
            },
            "orderedCacheBehaviors": [
                {
                    "pathPattern": "/static/*",
                    "targetOriginId": "static",
                    "viewerProtocolPolicy": "https-only",
                    "responseHeadersPolicyId": "rhp-1",
                }
            ],
            "origins": [
                {
                    "originId": "alb",
                    "domainName": "origin.example.com",
                    "customOriginConfig": {
                        "httpPort": 80.0,
                        "httpsPort": 443.0,
                        "originProtocolPolicy": "https-only",
                        "originSslProtocols": ["TLSv1.2"],
                    },
                },
                {
                    "originId": "static",
                    "domainName": "static.s3.amazonaws.com",
                    "originAccessControlId": "oac-1",
                },
            ],
            "viewerCertificate": {
                "acmCertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/cdn",
                "minimumProtocolVersion": "TLSv1.2_2021",
                "sslSupportMethod": "sni-only",
            },
            "loggingConfig": {"bucket": "logs.s3.amazonaws.com", "prefix": "cdn/"},
            "webAclId": "arn:aws:wafv2:us-east-1:123456789012:global/webacl/scalestack/1",
            "restrictions": {"geoRestriction": {"restrictionType": "none"}},
        },
        {
            "loggingConfig": ["logs"],
            "origins": ["static"],
            "defaultCacheBehavior": ["headers"],
            "orderedCacheBehaviors": ["headers"],
        },
    ),
    "headers": Spec(
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
        {"name": "security-headers", "securityHeadersConfig": SECURITY_HEADERS},
    ),
    "instance-role": Spec("aws:iam/role:Role", {"assumeRolePolicy": EC2_TRUST}),
    "instance-ssm": Spec(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "instance-role", "policyArn": MANAGED + "AmazonSSMManagedEC2InstanceDefaultPolicy"},
        {"role": ["instance-role"]},
    ),
    "app-policy": Spec("aws:iam/policy:Policy", {"policy": APP_POLICY}),
    "app-policy-attachment": Spec(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "instance-role", "policyArn": "arn:aws:iam::123456789012:policy/app"},
        {"role": ["instance-role"], "policyArn": ["app-policy"]},
    ),
    "key": Spec(
        "aws:kms/key:Key",
        {
            "enableKeyRotation": True,
            "deletionWindowInDays": 30.0,
            "policy": _doc(ROOT_ADMINISTERS, LOGS_MAY_ENCRYPT),
        },
    ),
    "app-repo": Spec(
        "aws:ecr/repository:Repository",
        {"imageTagMutability": "IMMUTABLE", "imageScanningConfiguration": {"scanOnPush": True}},
    ),
    "app-repo-lifecycle": Spec(
        "aws:ecr/lifecyclePolicy:LifecyclePolicy",
        {"repository": "app-repo", "policy": "{}"},
        {"repository": ["app-repo"]},
    ),
    "app-logs": Spec(
        "aws:cloudwatch/logGroup:LogGroup",
        {"retentionInDays": 365.0, "kmsKeyId": "arn:key"},
        {"kmsKeyId": ["key"]},
    ),
    "alerts": Spec("aws:sns/topic:Topic", {"kmsMasterKeyId": "arn:key"}, {"kmsMasterKeyId": ["key"]}),
    "alerts-oncall": Spec(
        "aws:sns/topicSubscription:TopicSubscription",
        {
            "topic": "arn:aws:sns:us-east-1:123456789012:alerts",
            "protocol": "email",
            "endpoint": "oncall@example.com",
        },
        {"topic": ["alerts"]},
    ),
    "cpu-high": Spec(
        "aws:cloudwatch/metricAlarm:MetricAlarm",
        {
            "alarmActions": ["arn:aws:sns:us-east-1:123456789012:alerts"],
            "comparisonOperator": "GreaterThanThreshold",
            "namespace": "AWS/ElastiCache",
            "metricName": "EngineCPUUtilization",
            "dimensions": {"CacheClusterId": "cache-001"},
        },
        {"alarmActions": ["alerts"]},
    ),
    "dashboard": Spec(
        "aws:cloudwatch/dashboard:Dashboard",
        {"dashboardName": "app", "dashboardBody": dashboard_body()},
    ),
    "vpc": Spec("aws:ec2/vpc:Vpc", {"cidrBlock": "10.0.0.0/16"}),
    "igw": Spec("aws:ec2/internetGateway:InternetGateway", {"vpcId": "vpc-1"}, {"vpcId": ["vpc"]}),
    "public-a": Spec(
        "aws:ec2/subnet:Subnet",
        {"vpcId": "vpc-1", "availabilityZone": "us-east-1a", "cidrBlock": "10.0.0.0/24"},
        {"vpcId": ["vpc"]},
    ),
    "nat-eip": Spec("aws:ec2/eip:Eip", {"domain": "vpc"}),
    "nat-a": Spec(
        "aws:ec2/natGateway:NatGateway",
        {"subnetId": "subnet-public-a", "allocationId": "eipalloc-1"},
        {"subnetId": ["public-a"], "allocationId": ["nat-eip"]},
        depends_on=["igw"],
    ),
}


def baseline() -> FixtureStack:
    return FixtureStack(BASELINE)
