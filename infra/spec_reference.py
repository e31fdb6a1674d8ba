"""The stack spec's reference, generated from the model and the profiles so it cannot drift from them.

Run: python -m infra.spec_reference > docs/stack-spec.md   (a test fails when the file is out of date)
"""

from __future__ import annotations

import json
from typing import Any

from annotated_types import Ge, Gt, Le, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from infra.contract import ENVIRONMENTS
from infra.profiles import PROFILES
from infra.spec import NAMESPACE, REFUSED_KEYS, REGION_KEY, StackSpec

BOUNDS = (
    (Ge, "ge", ">="),
    (Gt, "gt", ">"),
    (Le, "le", "<="),
    (MinLen, "min_length", "length >="),
    (MaxLen, "max_length", "length <="),
)
HEADER = f"""# Stack spec reference

Generated from `infra/spec.py` and `infra/profiles.py` by `python -m infra.spec_reference`; do not edit.

A stack file `stacks/Pulumi.<stack>.yaml` sets `{REGION_KEY}` and keys under `{NAMESPACE}:`. Anything it
does not set comes from its environment's profile (the dev / staging / prod columns). Unknown keys,
values out of range, production stacks that are not highly available, what AWS would refuse (a region
outside the commercial partition, an engine version RDS or ElastiCache does not offer, slow start with an
algorithm other than round_robin, an instance type of another architecture than the image's), duplicate
YAML keys and near-misses of the `{NAMESPACE}:` namespace are refused before any resource is built, with a
message naming the file and the key. The AWS facts and their sources live in `infra/aws_facts.py`.
"""


def render() -> str:
    lines = [HEADER, "## Top-level keys", "", *_table(StackSpec, None, ())]
    for name, field in StackSpec.model_fields.items():
        section = _model_of(field)
        if section is not None:
            key = field.alias or name
            lines += ["", f"## `{NAMESPACE}:{key}`", "", _doc(section), "", *_table(section, key, (key,))]
    lines += ["", "## Refused keys", "", "| key | why |", "| --- | --- |"]
    lines += [f"| `{NAMESPACE}:{key}` | {reason} |" for key, reason in REFUSED_KEYS.items()]
    return "\n".join(lines) + "\n"


def _table(model: type[BaseModel], section: str | None, path: tuple[str, ...]) -> list[str]:
    rows = [
        "| key | type | allowed | dev | staging | prod | what it does |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, field in model.model_fields.items():
        if name in ("stack", "source"):
            continue
        key = field.alias or name
        if section is None and _model_of(field) is not None:
            rows.append(f"| `{NAMESPACE}:{key}` | section | see below | | | | {_doc(_model_of(field))} |")
            continue
        label = key if section else (key if key == REGION_KEY else f"{NAMESPACE}:{key}")
        defaults = [_default(env, (*path, key), field) for env in ENVIRONMENTS]
        rows.append(
            f"| `{label}` | {_type(field)} | {_allowed(field)} | "
            + " | ".join(defaults)
            + f" | {field.description or ''} |"
        )
    return rows


def _model_of(field: FieldInfo) -> type[BaseModel] | None:
    candidates = (field.annotation, *getattr(field.annotation, "__args__", ()))
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def _doc(model: type[BaseModel] | None) -> str:
    return next(iter((model.__doc__ or "").strip().splitlines()), "") if model else ""


def _type(field: FieldInfo) -> str:
    origin = getattr(field.annotation, "__origin__", None)
    if origin in (dict, list):
        return "mapping" if origin is dict else "list"
    text = str(field.annotation).replace("typing.", "").replace("<class '", "").replace("'>", "")
    return text.replace("|", "or").replace(
        "Annotated[str, FieldInfo(annotation=NoneType, required=True, metadata=[", "str["
    )


def _allowed(field: FieldInfo) -> str:
    bounds = []
    for item in field.metadata:
        for kind, attribute, symbol in BOUNDS:
            if isinstance(item, kind):
                bounds.append(f"{symbol} {getattr(item, attribute)}")
        pattern = getattr(item, "pattern", None)
        if pattern:
            bounds.append(f"`{pattern}`")
    args = getattr(field.annotation, "__args__", ())
    if getattr(field.annotation, "__origin__", None) is not None and str(field.annotation).startswith(
        "typing.Literal"
    ):
        bounds.append(", ".join(json.dumps(a) for a in args))
    return "; ".join(bounds).replace("|", "\\|")


def _default(environment: str, path: tuple[str, ...], field: FieldInfo) -> str:
    value: Any = PROFILES[environment]
    for part in path:
        if not isinstance(value, dict) or part not in value:
            return (
                "(required)"
                if field.is_required()
                else f"`{json.dumps(field.get_default(call_default_factory=True), default=str)}`"
            )
        value = value[part]
    return f"`{json.dumps(value)}`"


if __name__ == "__main__":
    print(render(), end="")
