"""The one place components are composed: a stack spec in, the stack's resources and outputs out."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.components.network import Network, NetworkArgs
from infra.spec import NAMESPACE, REGION_KEY, SpecError, StackSpec, parse_config


def build_stack(spec: StackSpec) -> dict[str, Any]:
    provider = aws.Provider(
        "aws",
        region=spec.region,
        default_tags=aws.ProviderDefaultTagsArgs(
            tags={**spec.tags, "scalestack:stack": spec.stack, "scalestack:environment": spec.environment}
        ),
    )
    regional = pulumi.ResourceOptions(providers={"aws": provider})
    network = Network(
        "network",
        NetworkArgs(
            cidr=spec.network.cidr,
            availability_zones=spec.network.availability_zones,
            nat_gateways=spec.network.nat_gateways,
            interface_endpoints=spec.network.interface_endpoints,
            flow_log_retention_days=spec.monitoring.log_retention_days,
        ),
        regional,
    )
    return {"region": spec.region, "vpcId": network.vpc_id}


def spec_from_engine() -> StackSpec:
    """The spec from the config the engine passes to `pulumi up` (structured values arrive as JSON)."""
    stack = pulumi.get_stack()
    config = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    relevant = {k: _decode(v) for k, v in config.items() if k == REGION_KEY or k.startswith(f"{NAMESPACE}:")}
    return parse_config(relevant, stack=stack, source=f"stacks/Pulumi.{stack}.yaml")


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def run() -> None:
    try:
        spec = spec_from_engine()
    except SpecError as err:
        raise pulumi.RunError(str(err)) from None
    for key, value in build_stack(spec).items():
        pulumi.export(key, value)
