"""`python -m app.migrate`: bring the schema to the newest revision, once, however many instances run it.

On PostgreSQL the upgrade runs inside a transaction holding an advisory lock, so instances that start
together queue up and the later ones find nothing left to do. SQLite (the embedded default) has no
advisory locks; a file lock beside the database does the same job between worker processes.
"""

import asyncio
import fcntl
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection

from app.db import engine_for
from app.logs import configure_logging, get_logger
from app.roles import app_role, grant_app_role
from app.settings import APP_DIR, Settings, get_settings

# Any fixed 64-bit number that no other code in the same database uses as an advisory lock key.
MIGRATION_LOCK_KEY = 0x5CA1E57AC6

log = get_logger(__name__)


def _upgrade(connection: Connection) -> None:
    config = Config(str(APP_DIR.parent / "alembic.ini"))
    config.set_main_option("script_location", str(APP_DIR / "migrations"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


@asynccontextmanager
async def _file_lock(database: str | None) -> AsyncIterator[None]:
    if not database or database == ":memory:":
        yield
        return
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(f"{database}.migrate-lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        await asyncio.to_thread(fcntl.flock, lock_fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(lock_fd)  # releases the lock


async def migrate(settings: Settings) -> None:
    engine = engine_for(settings.migration_database_url or settings.database_url)
    role = app_role(settings)
    try:
        if engine.dialect.name == "postgresql":
            async with engine.begin() as connection:
                # Transaction-scoped, so a crashed migrator cannot leave the lock held.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                await connection.run_sync(_upgrade)
                if role:
                    await connection.run_sync(grant_app_role, role)
        else:
            async with _file_lock(engine.url.database), engine.begin() as connection:
                await connection.run_sync(_upgrade)
    finally:
        await engine.dispose()
    log.info("migrations applied", database=engine.url.render_as_string())


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level)
    asyncio.run(migrate(settings))


if __name__ == "__main__":
    main()
