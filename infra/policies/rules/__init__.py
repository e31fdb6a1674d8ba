"""Every rule, grouped by service in the order `scalestack policy --list` shows them."""

from __future__ import annotations

from infra.policies.model import Rule
from infra.policies.rules import (
    cache,
    cdn,
    cdn_origin,
    compute,
    database,
    identity,
    load_balancing,
    metrics,
    network,
    operations,
    reachability,
    storage,
    vpc,
)

RULES: tuple[Rule, ...] = tuple(
    rule
    for module in (
        load_balancing,
        compute,
        database,
        cache,
        cdn,
        cdn_origin,
        storage,
        network,
        reachability,
        vpc,
        identity,
        operations,
        metrics,
    )
    for rule in module.RULES
)
