"""docs/aws-constraints.md, generated from the AWS-constraint rules and the spec's constraints: no drift.

Run: python -m infra.constraints_reference > docs/aws-constraints.md   (a test fails when it is out of date)
"""

from __future__ import annotations

from infra.constraints import SPEC_CONSTRAINTS
from infra.policies.model import Category
from infra.policies.rules import RULES
from infra.policies.rules.metrics import METRICS
from infra.spec import NAMESPACE

HEADER = """# AWS constraints the kit checks

Generated from the policy rules of category `aws-constraint` (`infra/policies/rules/`) and the spec's
constraints (`infra/constraints.py`) by `python -m infra.constraints_reference`; do not edit.

The offline engine accepts any value, so a stack AWS would refuse, or one that deploys and then cannot
work, plans cleanly unless the kit knows the constraint. Each constraint below states what AWS requires,
where AWS (or the provider) says so, and what enforces it: a spec check refuses the stack file before
anything is planned; a policy rule fails `scalestack plan` and `pulumi preview --policy-pack policy_pack`.
AWS-constraint rules are mandatory in every environment and cannot be waived.
"""


def render() -> str:
    constraints = [r for r in RULES if r.category is Category.AWS]
    lines = [HEADER, "## Policy rules", "", "| rule | what AWS requires | resource types | source |"]
    lines.append("| --- | --- | --- | --- |")
    lines += [
        f"| `{r.id}` | {r.description} | {', '.join(f'`{t}`' for t in r.types)} | {_link(r.source)} |"
        for r in constraints
    ]
    lines += ["", "## Spec checks", ""]
    if SPEC_CONSTRAINTS:
        lines += ["| check | stack-file keys | what AWS requires | source |", "| --- | --- | --- | --- |"]
        lines += [
            f"| `{c.id}` | {', '.join(f'`{k}`' for k in c.keys)} | {c.statement} | {_link(c.source)} |"
            for c in SPEC_CONSTRAINTS
        ]
    else:
        lines.append(f"None registered yet: `{NAMESPACE}:` keys are checked by the policy rules above only.")
    lines += ["", "## Metrics and the dimensions they are published under", "", _METRICS_INTRO, ""]
    lines += ["| namespace | metric | dimension sets | source |", "| --- | --- | --- | --- |"]
    for namespace, table in METRICS.items():
        for metric, dimension_sets in table.metrics.items():
            sets = "; ".join(sorted(" + ".join(sorted(s)) for s in dimension_sets))
            lines.append(f"| `{namespace}` | `{metric}` | {sets} | {_link(table.source)} |")
    return "\n".join(lines) + "\n"


_METRICS_INTRO = (
    "`cloudwatch-metric-dimensions` judges every alarm and dashboard widget against this table: a metric "
    "read by dimensions AWS never publishes it under has no data, so its alarm never fires."
)


def _link(url: str) -> str:
    return f"<{url}>"


if __name__ == "__main__":
    print(render(), end="")
