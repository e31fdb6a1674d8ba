"""Code the kit deploys to run inside AWS (Lambda handlers), kept importable so tests can run it."""
