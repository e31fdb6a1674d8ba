"""The generated stack-spec reference is the one committed, so the docs say what the code does."""

from __future__ import annotations

from pathlib import Path

from infra.spec_reference import render


def test_docs_stack_spec_is_current() -> None:
    committed = Path(__file__).resolve().parent.parent / "docs" / "stack-spec.md"
    assert committed.read_text() == render(), (
        "run: .venv/bin/python -m infra.spec_reference > docs/stack-spec.md"
    )


def test_reference_lists_every_section_with_per_environment_defaults() -> None:
    text = render()
    assert "| `readReplicas` | int | >= 0; <= 15 | `0` | `1` | `2` |" in text
    assert "| `natGateways` |" in text and '`"single"` | `"one-per-az"` | `"one-per-az"`' in text
    assert "`scalestack:database.publiclyAccessible`" in text
