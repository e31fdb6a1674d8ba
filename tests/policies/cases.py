"""Per rule: mutations of the baseline that must break it, and edge cases that must not.

A violating case names the resource the violation must be reported on and any other rule the same
mutation legitimately breaks, so a rule that fires too widely fails its test as surely as one that
never fires.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass

from .fixtures import MANAGED, SECRET, UNKNOWN_ARRAY, UNKNOWN_STRING, FixtureStack, dashboard_body

UNKNOWN_BOOL = "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7"
UNKNOWN_NUMBER = "3eeb2bf0-c639-47a8-9e75-3b44932eb421"


@dataclass(frozen=True)
class Case:
    rule: str
    label: str
    mutate: Callable[[FixtureStack], object]
    resource: str = ""  # violating cases: the resource the violation names
    also: frozenset[str] = frozenset()

    @property
    def id(self) -> str:
        return f"{self.rule}:{self.label}"


def _user_data(size: int) -> str:
    """A boot script of `size` bytes, base64-encoded as a launch template takes it."""
    return base64.b64encode(b"#!/bin/bash\n" + b"#" * (size - 12)).decode()


def _reads_credentials(stack: FixtureStack, store: str) -> FixtureStack:
    """The launch template runs with the instance role, whose own policy is built from `store` (the
    cache's auth-token secret, or the database instance its master secret and login come from)."""
    stack.add(
        "instance-profile", "aws:iam/instanceProfile:InstanceProfile", {"role": "instance-role"}
    ).depend("instance-profile", "role", "instance-role")
    stack.set("web-lt", "iamInstanceProfile", {"arn": "arn:aws:iam::123456789012:instance-profile/app"})
    stack.depend("web-lt", "iamInstanceProfile", "instance-profile")
    read = {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": [f"arn:{store}"]}
    stack.add(
        "instance-access",
        "aws:iam/rolePolicy:RolePolicy",
        {"role": "instance-role", "policy": _doc(read)},
        role=["instance-role"],
        policy=[store],
    )
    return stack


def _reads_master_secret(stack: FixtureStack, migrating: bool) -> FixtureStack:
    """The instance role's policy is built from the key the database's master secret is encrypted under
    (it can decrypt the master login); `migrating`: its group runs the launch template and is the one the
    listener's default action forwards to (the default web service's, which the deploy migrates on).
    Otherwise the role runs no group behind the catch-all (the baseline links neither)."""
    _reads_credentials(stack, "db").depend("db", "masterUserSecretKmsKeyId", "key")
    stack.depend("instance-access", "policy", "db", "key")
    if migrating:
        stack.depend("web-asg", "launchTemplate", "web-lt").depend("https", "defaultActions", "web-tg")
    return stack


def _doc(*statements: dict[str, object]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def _role(stack: FixtureStack, name: str, service: str = "codebuild.amazonaws.com") -> FixtureStack:
    trust = _doc({"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"})
    return stack.add(name, "aws:iam/role:Role", {"assumeRolePolicy": trust})


def _world_ssh(stack: FixtureStack) -> FixtureStack:
    return stack.add(
        "ssh-world",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {
            "securityGroupId": "sg-app",
            "ipProtocol": "tcp",
            "fromPort": 22.0,
            "toPort": 22.0,
            "cidrIpv4": "0.0.0.0/0",
            "description": "ssh",
        },
        securityGroupId=["app-sg"],
    )


def _inline_admin(stack: FixtureStack) -> FixtureStack:
    _role(stack, "ci-role")
    return stack.add(
        "ci-inline",
        "aws:iam/rolePolicy:RolePolicy",
        {"role": "ci-role", "policy": _doc({"Effect": "Allow", "Action": "iam:*", "Resource": "*"})},
        role=["ci-role"],
    )


def _admin_attachment(stack: FixtureStack) -> FixtureStack:
    _role(stack, "ci-role")
    return stack.add(
        "ci-admin",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "ci-role", "policyArn": MANAGED + "AdministratorAccess"},
        role=["ci-role"],
    )


def _managed_attachment(stack: FixtureStack, policy: str) -> FixtureStack:
    _role(stack, "ci-role")
    return stack.add(
        "ci-managed",
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        {"role": "ci-role", "policyArn": MANAGED + policy},
        role=["ci-role"],
    )


def _open_trust(stack: FixtureStack) -> FixtureStack:
    trust = _doc({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"})
    return stack.add("open-role", "aws:iam/role:Role", {"assumeRolePolicy": trust})


PUBLIC_READ = {
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::static/*",
}
TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": "arn:aws:s3:::static/*",
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


LAUNCH_HOOK = {
    "name": "boot",
    "lifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
    "heartbeatTimeout": 900.0,
    "defaultResult": "ABANDON",
}


def _warm_pool(stack: FixtureStack, *, prepared: bool = True, inline_hook: bool = True) -> FixtureStack:
    pool: dict[str, object] = {"minSize": 1.0, "poolState": "Stopped"}
    if prepared:
        pool["maxGroupPreparedCapacity"] = 3.0
    stack.set("web-asg", "warmPool", pool)
    return stack.set("web-asg", "initialLifecycleHooks", [LAUNCH_HOOK] if inline_hook else [])


def _separate_launch_hook(stack: FixtureStack) -> FixtureStack:
    _warm_pool(stack, inline_hook=False)
    hook = {k: v for k, v in LAUNCH_HOOK.items() if k != "name"}
    return stack.add(
        "web-boot-hook",
        "aws:autoscaling/lifecycleHook:LifecycleHook",
        {"autoscalingGroupName": "web-asg", **hook},
        autoscalingGroupName=["web-asg"],
    )


def _cache_parameter_group(stack: FixtureStack, family: str) -> FixtureStack:
    stack.add("cache-params", "aws:elasticache/parameterGroup:ParameterGroup", {"family": family})
    return stack.set("cache", "parameterGroupName", "cache-params").depend(
        "cache", "parameterGroupName", "cache-params"
    )


def _alarm_metric(
    dimensions: dict[str, str], metric: str = "EngineCPUUtilization"
) -> Callable[[FixtureStack], object]:
    def mutate(stack: FixtureStack) -> FixtureStack:
        return stack.set("cpu-high", "metricName", metric).set("cpu-high", "dimensions", dimensions)

    return mutate


def _alarm_query(dimensions: dict[str, str]) -> Callable[[FixtureStack], object]:
    def mutate(stack: FixtureStack) -> FixtureStack:
        for key in ("namespace", "metricName", "dimensions"):
            stack.unset("cpu-high", key)
        query = {
            "id": "cpu",
            "returnData": True,
            "metric": {
                "namespace": "AWS/ElastiCache",
                "metricName": "EngineCPUUtilization",
                "dimensions": dimensions,
                "period": 60.0,
                "stat": "Maximum",
            },
        }
        return stack.set("cpu-high", "metricQueries", [query])

    return mutate


def _widget(*metrics: list[object]) -> Callable[[FixtureStack], object]:
    widget = {"type": "metric", "properties": {"title": "Extra", "metrics": list(metrics)}}
    return lambda s: s.set("dashboard", "dashboardBody", dashboard_body(widget))


VIOLATING: list[Case] = [
    # Load balancing
    Case("alb-drop-invalid-headers", "off", lambda s: s.set("alb", "dropInvalidHeaderFields", False), "alb"),
    Case("alb-drop-invalid-headers", "default", lambda s: s.unset("alb", "dropInvalidHeaderFields"), "alb"),
    Case("alb-access-logs", "absent", lambda s: s.unset("alb", "accessLogs"), "alb"),
    Case("alb-access-logs", "disabled", lambda s: s.set("alb", "accessLogs.enabled", False), "alb"),
    Case("alb-deletion-protection", "off", lambda s: s.set("alb", "enableDeletionProtection", False), "alb"),
    Case(
        "alb-listener-https",
        "plain-http-forward",
        lambda s: s.set("http", "defaultActions", [{"type": "forward", "targetGroupArn": "arn:tg"}]),
        "http",
    ),
    Case(
        "alb-listener-https",
        "redirect-keeps-http",
        lambda s: s.set("http", "defaultActions.0.redirect.protocol", "HTTP"),
        "http",
    ),
    Case(
        "alb-listener-tls-policy",
        "old",
        lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-2016-08"),
        "https",
    ),
    Case("alb-listener-tls-policy", "default", lambda s: s.unset("https", "sslPolicy"), "https"),
    Case(
        "alb-target-group-health-check",
        "disabled",
        lambda s: s.set("web-tg", "healthCheck.enabled", False),
        "web-tg",
    ),
    Case(
        "alb-target-group-health-check", "no-path", lambda s: s.unset("web-tg", "healthCheck.path"), "web-tg"
    ),
    # Compute
    Case(
        "ec2-imdsv2-required",
        "optional",
        lambda s: s.set("web-lt", "metadataOptions.httpTokens", "optional"),
        "web-lt",
    ),
    Case("ec2-imdsv2-required", "default", lambda s: s.unset("web-lt", "metadataOptions"), "web-lt"),
    Case(
        "ec2-imds-hop-limit",
        "two",
        lambda s: s.set("web-lt", "metadataOptions.httpPutResponseHopLimit", 2.0),
        "web-lt",
    ),
    Case(
        "ec2-ebs-encrypted",
        "false",
        lambda s: s.set("web-lt", "blockDeviceMappings.0.ebs.encrypted", "false"),
        "web-lt",
    ),
    Case("ec2-ebs-encrypted", "no-mappings", lambda s: s.unset("web-lt", "blockDeviceMappings"), "web-lt"),
    Case(
        "ec2-no-public-ip",
        "associate",
        lambda s: s.set(
            "web-lt", "networkInterfaces", [{"deviceIndex": 0.0, "associatePublicIpAddress": "true"}]
        ),
        "web-lt",
    ),
    Case("ec2-no-ssh-key", "key", lambda s: s.set("web-lt", "keyName", "ops"), "web-lt"),
    Case("asg-elb-health-check", "ec2", lambda s: s.set("web-asg", "healthCheckType", "EC2"), "web-asg"),
    Case(
        "asg-multi-az",
        "one-subnet",
        lambda s: s.set("web-asg", "vpcZoneIdentifiers", ["subnet-a"]).depend(
            "web-asg", "vpcZoneIdentifiers", "private-a"
        ),
        "web-asg",
    ),
    Case(
        "asg-multi-az",
        "two-subnets-one-zone",
        lambda s: s.set("private-b", "availabilityZone", "us-east-1a"),
        "web-asg",
    ),
    Case(
        "asg-numbered-launch-template-version",
        "latest",
        lambda s: s.set("web-asg", "launchTemplate.version", "$Latest"),
        "web-asg",
    ),
    Case(
        "asg-numbered-launch-template-version",
        "mixed-default",
        lambda s: s.unset("web-asg", "launchTemplate").set(
            "web-asg",
            "mixedInstancesPolicy",
            {
                "launchTemplate": {
                    "launchTemplateSpecification": {"launchTemplateId": "lt-1", "version": "$Default"}
                }
            },
        ),
        "web-asg",
    ),
    Case(
        "asg-no-provider-instance-refresh",
        "refresh-block",
        lambda s: s.set(
            "web-asg", "instanceRefresh", {"strategy": "Rolling", "preferences": {"autoRollback": True}}
        ),
        "web-asg",
    ),
    Case(
        "asg-launch-template",
        "launch-config",
        lambda s: s.set("web-asg", "launchConfiguration", "lc-1"),
        "web-asg",
    ),
    # RDS
    Case("rds-storage-encrypted", "primary", lambda s: s.set("db", "storageEncrypted", False), "db"),
    Case(
        "rds-storage-encrypted",
        "replica-explicit",
        lambda s: s.set("db-replica-1", "storageEncrypted", False),
        "db-replica-1",
    ),
    Case("rds-no-public-access", "public", lambda s: s.set("db", "publiclyAccessible", True), "db"),
    Case(
        "rds-no-public-access",
        "public-replica",
        lambda s: s.set("db-replica-1", "publiclyAccessible", True),
        "db-replica-1",
    ),
    Case(
        "rds-backups-enabled",
        "zero",
        lambda s: s.set("db", "backupRetentionPeriod", 0.0),
        "db",
        frozenset({"rds-backup-retention"}),
    ),
    Case("rds-backup-retention", "three-days", lambda s: s.set("db", "backupRetentionPeriod", 3.0), "db"),
    Case("rds-multi-az", "single", lambda s: s.set("db", "multiAz", False), "db"),
    Case("rds-deletion-protection", "off", lambda s: s.unset("db", "deletionProtection"), "db"),
    Case("rds-final-snapshot", "skip", lambda s: s.set("db", "skipFinalSnapshot", True), "db"),
    Case(
        "rds-managed-credentials",
        "password-in-state",
        lambda s: s.unset("db", "manageMasterUserPassword").set("db", "password", SECRET),
        "db",
    ),
    Case("rds-managed-credentials", "unmanaged", lambda s: s.unset("db", "manageMasterUserPassword"), "db"),
    Case(
        "rds-force-ssl",
        "param-off",
        lambda s: s.set("db-params", "parameters", [{"name": "rds.force_ssl", "value": "0"}]),
        "db",
    ),
    Case(
        "rds-force-ssl",
        "old-default-group",
        lambda s: (
            s.set("db", "engineVersion", "14.9")
            .unset("db", "parameterGroupName")
            .depend("db", "parameterGroupName")
        ),
        "db",
        # The replica keeps the postgres16 group while its source now runs 14.
        also=frozenset({"rds-parameter-group-family"}),
    ),
    Case("rds-minor-upgrades", "off", lambda s: s.set("db", "autoMinorVersionUpgrade", False), "db"),
    Case(
        "rds-performance-insights",
        "off",
        lambda s: s.set("db-replica-1", "performanceInsightsEnabled", False),
        "db-replica-1",
    ),
    Case(
        "rds-log-exports", "missing", lambda s: s.set("db", "enabledCloudwatchLogsExports", ["upgrade"]), "db"
    ),
    Case(
        "rds-replica-other-az",
        "same",
        lambda s: s.set("db-replica-1", "availabilityZone", "us-east-1a"),
        "db-replica-1",
    ),
    Case(
        "rds-replica-other-az",
        "unpinned",
        lambda s: s.unset("db-replica-1", "availabilityZone"),
        "db-replica-1",
    ),
    # ElastiCache
    Case(
        "elasticache-encryption-at-rest",
        "off",
        lambda s: s.set("cache", "atRestEncryptionEnabled", False),
        "cache",
    ),
    Case(
        "elasticache-encryption-in-transit",
        "off",
        lambda s: s.set("cache", "transitEncryptionEnabled", False),
        "cache",
    ),
    Case(
        "elasticache-encryption-in-transit",
        "preferred",
        lambda s: s.set("cache", "transitEncryptionMode", "preferred"),
        "cache",
    ),
    Case("elasticache-auth", "none", lambda s: s.unset("cache", "authToken"), "cache"),
    Case(
        "elasticache-automatic-failover",
        "single-az",
        lambda s: s.set("cache", "multiAzEnabled", False),
        "cache",
    ),
    Case(
        "elasticache-snapshot-retention",
        "zero",
        lambda s: s.set("cache", "snapshotRetentionLimit", 0.0),
        "cache",
    ),
    # CloudFront
    Case(
        "cloudfront-https-only",
        "allow-all",
        lambda s: s.set("cdn", "orderedCacheBehaviors.0.viewerProtocolPolicy", "allow-all"),
        "cdn",
    ),
    Case(
        "cloudfront-minimum-tls",
        "tls1",
        lambda s: s.set("cdn", "viewerCertificate.minimumProtocolVersion", "TLSv1"),
        "cdn",
    ),
    Case(
        "cloudfront-minimum-tls",
        "default-cert",
        lambda s: s.set("cdn", "viewerCertificate", {"cloudfrontDefaultCertificate": True}),
        "cdn",
    ),
    Case(
        "cloudfront-origin-https",
        "http-only",
        lambda s: s.set("cdn", "origins.0.customOriginConfig.originProtocolPolicy", "http-only"),
        "cdn",
    ),
    Case(
        "cloudfront-origin-https",
        "tls1",
        lambda s: s.set("cdn", "origins.0.customOriginConfig.originSslProtocols", ["TLSv1", "TLSv1.2"]),
        "cdn",
    ),
    Case("cloudfront-logging", "none", lambda s: s.unset("cdn", "loggingConfig"), "cdn"),
    Case("cloudfront-waf", "none", lambda s: s.unset("cdn", "webAclId"), "cdn"),
    Case(
        "cloudfront-no-legacy-oai",
        "origin",
        lambda s: s.set(
            "cdn",
            "origins.1.s3OriginConfig",
            {"originAccessIdentity": "origin-access-identity/cloudfront/E1"},
        ),
        "cdn",
    ),
    Case(
        "cloudfront-no-legacy-oai",
        "resource",
        lambda s: s.add(
            "oai", "aws:cloudfront/originAccessIdentity:OriginAccessIdentity", {"comment": "legacy"}
        ),
        "oai",
    ),
    # S3
    Case(
        "s3-block-public-access",
        "one-flag-off",
        lambda s: s.set("static-public-access-block", "restrictPublicBuckets", False),
        "static",
    ),
    Case("s3-block-public-access", "missing", lambda s: s.drop("logs-public-access-block"), "logs"),
    Case(
        "s3-encryption",
        "missing",
        lambda s: s.drop("static-encryption"),
        "static",
        also=frozenset({"s3-kms-encryption"}),
    ),
    Case(
        "s3-tls-only",
        "no-deny",
        lambda s: s.set("static-policy", "policy", _doc(PUBLIC_READ | {"Condition": {"x": 1}})),
        "static",
    ),
    Case("s3-tls-only", "no-policy", lambda s: s.drop("logs-policy"), "logs"),
    Case(
        "s3-versioning",
        "suspended",
        lambda s: s.set("static-versioning", "versioningConfiguration.status", "Suspended"),
        "static",
    ),
    Case(
        "s3-no-public-acl",
        "public-read",
        lambda s: s.add(
            "static-acl",
            "aws:s3/bucketAcl:BucketAcl",
            {"bucket": "static", "acl": "public-read"},
            bucket=["static"],
        ),
        "static-acl",
    ),
    Case(
        "s3-no-public-policy",
        "star",
        lambda s: s.set("static-policy", "policy", _doc(TLS_DENY, PUBLIC_READ)),
        "static-policy",
    ),
    # Security groups
    Case("sg-no-world-ingress", "ssh", _world_ssh, "ssh-world"),
    Case(
        "sg-no-world-ingress",
        "ipv6-inline",
        lambda s: s.set(
            "db-sg",
            "ingress",
            [
                {
                    "protocol": "tcp",
                    "fromPort": 5432.0,
                    "toPort": 5432.0,
                    "ipv6CidrBlocks": ["::/0"],
                    "description": "x",
                }
            ],
        ),
        "db-sg",
        # The database is then open to the internet, a forbidden flow.
        frozenset({"sg-data-from-app-only", "network-reachability"}),
    ),
    Case(
        "sg-no-world-ingress",
        "alb-ssh",
        lambda s: s.set("alb-https", "fromPort", 22.0).set("alb-https", "toPort", 22.0),
        "alb-https",
        # CloudFront can then no longer reach the HTTPS listener.
        frozenset({"network-reachability"}),
    ),
    Case(
        "sg-no-all-ports",
        "all-protocols",
        lambda s: (
            s.set("app-from-alb", "ipProtocol", "-1")
            .unset("app-from-alb", "fromPort")
            .unset("app-from-alb", "toPort")
        ),
        "app-from-alb",
    ),
    Case(
        "sg-no-all-ports",
        "full-range",
        lambda s: s.set("app-from-alb", "fromPort", 0.0).set("app-from-alb", "toPort", 65535.0),
        "app-from-alb",
    ),
    Case(
        "sg-data-from-app-only",
        "from-alb",
        lambda s: s.depend("db-from-app", "referencedSecurityGroupId", "alb-sg"),
        "db-from-app",
    ),
    Case(
        "sg-data-from-app-only",
        "vpc-cidr",
        lambda s: (
            s.unset("cache-from-app", "referencedSecurityGroupId")
            .depend("cache-from-app", "referencedSecurityGroupId")
            .set("cache-from-app", "cidrIpv4", "10.0.0.0/16")
        ),
        "cache-from-app",
    ),
    Case("sg-rule-description", "missing", lambda s: s.unset("app-from-alb", "description"), "app-from-alb"),
    # IAM
    Case(
        "iam-no-star-star",
        "managed",
        lambda s: s.add(
            "admin-policy",
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})},
        ),
        "admin-policy",
    ),
    Case("iam-no-inline-admin", "iam-star", _inline_admin, "ci-inline"),
    Case("iam-no-admin-policy-attachment", "administrator", _admin_attachment, "ci-admin"),
    Case("iam-trust-no-wildcard-principal", "any-aws", _open_trust, "open-role"),
    Case(
        "iam-managed-policy-no-secret-reads",
        "ssm-core-on-instances",
        lambda s: s.set("instance-ssm", "policyArn", MANAGED + "AmazonSSMManagedInstanceCore"),
        "instance-ssm",
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "role-managed-arns",
        lambda s: s.set("instance-role", "managedPolicyArns", [MANAGED + "AmazonSSMManagedInstanceCore"]),
        "instance-role",
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "ssm-read-only-anywhere",
        lambda s: _managed_attachment(s, "AmazonSSMReadOnlyAccess"),
        "ci-managed",
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "unknown-on-instances-through-policy-attachment",
        lambda s: s.add(
            "instance-s3",
            "aws:iam/policyAttachment:PolicyAttachment",
            {"roles": ["instance-role"], "policyArn": MANAGED + "AmazonS3FullAccess"},
            roles=["instance-role"],
        ),
        "instance-s3",
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "unknown-on-instances",
        lambda s: s.set("instance-ssm", "policyArn", MANAGED + "AmazonS3FullAccess"),
        "instance-ssm",
    ),
    Case(
        "ec2-user-data-size",
        "one-byte-over-16-kb-decoded",
        lambda s: s.set("web-lt", "userData", _user_data(16 * 1024 + 1)),
        "web-lt",
    ),
    Case(
        "ec2-user-data-size",
        "not-base64-over-16-kb",
        lambda s: s.set("web-lt", "userData", "#!/bin/bash\n" + "#" * (16 * 1024)),
        "web-lt",
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "cache-token-for-a-service-the-cache-does-not-admit",
        lambda s: _reads_credentials(s, "cache-auth").drop("cache-from-app"),
        "instance-access",
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "database-login-for-a-service-the-database-does-not-admit",
        lambda s: _reads_credentials(s, "db").drop("db-from-app"),
        "instance-access",
    ),
    # Issue 12: a database-using service that does not run the migrations connects as the app's role.
    Case(
        "iam-data-credentials-for-clients-only",
        "master-secret-for-a-service-that-does-not-migrate",
        lambda s: _reads_master_secret(s, migrating=False),
        "instance-access",
    ),
    Case(
        "iam-instance-role-scoped",
        "wildcard-action",
        lambda s: s.set(
            "app-policy",
            "policy",
            _doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::x/*"}),
        ),
        "instance-role",
    ),
    # Operations
    Case("kms-key-rotation", "off", lambda s: s.set("key", "enableKeyRotation", False), "key"),
    Case(
        "ecr-scan-on-push",
        "off",
        lambda s: s.set("app-repo", "imageScanningConfiguration.scanOnPush", False),
        "app-repo",
    ),
    Case(
        "ecr-immutable-tags",
        "mutable",
        lambda s: s.set("app-repo", "imageTagMutability", "MUTABLE"),
        "app-repo",
    ),
    Case("ecr-lifecycle-policy", "none", lambda s: s.drop("app-repo-lifecycle"), "app-repo"),
    Case(
        "logs-retention-set",
        "forever",
        lambda s: s.unset("app-logs", "retentionInDays"),
        "app-logs",
        also=frozenset({"logs-retention-prod"}),
    ),
    Case("cloudwatch-alarm-actions", "none", lambda s: s.set("cpu-high", "alarmActions", []), "cpu-high"),
    Case(
        "cloudwatch-alarm-actions",
        "disabled",
        lambda s: s.set("cpu-high", "actionsEnabled", False),
        "cpu-high",
    ),
    Case("sns-topic-encrypted", "plain", lambda s: s.unset("alerts", "kmsMasterKeyId"), "alerts"),
    # AWS constraints
    Case(
        "alb-slow-start-round-robin-only",
        "least-outstanding",
        lambda s: s.set("web-tg", "slowStart", 30.0).set(
            "web-tg", "loadBalancingAlgorithmType", "least_outstanding_requests"
        ),
        "web-tg",
    ),
    Case("elasticache-engine-version", "valkey-7.1", lambda s: s.set("cache", "engine", "valkey"), "cache"),
    Case("elasticache-engine-version", "redis-8", lambda s: s.set("cache", "engineVersion", "8.0"), "cache"),
    Case(
        "elasticache-parameter-group-family",
        "redis6-family-on-7",
        lambda s: _cache_parameter_group(s, "redis6.x"),
        "cache",
    ),
    Case(
        "rds-parameter-group-family",
        "postgres15-on-16",
        lambda s: s.set("db-params", "family", "postgres15"),
        "db",
    ),
    Case(
        "rds-replica-storage-tracks-source",
        "no-ceiling",
        lambda s: s.unset("db-replica-1", "maxAllocatedStorage"),
        "db-replica-1",
    ),
    Case(
        "rds-replica-storage-tracks-source",
        "lower-ceiling",
        lambda s: s.set("db-replica-1", "maxAllocatedStorage", 50.0),
        "db-replica-1",
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "cache-by-replication-group",
        _alarm_metric({"ReplicationGroupId": "cache"}),
        "cpu-high",
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "query-by-replication-group",
        _alarm_query({"ReplicationGroupId": "cache"}),
        "cpu-high",
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "unknown-metric",
        _alarm_metric({"CacheClusterId": "cache-001"}, metric="EngineCpuUtilisation"),
        "cpu-high",
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "widget-by-replication-group",
        _widget(["AWS/ElastiCache", "CacheHitRate", "ReplicationGroupId", "cache"]),
        "dashboard",
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "widget-elb-metric-by-target-group",
        _widget(["AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", "LoadBalancer", "a", "TargetGroup", "t"]),
        "dashboard",
    ),
    Case("cloudwatch-metric-dimensions", "empty-widget", _widget(), "dashboard"),
    Case(
        "asg-warm-pool-prerequisites",
        "no-launch-hook",
        lambda s: _warm_pool(s, inline_hook=False),
        "web-asg",
    ),
    Case(
        "asg-warm-pool-prerequisites",
        "unbounded",
        lambda s: _warm_pool(s, prepared=False),
        "web-asg",
    ),
    Case(
        "asg-warm-pool-prerequisites",
        "spot",
        lambda s: _warm_pool(s).set("web-asg", "mixedInstancesPolicy", {"instancesDistribution": {}}),
        "web-asg",
    ),
    Case("vpc-nat-after-internet-gateway", "no-order", lambda s: s.order("nat-a"), "nat-a"),
    Case(
        "vpc-nat-after-internet-gateway",
        "other-vpcs-gateway",
        lambda s: (
            s.add("vpc-2", "aws:ec2/vpc:Vpc", {"cidrBlock": "10.1.0.0/16"})
            .add("igw-2", "aws:ec2/internetGateway:InternetGateway", {"vpcId": "vpc-2"}, vpcId=["vpc-2"])
            .order("nat-a", "igw-2")
        ),
        "nat-a",
    ),
]

# Edge cases a rule must let through: unknowns during preview, resources it isn't about, safe alternatives.
COMPLIANT: list[Case] = [
    # 16 KB decoded is 21848 base64 characters: the limit is on the raw form, not the encoded one.
    Case(
        "ec2-user-data-size",
        "exactly-16-kb-decoded",
        lambda s: s.set("web-lt", "userData", _user_data(16 * 1024)),
    ),
    Case(
        "ec2-user-data-size", "unknown-during-preview", lambda s: s.set("web-lt", "userData", UNKNOWN_STRING)
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "cache-token-for-a-client",
        lambda s: _reads_credentials(s, "cache-auth"),
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "database-login-for-a-client",
        lambda s: _reads_credentials(s, "db"),
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "master-secret-for-the-migrating-service",
        lambda s: _reads_master_secret(s, migrating=True),
    ),
    Case(
        "iam-data-credentials-for-clients-only",
        "master-secret-for-the-default-rules-service",
        lambda s: (
            _reads_master_secret(s, migrating=False)
            .depend("web-asg", "launchTemplate", "web-lt")
            .add(
                "default-rule",
                "aws:lb/listenerRule:ListenerRule",
                {
                    "conditions": [
                        {"httpHeader": {"httpHeaderName": "X-Origin-Verify", "values": ["x"]}},
                        {"pathPattern": {"values": ["/*"]}},
                    ],
                    "actions": [{"type": "forward"}],
                },
                actions=["web-tg"],
            )
        ),
    ),
    Case(
        "alb-drop-invalid-headers",
        "nlb",
        lambda s: s.set("alb", "loadBalancerType", "network").unset("alb", "dropInvalidHeaderFields"),
    ),
    Case(
        "alb-drop-invalid-headers", "unknown", lambda s: s.set("alb", "dropInvalidHeaderFields", UNKNOWN_BOOL)
    ),
    Case("alb-listener-https", "unknown-protocol", lambda s: s.set("http", "protocol", UNKNOWN_STRING)),
    Case(
        "alb-listener-tls-policy",
        "fs",
        lambda s: s.set("https", "sslPolicy", "ELBSecurityPolicy-FS-1-2-Res-2020-10"),
    ),
    Case("alb-listener-tls-policy", "unknown", lambda s: s.set("https", "sslPolicy", UNKNOWN_STRING)),
    Case(
        "ec2-imdsv2-required",
        "imds-off",
        lambda s: s.set("web-lt", "metadataOptions", {"httpEndpoint": "disabled"}),
    ),
    Case(
        "ec2-ebs-encrypted",
        "unknown-mappings",
        lambda s: s.set("web-lt", "blockDeviceMappings", UNKNOWN_ARRAY),
    ),
    Case(
        "ec2-no-public-ip",
        "private",
        lambda s: s.set("web-lt", "networkInterfaces", [{"associatePublicIpAddress": "false"}]),
    ),
    Case(
        "asg-elb-health-check",
        "worker",
        lambda s: s.unset("web-asg", "targetGroupArns").set("web-asg", "healthCheckType", "EC2"),
    ),
    Case(
        "asg-multi-az",
        "unknown-zone",
        lambda s: s.set("private-b", "availabilityZone", UNKNOWN_STRING).set(
            "private-a", "availabilityZone", UNKNOWN_STRING
        ),
    ),
    Case("rds-storage-encrypted", "replica-inherits", lambda s: s.unset("db-replica-1", "storageEncrypted")),
    Case("rds-no-public-access", "unknown", lambda s: s.set("db", "publiclyAccessible", UNKNOWN_BOOL)),
    Case("rds-backups-enabled", "unknown", lambda s: s.set("db", "backupRetentionPeriod", UNKNOWN_NUMBER)),
    Case(
        "rds-force-ssl",
        "pg16-default-group",
        lambda s: s.unset("db", "parameterGroupName").depend("db", "parameterGroupName"),
    ),
    Case(
        "rds-managed-credentials",
        "iam-auth",
        lambda s: s.unset("db", "manageMasterUserPassword").set(
            "db", "iamDatabaseAuthenticationEnabled", True
        ),
    ),
    Case(
        "rds-replica-other-az", "unknown", lambda s: s.set("db-replica-1", "availabilityZone", UNKNOWN_STRING)
    ),
    Case(
        "elasticache-auth",
        "rbac",
        lambda s: s.unset("cache", "authToken").set("cache", "userGroupIds", ["ug-1"]),
    ),
    Case("cloudfront-minimum-tls", "unknown", lambda s: s.set("cdn", "viewerCertificate", UNKNOWN_STRING)),
    Case(
        "s3-block-public-access",
        "unknown",
        lambda s: s.set("static-public-access-block", "blockPublicAcls", UNKNOWN_BOOL),
    ),
    Case("s3-tls-only", "unknown-policy", lambda s: s.set("static-policy", "policy", UNKNOWN_STRING)),
    Case(
        "s3-versioning",
        "log-bucket",
        lambda s: s.drop("static-versioning").depend("alb", "accessLogs", "logs", "static"),
    ),
    Case("sg-no-world-ingress", "alb-https", lambda s: s),
    Case(
        "sg-data-from-app-only",
        "external-source",
        lambda s: s.depend("db-from-app", "referencedSecurityGroupId"),
    ),
    Case("iam-no-star-star", "unknown", lambda s: s.set("app-policy", "policy", UNKNOWN_STRING)),
    Case(
        "iam-managed-policy-no-secret-reads",
        "unknown-off-instances",
        lambda s: _managed_attachment(s, "AmazonS3ReadOnlyAccess"),
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "cloudwatch-agent-scoped-parameters",
        lambda s: s.add(
            "instance-cw-agent",
            "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
            {"role": "instance-role", "policyArn": MANAGED + "CloudWatchAgentServerPolicy"},
            role=["instance-role"],
        ),
    ),
    Case(
        "iam-managed-policy-no-secret-reads",
        "unknown-arn",
        lambda s: s.set("instance-ssm", "policyArn", UNKNOWN_STRING),
    ),
    Case(
        "iam-no-star-star",
        "scoped-star",
        lambda s: s.add(
            "ro",
            "aws:iam/policy:Policy",
            {"policy": _doc({"Effect": "Allow", "Action": "*", "Resource": "arn:aws:s3:::x"})},
        ),
    ),
    Case(
        "kms-key-rotation",
        "asymmetric",
        lambda s: (
            s.set("key", "customerMasterKeySpec", "RSA_2048")
            .set("key", "keyUsage", "SIGN_VERIFY")
            .unset("key", "enableKeyRotation")
        ),
    ),
    Case("logs-retention-set", "unknown", lambda s: s.set("app-logs", "retentionInDays", UNKNOWN_NUMBER)),
    # AWS constraints
    Case(
        "alb-slow-start-round-robin-only",
        "round-robin",
        lambda s: s.set("web-tg", "slowStart", 30.0).set(
            "web-tg", "loadBalancingAlgorithmType", "round_robin"
        ),
    ),
    Case(
        "alb-slow-start-round-robin-only",
        "no-slow-start",
        lambda s: s.set("web-tg", "slowStart", 0.0).set(
            "web-tg", "loadBalancingAlgorithmType", "least_outstanding_requests"
        ),
    ),
    Case(
        "elasticache-engine-version",
        "valkey-7.2",
        lambda s: s.set("cache", "engine", "valkey").set("cache", "engineVersion", "7.2"),
    ),
    Case("elasticache-engine-version", "unknown", lambda s: s.set("cache", "engineVersion", UNKNOWN_STRING)),
    Case("elasticache-parameter-group-family", "redis7", lambda s: _cache_parameter_group(s, "redis7")),
    Case(
        "elasticache-parameter-group-family",
        "valkey8",
        lambda s: (
            _cache_parameter_group(s, "valkey8")
            .set("cache", "engine", "valkey")
            .set("cache", "engineVersion", "8.0")
        ),
    ),
    Case("rds-parameter-group-family", "unknown", lambda s: s.set("db-params", "family", UNKNOWN_STRING)),
    Case(
        "rds-replica-storage-tracks-source",
        "no-autoscaling",
        lambda s: s.unset("db", "maxAllocatedStorage").unset("db-replica-1", "maxAllocatedStorage"),
    ),
    Case(
        "rds-replica-storage-tracks-source",
        "unknown",
        lambda s: s.set("db-replica-1", "maxAllocatedStorage", UNKNOWN_NUMBER),
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "per-node",
        _alarm_metric({"CacheClusterId": "cache-001", "CacheNodeId": "0001"}),
    ),
    Case("cloudwatch-metric-dimensions", "query-per-node", _alarm_query({"CacheClusterId": "cache-002"})),
    Case(
        "cloudwatch-metric-dimensions",
        "namespace-not-tabled",
        lambda s: s.set("cpu-high", "namespace", "scalestack").set("cpu-high", "dimensions", {"Role": "web"}),
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "unknown-body",
        lambda s: s.set("dashboard", "dashboardBody", UNKNOWN_STRING),
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "target-group-latency",
        _widget(["AWS/ApplicationELB", "TargetResponseTime", "LoadBalancer", "a", "TargetGroup", "t"]),
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "unknown-metric-name",
        lambda s: s.set("cpu-high", "metricName", UNKNOWN_STRING),
    ),
    Case(
        "cloudwatch-metric-dimensions",
        "unknown-dimensions",
        lambda s: s.set("cpu-high", "dimensions", UNKNOWN_STRING),
    ),
    Case("asg-warm-pool-prerequisites", "inline-hook", _warm_pool),
    Case("asg-warm-pool-prerequisites", "separate-hook", _separate_launch_hook),
    Case(
        "vpc-nat-after-internet-gateway",
        "after-attachment",
        lambda s: s.add(
            "igw-attachment",
            "aws:ec2/internetGatewayAttachment:InternetGatewayAttachment",
            {"vpcId": "vpc-1", "internetGatewayId": "igw-1"},
            vpcId=["vpc"],
        ).order("nat-a", "igw-attachment"),
    ),
    Case(
        "vpc-nat-after-internet-gateway",
        "private-nat",
        lambda s: s.set("nat-a", "connectivityType", "private").order("nat-a"),
    ),
]


def _egress(stack: FixtureStack, name: str, group: str, port: float, **peer: str) -> FixtureStack:
    inputs: dict[str, object] = {"securityGroupId": f"sg-{group}", "ipProtocol": "tcp", "fromPort": port}
    inputs["toPort"] = port
    deps = {"securityGroupId": [group]}
    if "cidr" in peer:
        inputs["cidrIpv4"] = peer["cidr"]
    else:
        inputs["referencedSecurityGroupId"] = f"sg-{peer['to']}"
        deps["referencedSecurityGroupId"] = [peer["to"]]
    return stack.add(name, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", inputs, **deps)


def _wired(stack: FixtureStack) -> FixtureStack:
    """The baseline with its app group tied to its launch template and every egress the app needs."""
    stack.depend("web-asg", "launchTemplate", "web-lt")
    _egress(stack, "alb-to-app", "alb-sg", 8000.0, to="app-sg")
    _egress(stack, "app-to-db", "app-sg", 5432.0, to="db-sg")
    _egress(stack, "app-to-cache", "app-sg", 6379.0, to="cache-sg")
    return _egress(stack, "app-to-https", "app-sg", 443.0, cidr="0.0.0.0/0")


def _db_world(stack: FixtureStack) -> FixtureStack:
    return stack.add(
        "db-world",
        "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
        {
            "securityGroupId": "sg-db",
            "ipProtocol": "tcp",
            "fromPort": 5432.0,
            "toPort": 5432.0,
            "cidrIpv4": "0.0.0.0/0",
            "description": "x",
        },
        securityGroupId=["db-sg"],
    )


VIOLATING += [
    # Defect 2: the provider strips the default egress, so without a rule the ALB reaches no target.
    Case("network-reachability", "alb-without-egress", lambda s: _wired(s).drop("alb-to-app"), "alb-sg"),
    Case("network-reachability", "app-ingress-dropped", lambda s: _wired(s).drop("app-from-alb"), "app-sg"),
    Case("network-reachability", "db-ingress-dropped", lambda s: _wired(s).drop("db-from-app"), "db-sg"),
    Case(
        "network-reachability",
        "db-open-to-internet",
        lambda s: _db_world(_wired(s)),
        "db-world",
        frozenset({"sg-no-world-ingress", "sg-data-from-app-only"}),
    ),
]
COMPLIANT += [
    Case("network-reachability", "wired", _wired),
    Case(
        "network-reachability",
        "unknown-port",
        lambda s: (
            _wired(s)
            .set("alb-to-app", "fromPort", UNKNOWN_NUMBER)
            .set("alb-to-app", "toPort", UNKNOWN_NUMBER)
        ),
    ),
    Case(
        "network-reachability",
        "unknown-app-group",
        lambda s: _wired(s).drop("alb-to-app").depend("web-asg", "launchTemplate"),
    ),
]


def _host_to_origin(stack: FixtureStack, *alternative_names: str) -> FixtureStack:
    """The distribution forwards Host (managed cache policy) to its HTTPS ALB origin, whose listener
    certificate names the origin and the given alternative names."""
    behavior = {
        "targetOriginId": "alb",
        "viewerProtocolPolicy": "redirect-to-https",
        "cachePolicyId": "4cc15a8a-d715-48a4-82b8-cc0b614638fe",
        "responseHeadersPolicyId": "rhp-1",
    }
    stack.set("cdn", "aliases", ["app.example.com"]).set("cdn", "defaultCacheBehavior", behavior)
    stack.depend("cdn", "origins", "static", "alb").depend("https", "certificateArn", "origin-cert")
    names = {"subjectAlternativeNames": list(alternative_names)} if alternative_names else {}
    return stack.add(
        "origin-cert", "aws:acm/certificate:Certificate", {"domainName": "origin.example.com", **names}
    )


VIOLATING += [
    # Defect 3: staging and prod forwarded app.<domain> as Host to an ALB certified for origin.<domain> only.
    Case("cloudfront-origin-certificate-covers-host", "origin-name-only", _host_to_origin, "origin-cert"),
]
COMPLIANT += [
    Case(
        "cloudfront-origin-certificate-covers-host",
        "public-name-on-certificate",
        lambda s: _host_to_origin(s, "app.example.com"),
    ),
    Case(
        "cloudfront-origin-certificate-covers-host",
        "host-not-forwarded",
        lambda s: _host_to_origin(s).set(
            "cdn",
            "defaultCacheBehavior",
            {
                "targetOriginId": "alb",
                "viewerProtocolPolicy": "redirect-to-https",
                "cachePolicyId": "658327ea-f89d-4fab-a63d-7e88639e58f6",
                "originRequestPolicyId": "b689b0a8-53d0-40ab-baf2-68738e2966ac",
                "responseHeadersPolicyId": "rhp-1",
            },
        ),
    ),
    Case(
        "cloudfront-origin-certificate-covers-host",
        "names-unknown",
        lambda s: _host_to_origin(s).set("origin-cert", "subjectAlternativeNames", UNKNOWN_ARRAY),
    ),
    Case(
        "cloudfront-origin-certificate-covers-host",
        "wildcard",
        lambda s: _host_to_origin(s, "*.example.com"),
    ),
]

COMPLIANT += [
    # The numbered version of a mixed instances policy (the spot worker) pins the group as well.
    Case(
        "asg-numbered-launch-template-version",
        "mixed-numbered",
        lambda s: s.unset("web-asg", "launchTemplate").set(
            "web-asg",
            "mixedInstancesPolicy",
            {"launchTemplate": {"launchTemplateSpecification": {"launchTemplateId": "lt-1", "version": "7"}}},
        ),
    ),
    # A version the engine learns only at create time is judged then, never reported now.
    Case(
        "asg-numbered-launch-template-version",
        "unknown",
        lambda s: s.set("web-asg", "launchTemplate.version", UNKNOWN_STRING),
    ),
    Case("asg-no-provider-instance-refresh", "no-block", lambda s: s.unset("web-asg", "instanceRefresh")),
]


# Issue 11: the gaps a checkov-class scanner found on the prod plan.
def _key_policy(*statements: dict[str, object]) -> Callable[[FixtureStack], object]:
    return lambda s: s.set("key", "policy", _doc(*statements))


def _parameter(stack: FixtureStack, **inputs: object) -> FixtureStack:
    return stack.add(
        "setting",
        "aws:ssm/parameter:Parameter",
        {"name": "/scalestack/prod/app/PORT", "value": "8000", **inputs},
    )


def _web_acl(stack: FixtureStack, *groups: str, logged: bool = True) -> FixtureStack:
    rules = [
        {
            "name": group,
            "priority": float(i),
            "overrideAction": {"none": {}},
            "statement": {"managedRuleGroupStatement": {"vendorName": "AWS", "name": group}},
        }
        for i, group in enumerate(groups)
    ]
    stack.add("acl", "aws:wafv2/webAcl:WebAcl", {"scope": "CLOUDFRONT", "rules": rules})
    if logged:
        stack.add("waf-logs", "aws:cloudwatch/logGroup:LogGroup", FIXTURE_LOG_GROUP, kmsKeyId=["key"])
        stack.add(
            "acl-logging",
            "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",
            {"resourceArn": "arn:acl", "logDestinationConfigs": ["arn:waf-logs"]},
            resourceArn=["acl"],
            logDestinationConfigs=["waf-logs"],
        )
    return stack


FIXTURE_LOG_GROUP = {"name": "aws-waf-logs-app", "retentionInDays": 365.0, "kmsKeyId": "arn:key"}
BASELINE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


def _logging_v2(stack: FixtureStack, *, delivered: bool = True) -> FixtureStack:
    """CloudFront standard logging v2: delivery source on the distribution, destination the log bucket."""
    stack.unset("cdn", "loggingConfig").depend("cdn", "loggingConfig")
    stack.add(
        "cdn-log-source",
        "aws:cloudwatch/logDeliverySource:LogDeliverySource",
        {"name": "cdn", "logType": "ACCESS_LOGS", "resourceArn": "arn:cdn"},
        resourceArn=["cdn"],
    )
    stack.add(
        "cdn-log-destination",
        "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",
        {"name": "cdn-logs", "deliveryDestinationConfiguration": {"destinationResourceArn": "arn:logs"}},
        deliveryDestinationConfiguration=["logs"],
    )
    if delivered:
        stack.add(
            "cdn-log-delivery",
            "aws:cloudwatch/logDelivery:LogDelivery",
            {"deliverySourceName": "cdn", "deliveryDestinationArn": "arn:cdn-logs"},
            deliverySourceName=["cdn-log-source"],
            deliveryDestinationArn=["cdn-log-destination"],
        )
    return stack


def _lifecycle(bucket: str, **rule: object) -> Callable[[FixtureStack], object]:
    base: dict[str, object] = {"id": "expire", "status": "Enabled", "filter": {"prefix": ""}}
    return lambda s: s.set(f"{bucket}-lifecycle", "rules", [{**base, **rule}])


ROOT = {
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
LOGS_UNCONDITIONED = {
    "Effect": "Allow",
    "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:GenerateDataKey*"],
    "Resource": "*",
}
HEADERS_WITHOUT_SUBDOMAINS = {
    "strictTransportSecurity": {"accessControlMaxAgeSec": 63072000.0, "override": True},
    "contentTypeOptions": {"override": True},
    "frameOptions": {"frameOption": "DENY", "override": True},
    "referrerPolicy": {"referrerPolicy": "same-origin", "override": True},
}

VIOLATING += [
    Case("logs-encrypted", "cloudwatch-key", lambda s: s.unset("app-logs", "kmsKeyId"), "app-logs"),
    Case(
        "logs-retention-prod", "ninety-days", lambda s: s.set("app-logs", "retentionInDays", 90.0), "app-logs"
    ),
    Case("kms-key-policy", "default", lambda s: s.unset("key", "policy"), "key"),
    Case("kms-key-policy", "no-root", _key_policy(LOGS_UNCONDITIONED | {"Condition": {}}), "key"),
    Case("kms-key-policy", "logs-without-context", _key_policy(ROOT, LOGS_UNCONDITIONED), "key"),
    Case(
        "kms-key-policy",
        "service-gets-everything",
        _key_policy(
            ROOT, {**LOGS_UNCONDITIONED, "Principal": {"Service": "sns.amazonaws.com"}, "Action": "kms:*"}
        ),
        "key",
    ),
    Case("ssm-parameter-secure", "plain-string", lambda s: _parameter(s, type="String"), "setting"),
    Case("ssm-parameter-secure", "aws-managed-key", lambda s: _parameter(s, type="SecureString"), "setting"),
    Case("alarm-topic-subscribed", "nobody", lambda s: s.drop("alerts-oncall"), "alerts"),
    Case("s3-lifecycle-abort-multipart", "no-lifecycle", lambda s: s.drop("logs-lifecycle"), "logs"),
    Case(
        "s3-lifecycle-abort-multipart",
        "expiry-only",
        _lifecycle("logs", expiration={"days": 90.0}),
        "logs",
    ),
    Case(
        "s3-noncurrent-version-expiry",
        "versions-kept",
        _lifecycle("static", abortIncompleteMultipartUpload={"daysAfterInitiation": 7.0}),
        "static",
    ),
    Case(
        "s3-acls-disabled",
        "owner-preferred",
        lambda s: s.set("logs-ownership", "rule.objectOwnership", "BucketOwnerPreferred"),
        "logs",
    ),
    Case("s3-acls-disabled", "no-ownership-controls", lambda s: s.drop("static-ownership"), "static"),
    Case("s3-access-logging", "unlogged", lambda s: s.drop("static-access-logging"), "static"),
    Case(
        "s3-kms-encryption",
        "sse-s3",
        lambda s: s.set(
            "static-encryption", "rules", [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        ),
        "static",
    ),
    Case(
        "cloudfront-security-headers",
        "default-behavior-without-policy",
        lambda s: s.unset("cdn", "defaultCacheBehavior.responseHeadersPolicyId"),
        "cdn",
    ),
    Case(
        "cloudfront-security-headers",
        "hsts-without-subdomains",
        lambda s: s.set("headers", "securityHeadersConfig", HEADERS_WITHOUT_SUBDOMAINS),
        "cdn",
    ),
    Case(
        "cloudfront-security-headers",
        "short-hsts",
        lambda s: s.set(
            "headers", "securityHeadersConfig.strictTransportSecurity.accessControlMaxAgeSec", 86400.0
        ),
        "cdn",
    ),
    Case(
        "cloudfront-security-headers",
        "policy-outside-the-plan",
        lambda s: s.depend("cdn", "defaultCacheBehavior").depend("cdn", "orderedCacheBehaviors"),
        "cdn",
    ),
    Case("cloudfront-logging", "v2-source-never-delivered", lambda s: _logging_v2(s, delivered=False), "cdn"),
    Case("waf-logging", "unlogged", lambda s: _web_acl(s, *BASELINE_GROUPS, logged=False), "acl"),
    Case("waf-known-bad-inputs", "common-only", lambda s: _web_acl(s, "AWSManagedRulesCommonRuleSet"), "acl"),
]
COMPLIANT += [
    Case("logs-encrypted", "key-unknown", lambda s: s.set("app-logs", "kmsKeyId", UNKNOWN_STRING)),
    Case("logs-retention-prod", "unknown", lambda s: s.set("app-logs", "retentionInDays", UNKNOWN_NUMBER)),
    Case("logs-retention-prod", "ten-years", lambda s: s.set("app-logs", "retentionInDays", 3653.0)),
    Case("kms-key-policy", "unknown", lambda s: s.set("key", "policy", UNKNOWN_STRING)),
    Case(
        "ssm-parameter-secure", "customer-key", lambda s: _parameter(s, type="SecureString", keyId="arn:key")
    ),
    Case(
        "alarm-topic-subscribed",
        "topic-no-alarm-uses",
        lambda s: (
            s.drop("alerts-oncall")
            .set("cpu-high", "alarmActions", ["arn:asg-policy"])
            .depend("cpu-high", "alarmActions")
        ),
    ),
    Case(
        "s3-noncurrent-version-expiry",
        "unversioned",
        lambda s: s.drop("logs-lifecycle").add(
            "logs-lifecycle",
            "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
            {
                "bucket": "logs",
                "rules": [
                    {
                        "id": "abort",
                        "status": "Enabled",
                        "abortIncompleteMultipartUpload": {"daysAfterInitiation": 1.0},
                    }
                ],
            },
            bucket=["logs"],
        ),
    ),
    Case(
        "s3-lifecycle-abort-multipart",
        "rules-unknown",
        lambda s: s.set("logs-lifecycle", "rules", UNKNOWN_ARRAY),
    ),
    Case(
        "s3-acls-disabled",
        "unknown",
        lambda s: s.set("logs-ownership", "rule.objectOwnership", UNKNOWN_STRING),
    ),
    Case(
        "s3-kms-encryption",
        "log-bucket-sse-s3",
        lambda s: s.set(
            "logs-encryption", "rules", [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]
        ),
    ),
    Case(
        "cloudfront-security-headers",
        "policy-id-unknown",
        lambda s: (
            s.set("cdn", "defaultCacheBehavior.responseHeadersPolicyId", UNKNOWN_STRING)
            .depend("cdn", "defaultCacheBehavior")
            .depend("cdn", "orderedCacheBehaviors")
            .set("cdn", "orderedCacheBehaviors", [])
        ),
    ),
    Case("cloudfront-logging", "standard-logging-v2", _logging_v2),
    Case("waf-logging", "logged", lambda s: _web_acl(s, *BASELINE_GROUPS)),
    Case("waf-known-bad-inputs", "managed-groups", lambda s: _web_acl(s, *BASELINE_GROUPS)),
]

VIOLATING += [
    Case("elasticache-auth-token-rotated", "never", lambda s: s.drop("cache-auth-rotation"), "cache"),
    Case(
        "elasticache-auth-token-rotated",
        "literal-token",
        lambda s: s.depend("cache", "authToken"),
        "cache",
    ),
    Case(
        "elasticache-auth-token-rotated",
        "rotation-off",
        lambda s: s.set("cache-auth-rotation", "rotationEnabled", False),
        "cache",
    ),
]
COMPLIANT += [
    Case(
        "elasticache-auth-token-rotated",
        "rbac-users",
        lambda s: s.unset("cache", "authToken").set("cache", "userGroupIds", ["app-users"]),
    ),
]
