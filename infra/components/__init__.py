"""The stack's building blocks: one pulumi.ComponentResource per module, composed in infra/program.py."""
