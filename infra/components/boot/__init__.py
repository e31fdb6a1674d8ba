"""What an instance runs at boot, as files: shell scripts, systemd units and the settings renderer.

Each file is a `string.Template`. Shell and unit templates (`*.sh.tmpl`, `*.service.tmpl`,
`*.timer.tmpl`) mark placeholders `@{name}`, so the shell's own `$` stays as written and a template reads
as the script it renders; the Python renderer (`render_env.py`, a module ruff and mypy check like any
other) uses the standard `${name}` inside string constants, as Python has no `$` of its own. A
placeholder without a value fails the render (`substitute`, never `safe_substitute`). `make lint` runs
shellcheck on the rendered user data (tests/boot_lint.py).
"""

from __future__ import annotations

import ast
from importlib.resources import files
from string import Template


class ShellTemplate(Template):
    delimiter = "@"


def render(name: str, **values: object) -> str:
    """The template file `name` of this package with its placeholders filled; Python without its comments
    and docstrings (`compact`)."""
    text = files(__package__).joinpath(name).read_text()
    if name.endswith(".py"):
        return compact(Template(text).substitute(values))
    return ShellTemplate(text).substitute(values)


def compact(source: str) -> str:
    """The same program without comments and docstrings, which are for readers of this repository.

    User data is limited to 16 KB (infra.policies.rules.compute.USER_DATA_MAX_BYTES, rule
    `ec2-user-data-size`) and the default web service's carries both Python scripts; their prose was a
    third of it. `ast.unparse` writes only syntax the source used, which runs on the instances' Python
    3.9 as the source does (the boot tests run the compacted scripts).
    """
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        kept = [
            s
            for s in body
            if not (
                isinstance(s, ast.Expr)
                and isinstance(s.value, ast.Constant)
                and isinstance(s.value.value, str)
            )
        ]
        node.body = kept or [ast.Pass()]  # type: ignore[attr-defined]
    return ast.unparse(tree) + "\n"
