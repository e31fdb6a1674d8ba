"""IAM: policy documents, attachments and the EC2 instance role."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
# AWS-managed policies an app instance may carry: SSM access, the CloudWatch agent and image pulls.
_INSTANCE_MANAGED_POLICIES = {
    "AmazonSSMManagedInstanceCore",
    "CloudWatchAgentServerPolicy",
    "AmazonEC2ContainerRegistryReadOnly",
    "AmazonEC2ContainerRegistryPullOnly",
}
_AWS_MANAGED_PREFIX = "arn:aws:iam::aws:policy/"


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
    arns = [a.get("policyArn") for a in attachments] + (items(role.get("managedPolicyArns")) or [])
    extra = sorted(
        n for n in map(_policy_name, arns) if n is not None and n not in _INSTANCE_MANAGED_POLICIES
    )
    if extra:
        return f"carries AWS-managed {', '.join(extra)}"
    customer = [p for a in attachments for p in stack.sources(a, "policyArn", *t.MANAGED_POLICY)]
    inline = stack.referencing(role, "role", *t.INLINE_POLICY)
    for holder in [*customer, *inline, role]:
        for document in _documents(holder):
            wild = sorted({a for actions, _ in _allows(document) for a in actions if "*" in a})
            if wild:
                return f"is granted wildcard actions {', '.join(wild)} through {holder.name}"
    return None


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
        description="The EC2 instance role holds only SSM/CloudWatch/ECR-read policies, no wildcard actions.",
        severity=Severity.HIGH,
        enforcement=STANDARD,
        check=_instance_role_scoped,
    ),
]
