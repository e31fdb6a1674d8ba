"""Alembic runs on the connection app.migrate hands it, inside the migration lock."""

from alembic import context
from sqlalchemy.engine import Connection

from app.models import Base

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    # The alembic command line would migrate without the lock that keeps concurrent deploys safe.
    raise SystemExit(
        'alembic is only for writing revisions here: `alembic revision -m "what changes"` creates one in '
        "app/migrations/versions/ (write its upgrade() and downgrade() by hand); apply migrations with "
        "`make migrate` (`python -m app.migrate`), which takes the migration lock"
    )
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
