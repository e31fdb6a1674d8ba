"""Entry point `pulumi up` runs: build the stack named by the engine from its validated spec."""

from infra.program import run

run()
