"""IAM: policy documents, attachments and the EC2 instance role."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from infra.policies import tokens as t
from infra.policies.model import (
    EVERYWHERE,
    STANDARD,
    Finding,
    Resource,
    ResourceRule,
    Rule,
    Severity,
    Stack,
    StackRule,
)
from infra.policies.values import get, is_unknown, items, parse_document, statements, strings

_ADMIN_POLICIES = {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}
_AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"
_MANAGED_POLICY_REFERENCE = "https://docs.aws.amazon.com/aws-managed-policy/latest/reference/"


@dataclass(frozen=True)
class KnownManagedPolicy:
    """What an AWS-managed policy lets its holder read on every resource, from its default version."""

    reads_on_any_resource: tuple[str, ...]
    """Read actions its default version allows on Resource "*" (as written there, wildcards included)."""
    version: str


def managed_policy_source(name: str) -> str:
    """The AWS Managed Policy Reference page that shows the policy's document."""
    return f"{_MANAGED_POLICY_REFERENCE}{name}.html"


# The AWS-managed policies the kit knows, with the read actions each allows on "*", copied from the
# policy's page in the AWS Managed Policy Reference (<reference>/<name>.html) at the version named. A rule
# cannot read an attached AWS-managed policy's document from the plan, so this table is what it judges by;
# an AWS-managed policy missing from it is unknown and refused on instance roles.
KNOWN_MANAGED_POLICIES: dict[str, KnownManagedPolicy] = {
    # Session Manager and the SSM agent without parameter reads (ssm:UpdateInstanceInformation,
    # ssmmessages:*, ec2messages:* and association/inventory calls): the policy Default Host Management
    # Configuration uses.
    "AmazonSSMManagedEC2InstanceDefaultPolicy": KnownManagedPolicy((), "v1"),
    # The same actions plus ssm:GetParameter and ssm:GetParameters on "*": every parameter in the account.
    "AmazonSSMManagedInstanceCore": KnownManagedPolicy(("ssm:GetParameter", "ssm:GetParameters"), "v2"),
    "AmazonSSMReadOnlyAccess": KnownManagedPolicy(("ssm:Describe*", "ssm:Get*", "ssm:List*"), "v1"),
    # Its only parameter read is scoped to arn:aws:ssm:*:*:parameter/AmazonCloudWatch-*.
    "CloudWatchAgentServerPolicy": KnownManagedPolicy(
        ("ec2:DescribeVolumes", "ec2:DescribeTags", "logs:DescribeLogStreams", "logs:DescribeLogGroups"), "v3"
    ),
    "AmazonEC2ContainerRegistryReadOnly": KnownManagedPolicy(
        (
            "ecr:GetAuthorizationToken",
            "ecr:BatchCheckLayerAvailability",
            "ecr:GetDownloadUrlForLayer",
            "ecr:GetRepositoryPolicy",
            "ecr:DescribeRepositories",
            "ecr:ListImages",
            "ecr:DescribeImages",
            "ecr:BatchGetImage",
            "ecr:GetLifecyclePolicy",
            "ecr:GetLifecyclePolicyPreview",
            "ecr:ListTagsForResource",
            "ecr:DescribeImageScanFindings",
        ),
        "v3",
    ),
    "AmazonEC2ContainerRegistryPullOnly": KnownManagedPolicy(
        ("ecr:GetAuthorizationToken", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"), "v1"
    ),
}
# Reads the kit never allows on "*": configuration and secrets belong to one stack, and its own statement
# grants them on that stack's parameter path, secrets and keys only.
SECRET_READS = (
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "ssm:GetParameterHistory",
    "secretsmanager:GetSecretValue",
    "kms:Decrypt",
)


def _documents(resource: Resource) -> list[Mapping[str, Any]]:
    """The permission documents a resource carries (inline policies of a role included)."""
    raw = [resource.get("policy")] if resource.type not in t.ROLE else []
    raw += [get(p, "policy") for p in items(resource.get("inlinePolicies")) or []]
    return [d for d in map(parse_document, raw) if d is not None]


def _allows(document: Mapping[str, Any]) -> Iterator[tuple[list[str], list[str]]]:
    for statement in statements(document):
        if statement.get("Effect") == "Allow":
            yield strings(statement.get("Action")), strings(statement.get("Resource"))


def _star_star(resource: Resource) -> str | None:
    for document in _documents(resource):
        for actions, resources in _allows(document):
            if {"*", "*:*"} & set(actions) and "*" in resources:
                return (
                    "a policy allows every action on every resource ('*' on '*'), which is full account "
                    "admin for whoever holds it; list the actions and resources the workload needs."
                )
    return None


def _inline_admin(resource: Resource) -> str | None:
    for document in _documents(resource):
        for actions, _ in _allows(document):
            broad = sorted({"*", "*:*", "iam:*"} & set(actions))
            if broad:
                return (
                    f"an inline policy grants {', '.join(broad)}, so admin-level power hides outside the "
                    "managed policy list; grant the specific actions in a managed policy."
                )
    return None


def _policy_name(arn: Any) -> str | None:
    if not isinstance(arn, str) or is_unknown(arn) or not arn.startswith(_AWS_MANAGED_PREFIX):
        return None
    return arn.rsplit("/", 1)[-1]


def _admin_attachment(resource: Resource) -> str | None:
    arns = [resource.get("policyArn")] + (items(resource.get("managedPolicyArns")) or [])
    admin = sorted(n for n in map(_policy_name, arns) if n in _ADMIN_POLICIES)
    if not admin:
        return None
    return (
        f"AWS-managed {', '.join(admin)} is attached, which lets the holder take over the account; attach "
        "a policy scoped to the workload."
    )


def _trusts_anyone(resource: Resource) -> str | None:
    document = parse_document(resource.get("assumeRolePolicy"))
    for statement in statements(document) if document else []:
        principal = statement.get("Principal")
        aws = strings(principal.get("AWS")) if isinstance(principal, Mapping) else strings(principal)
        if statement.get("Effect") == "Allow" and "*" in aws and not statement.get("Condition"):
            return (
                "the role's trust policy lets any AWS principal ('*') assume it, so anyone in any account "
                "can use its permissions; trust a specific service or account."
            )
    return None


def _trusts_ec2(role: Resource) -> bool:
    document = parse_document(role.get("assumeRolePolicy"))
    services = [
        service
        for s in (statements(document) if document else [])
        if isinstance(s.get("Principal"), Mapping)
        for service in strings(s["Principal"].get("Service"))
    ]
    return "ec2.amazonaws.com" in services


def _instance_role_scoped(stack: Stack) -> Iterator[Finding]:
    for role in filter(_trusts_ec2, stack.of_type(*t.ROLE)):
        problem = _instance_role_problem(stack, role)
        if problem:
            yield Finding(
                role,
                f"the instance role {problem}, so a compromised instance gets more than the app needs; "
                "grant only the app's actions.",
            )


def _instance_role_problem(stack: Stack, role: Resource) -> str | None:
    attachments = stack.referencing(role, "role", *t.POLICY_ATTACHMENT)
    customer = [p for a in attachments for p in stack.sources(a, "policyArn", *t.MANAGED_POLICY)]
    inline = stack.referencing(role, "role", *t.INLINE_POLICY)
    for holder in [*customer, *inline, role]:
        for document in _documents(holder):
            wild = sorted({a for actions, _ in _allows(document) for a in actions if "*" in a})
            if wild:
                return f"is granted wildcard actions {', '.join(wild)} through {holder.name}"
    return None


def _managed_policy_reads(stack: Stack) -> Iterator[Finding]:
    for holder in stack.of_type(*t.POLICY_ATTACHMENT, *t.ROLE):
        arns = [holder.get("policyArn")] + (items(holder.get("managedPolicyArns")) or [])
        on_instances = any(map(_trusts_ec2, _roles_of(stack, holder)))
        for name in filter(None, map(_policy_name, arns)):
            problem = _managed_policy_problem(name, on_instances)
            if problem:
                yield Finding(holder, problem)


def _roles_of(stack: Stack, holder: Resource) -> list[Resource]:
    if holder.type in t.ROLE:
        return [holder]
    # RolePolicyAttachment names one role; PolicyAttachment a list of them.
    return [*stack.sources(holder, "role", *t.ROLE), *stack.sources(holder, "roles", *t.ROLE)]


def _managed_policy_problem(name: str, on_instances: bool) -> str | None:
    known = KNOWN_MANAGED_POLICIES.get(name)
    if known is None:
        if not on_instances or name in _ADMIN_POLICIES:
            return None  # admin policies have their own rule
        return (
            f"AWS-managed {name} is attached to an instance role, which the kit cannot check because its "
            "document is not in the plan; use a policy from the kit's table or grant the app's actions "
            "in the stack's own statement."
        )
    secret_reads = sorted(
        {a for a in SECRET_READS for granted in known.reads_on_any_resource if fnmatchcase(a, granted)}
    )
    if not secret_reads:
        return None
    return (
        f"AWS-managed {name} allows {', '.join(secret_reads)} on every resource ('*'), so its holder reads "
        "every parameter or secret in the account; attach AmazonSSMManagedEC2InstanceDefaultPolicy and "
        "scope the reads to the stack."
    )


@dataclass(frozen=True)
class _Store:
    """A data store, what an instance role's policy is built from when it may log in to it, and the
    security groups its own group admits."""

    resource: Resource
    credentials: frozenset[str]
    """URNs: the database instance (its master secret and rds-db:connect user come from it), or the
    cache's replication group and the secret holding its auth token."""
    admitted: frozenset[str]


def _stores(stack: Stack) -> list[_Store]:
    stores = []
    for db in stack.of_type(*t.DB_INSTANCE):
        stores.append(_Store(db, frozenset({db.urn}), _admitted(stack, db, "vpcSecurityGroupIds")))
    for cache in stack.of_type(*t.CACHE_REPLICATION_GROUP):
        token = set(cache.deps.get("authToken", ()))
        secrets = {
            secret.urn
            for version in stack.of_type(*t.SECRET_VERSION)
            if token & set(version.deps.get("secretString", ()))
            for secret in stack.sources(version, "secretId", *t.SECRET)
        }
        stores.append(
            _Store(cache, frozenset({cache.urn, *secrets}), _admitted(stack, cache, "securityGroupIds"))
        )
    return stores


def _admitted(stack: Stack, store: Resource, groups_prop: str) -> frozenset[str]:
    """The security groups the store's groups admit by reference (the kit admits no CIDR)."""
    groups = {g.urn for g in stack.sources(store, groups_prop, *t.SECURITY_GROUP)}
    return frozenset(
        client.urn
        for rule in stack.of_type(*t.INGRESS_RULE)
        if groups & set(rule.deps.get("securityGroupId", ()))
        for client in stack.sources(rule, "referencedSecurityGroupId", *t.SECURITY_GROUP)
    )


def _instance_groups(stack: Stack, role: Resource) -> set[str]:
    """The security groups of the instances that run with `role`: its profiles' launch templates'."""
    return {
        group.urn
        for profile in stack.referencing(role, "role", *t.INSTANCE_PROFILE)
        for template in stack.referencing(profile, "iamInstanceProfile", *t.LAUNCH_TEMPLATE)
        for prop in ("networkInterfaces", "vpcSecurityGroupIds")
        for group in stack.sources(template, prop, *t.SECURITY_GROUP)
    }


def _master_secret_keys(stack: Stack) -> dict[str, tuple[Resource, Resource]]:
    """The keys the databases' RDS-managed master secrets are encrypted under, by URN, with their database.

    Reading the secret takes kms:Decrypt on its key as well as GetSecretValue, and the secret's ARN is
    unknown until RDS creates it, while the key is a dependency the plan records from the start: a policy
    built from the key is one that can read the master login."""
    return {
        key.urn: (key, db)
        for db in stack.of_type(*t.DB_INSTANCE)
        for key in stack.sources(db, "masterUserSecretKmsKeyId", *t.KMS_KEY)
    }


def _takes_the_rest(rule: Resource) -> bool:
    """A listener rule whose conditions are only the origin header (every rule carries it) and the path
    '/*': the default web service's. Any other condition, or one not known yet, narrows it."""
    conditions = items(rule.get("conditions"))
    if conditions is None:
        return False
    return all(get(c, "httpHeader") is not None or get(c, "pathPattern.values") == ["/*"] for c in conditions)


def _migrating_roles(stack: Stack) -> set[str]:
    """The instance roles of the service the deploy runs the migrations on (infra/spec.py
    `Service.migrates`): the default web service, whose target group takes every request no routed rule
    takes (a listener's default action, or the rule without host and with no path but '/*')."""
    catch_all = {
        urn for listener in stack.of_type(*t.LISTENER) for urn in listener.deps.get("defaultActions", ())
    } | {
        urn
        for rule in stack.of_type(*t.LISTENER_RULE)
        if _takes_the_rest(rule)
        for urn in rule.deps.get("actions", ())
    }
    return {
        role.urn
        for group in stack.of_type(*t.AUTOSCALING_GROUP)
        if catch_all & set(group.deps.get("targetGroupArns", ()))
        for prop in ("launchTemplate", "mixedInstancesPolicy")
        for template in stack.sources(group, prop, *t.LAUNCH_TEMPLATE)
        for profile in stack.sources(template, "iamInstanceProfile", *t.INSTANCE_PROFILE)
        for role in stack.sources(profile, "role", *t.ROLE)
    }


def _credentials_only_for_clients(stack: Stack) -> Iterator[Finding]:
    """An instance role's policy names a data store's credentials (the database's master secret or login,
    the cache's auth token) only when the store admits the role's instances: a service with
    `usesCache: false` or `usesDatabase: false` never reaches that store, so reading its secret is
    privilege it does not use. The database's master secret, besides, only for the service that runs the
    migrations: the others connect as the app's role with IAM tokens and never need the master login."""
    stores = _stores(stack)
    master_keys = _master_secret_keys(stack)
    migrating = _migrating_roles(stack)
    for role in filter(_trusts_ec2, stack.of_type(*t.ROLE)):
        instances = _instance_groups(stack, role)
        if not instances:
            continue
        for policy in stack.referencing(role, "role", *t.INLINE_POLICY):
            built_from = set(policy.deps.get("policy", ()))
            if role.urn not in migrating:
                for urn in sorted(built_from & master_keys.keys()):
                    key, db = master_keys[urn]
                    yield Finding(
                        policy,
                        f"the instance role can decrypt {db.name}'s master secret (its key "
                        f"{key.name}) although its service does not run the migrations, so "
                        "it could log in as the master user; only the default web service's role, which the "
                        "deploy migrates on, reads the master secret (every other service connects as "
                        "the app's role with rds-db:connect).",
                    )
            for store in stores:
                if built_from & store.credentials and not instances & store.admitted:
                    yield Finding(
                        policy,
                        f"the instance role reads {store.resource.name}'s credentials although "
                        f"{store.resource.name} does not admit its instances, so it holds a secret its "
                        "service never uses; grant a service's role only the stores it uses "
                        "(usesDatabase, usesCache).",
                    )


_DOCUMENT_TYPES = t.MANAGED_POLICY + t.INLINE_POLICY + t.ROLE

RULES: list[Rule] = [
    ResourceRule(
        id="iam-no-star-star",
        description="No IAM policy allows '*' actions on '*' resources.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=_DOCUMENT_TYPES,
        check=_star_star,
    ),
    ResourceRule(
        id="iam-no-inline-admin",
        description="No inline policy grants '*' or 'iam:*' actions.",
        severity=Severity.HIGH,
        enforcement=EVERYWHERE,
        types=t.INLINE_POLICY + t.ROLE,
        check=_inline_admin,
    ),
    ResourceRule(
        id="iam-no-admin-policy-attachment",
        description="No role, user or group gets AdministratorAccess, PowerUserAccess or IAMFullAccess.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.POLICY_ATTACHMENT + t.ROLE,
        check=_admin_attachment,
    ),
    ResourceRule(
        id="iam-trust-no-wildcard-principal",
        description="No role trust policy lets any principal ('*') assume the role.",
        severity=Severity.CRITICAL,
        enforcement=EVERYWHERE,
        types=t.ROLE,
        check=_trusts_anyone,
    ),
    StackRule(
        id="iam-instance-role-scoped",
        description="The EC2 instance role's own policies grant no wildcard actions.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_instance_role_scoped,
    ),
    StackRule(
        id="iam-data-credentials-for-clients-only",
        description=(
            "An instance role reads a data store's credentials (database master secret and login, cache "
            "auth token) only when the store admits its instances, and the database's master secret only "
            "when its service runs the migrations (the default web service)."
        ),
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_credentials_only_for_clients,
        types=t.INLINE_POLICY,
        # The master secret is encrypted under the key the instance names, and rotated by RDS.
        source="https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-secrets-manager.html",
    ),
    StackRule(
        id="iam-managed-policy-no-secret-reads",
        description=(
            "No attached AWS-managed policy reads parameters or secrets on '*'; instance roles carry only "
            "AWS-managed policies the kit knows (KNOWN_MANAGED_POLICIES)."
        ),
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_managed_policy_reads,
        source=_MANAGED_POLICY_REFERENCE,
    ),
]
