"""The console every command prints through: a terminal's own width, or wide when piped.

Rich assumes 80 columns when stdout is not a terminal, which wraps every table row of a CI log or a
`| less` into several lines and cuts long messages mid-word. Piped output gets `COLUMNS` when set (rich
reads it) or a width no message reaches, so a row stays one line and `grep` finds it whole.
"""

from __future__ import annotations

import os
import sys

from rich.console import Console

PIPED_WIDTH = 240


def output_console() -> Console:
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return Console()
    return Console(width=PIPED_WIDTH)
