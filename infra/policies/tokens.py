"""Pulumi type tokens the rules look at: v7 names first, older aliases so a legacy resource can't slip by."""

from __future__ import annotations

from typing import Final

LOAD_BALANCER: Final = ("aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer")
LISTENER: Final = ("aws:lb/listener:Listener", "aws:alb/listener:Listener")
TARGET_GROUP: Final = ("aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup")

LAUNCH_TEMPLATE: Final = ("aws:ec2/launchTemplate:LaunchTemplate",)
AUTOSCALING_GROUP: Final = ("aws:autoscaling/group:Group",)
SUBNET: Final = ("aws:ec2/subnet:Subnet",)
VPC: Final = ("aws:ec2/vpc:Vpc",)
LIFECYCLE_HOOK: Final = ("aws:autoscaling/lifecycleHook:LifecycleHook",)
NAT_GATEWAY: Final = ("aws:ec2/natGateway:NatGateway",)
INTERNET_GATEWAY: Final = ("aws:ec2/internetGateway:InternetGateway",)
INTERNET_GATEWAY_ATTACHMENT: Final = ("aws:ec2/internetGatewayAttachment:InternetGatewayAttachment",)

DB_INSTANCE: Final = ("aws:rds/instance:Instance",)
DB_PARAMETER_GROUP: Final = ("aws:rds/parameterGroup:ParameterGroup",)
CACHE_REPLICATION_GROUP: Final = ("aws:elasticache/replicationGroup:ReplicationGroup",)
CACHE_PARAMETER_GROUP: Final = ("aws:elasticache/parameterGroup:ParameterGroup",)

DISTRIBUTION: Final = ("aws:cloudfront/distribution:Distribution",)
ORIGIN_ACCESS_IDENTITY: Final = ("aws:cloudfront/originAccessIdentity:OriginAccessIdentity",)

BUCKET: Final = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
BUCKET_PUBLIC_ACCESS_BLOCK: Final = ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",)
BUCKET_ENCRYPTION: Final = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
BUCKET_VERSIONING: Final = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
BUCKET_POLICY: Final = ("aws:s3/bucketPolicy:BucketPolicy",)
BUCKET_ACL: Final = ("aws:s3/bucketAcl:BucketAcl", "aws:s3/bucketAclV2:BucketAclV2")

SECURITY_GROUP: Final = ("aws:ec2/securityGroup:SecurityGroup",)
INGRESS_RULE: Final = ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",)
LEGACY_SG_RULE: Final = ("aws:ec2/securityGroupRule:SecurityGroupRule",)
EGRESS_RULE: Final = ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",)

ROUTE_TABLE: Final = ("aws:ec2/routeTable:RouteTable",)
ROUTE: Final = ("aws:ec2/route:Route",)
ROUTE_TABLE_ASSOCIATION: Final = ("aws:ec2/routeTableAssociation:RouteTableAssociation",)
VPC_ENDPOINT: Final = ("aws:ec2/vpcEndpoint:VpcEndpoint",)
LISTENER_RULE: Final = ("aws:lb/listenerRule:ListenerRule", "aws:alb/listenerRule:ListenerRule")
ASG_ATTACHMENT: Final = ("aws:autoscaling/attachment:Attachment",)
DB_SUBNET_GROUP: Final = ("aws:rds/subnetGroup:SubnetGroup",)
CACHE_SUBNET_GROUP: Final = ("aws:elasticache/subnetGroup:SubnetGroup",)
CERTIFICATE: Final = ("aws:acm/certificate:Certificate",)
CERTIFICATE_VALIDATION: Final = ("aws:acm/certificateValidation:CertificateValidation",)

ROLE: Final = ("aws:iam/role:Role",)
INSTANCE_PROFILE: Final = ("aws:iam/instanceProfile:InstanceProfile",)
MANAGED_POLICY: Final = ("aws:iam/policy:Policy",)
INLINE_POLICY: Final = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
POLICY_ATTACHMENT: Final = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
    "aws:iam/policyAttachment:PolicyAttachment",
)

KMS_KEY: Final = ("aws:kms/key:Key",)
ECR_REPOSITORY: Final = ("aws:ecr/repository:Repository",)
ECR_LIFECYCLE_POLICY: Final = ("aws:ecr/lifecyclePolicy:LifecyclePolicy",)
LOG_GROUP: Final = ("aws:cloudwatch/logGroup:LogGroup",)
METRIC_ALARM: Final = ("aws:cloudwatch/metricAlarm:MetricAlarm",)
DASHBOARD: Final = ("aws:cloudwatch/dashboard:Dashboard",)
SNS_TOPIC: Final = ("aws:sns/topic:Topic",)
SSM_PARAMETER: Final = ("aws:ssm/parameter:Parameter",)
SNS_SUBSCRIPTION: Final = ("aws:sns/topicSubscription:TopicSubscription",)
LOG_DELIVERY_SOURCE: Final = ("aws:cloudwatch/logDeliverySource:LogDeliverySource",)
LOG_DELIVERY: Final = ("aws:cloudwatch/logDelivery:LogDelivery",)
LOG_DELIVERY_DESTINATION: Final = ("aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",)
BUCKET_LIFECYCLE: Final = (
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
)
BUCKET_OWNERSHIP: Final = ("aws:s3/bucketOwnershipControls:BucketOwnershipControls",)
BUCKET_LOGGING: Final = ("aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2")
WEB_ACL: Final = ("aws:wafv2/webAcl:WebAcl",)
WEB_ACL_LOGGING: Final = ("aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration",)
RESPONSE_HEADERS_POLICY: Final = ("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",)
SECRET: Final = ("aws:secretsmanager/secret:Secret",)
SECRET_VERSION: Final = ("aws:secretsmanager/secretVersion:SecretVersion",)
SECRET_ROTATION: Final = ("aws:secretsmanager/secretRotation:SecretRotation",)
