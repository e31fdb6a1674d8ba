"""Every command's console: a pipe or CI log gets wide lines, not rich's 80-column default."""

from __future__ import annotations

import pytest

from scripts.console import PIPED_WIDTH, output_console


def test_piped_output_is_wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert output_console().width == PIPED_WIDTH > 80


def test_columns_wins_when_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "132")
    monkeypatch.setattr("sys.stdout.isatty", lambda: False)
    assert output_console().width == 132
