"""Alembic runs on the connection app.migrate hands it, inside the migration lock."""

from alembic import context
from sqlalchemy.engine import Connection

from app.models import Base

connection: Connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
