"""Ship a new version of the app: build, push, migrate, update, roll out, verify, and undo it when it is bad.

Every external system sits behind one Protocol (`ports.py`) with one boto3/Docker/Pulumi adapter each, so the
orchestrator (`pipeline.py`) is plain decisions over those interfaces and is tested with in-process fakes.
"""
