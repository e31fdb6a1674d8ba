"""scalestack's CrossGuard policy pack: `pulumi preview --policy-pack policy_pack`.

The rules live in infra/policies (shared with `scalestack plan`); this file only serves them. Say which
stack is being previewed so its environment's levels and its recorded waivers apply:

    SCALESTACK_STACK=prod pulumi preview --stack prod --policy-pack policy_pack

Constructing PolicyPack starts the analyzer's gRPC server and blocks, so nothing may import this module.
"""

import os
import sys
from pathlib import Path

# The pack runs from its own directory; the shared rules are in the repository beside it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import EnforcementLevel, PolicyPack

from infra.policies.pack import PackConfigError, select

try:
    selection = select(os.environ)
except PackConfigError as err:
    print(f"scalestack policy pack: {err}", file=sys.stderr)
    sys.exit(3)

PolicyPack(
    name="scalestack",
    description=f"scalestack guardrails and AWS constraints, levels for {selection.source}",
    policies=selection.policies(),
    enforcement_level=EnforcementLevel.ADVISORY,
)
