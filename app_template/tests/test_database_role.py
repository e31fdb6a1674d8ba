"""The app's own database role: what the migration grants it, and logins that survive a password change.

On AWS the kit runs migrations as the RDS master user and the app as its own role with IAM tokens that the
instance re-signs every few minutes (infra/components/app_settings.py); here a password file and
`ALTER ROLE ... PASSWORD` stand in for the token and its renewal, on a real PostgreSQL.
"""

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import tasks
from app.settings import Settings
from tests.servers import APP_DIR, AppServer, Postgres, PostgresCluster, running


def _database(pg: PostgresCluster, name: str) -> str:
    pg.primary.sql(f"CREATE DATABASE {name}", database="postgres")
    return f"postgresql+asyncpg://app@127.0.0.1:{pg.primary.port}/{name}"


def _migrate(owner_url: str, app_url: str) -> None:
    env = os.environ | {"MIGRATION_DATABASE_URL": owner_url, "DATABASE_URL": app_url}
    subprocess.run([sys.executable, "-m", "app.migrate"], cwd=APP_DIR, env=env, check=True, timeout=60)


def _refusal(server: Postgres, query: str, database: str) -> str:
    """What PostgreSQL answers the app's role for `query`; empty if it was allowed."""
    try:
        server.sql(query, database=database, user="grants_app")
    except subprocess.CalledProcessError as error:
        return str(error.stderr)
    return ""


@pytest.fixture(scope="module")
def granted(pg: PostgresCluster) -> str:
    """Database `grants`, migrated by the owner `app` for the app's role `grants_app`."""
    owner = _database(pg, "grants")
    app_url = f"postgresql+asyncpg://grants_app@127.0.0.1:{pg.primary.port}/grants"
    _migrate(owner, app_url)
    _migrate(owner, app_url)  # idempotent: a second deploy's migration changes nothing and fails nothing
    return "grants"


def test_migration_creates_the_apps_role_without_power(pg: PostgresCluster, granted: str) -> None:
    flags = pg.primary.sql(
        "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'grants_app'"
    )
    assert flags == "t|f|f|f"


def test_the_apps_role_reads_and_writes_rows(pg: PostgresCluster, granted: str) -> None:
    run = pg.primary.sql
    new_id = run(
        "INSERT INTO items (name, price_cents, tags) VALUES ('lamp', 300, '[]') RETURNING id",
        granted,
        "grants_app",
    )
    new_id = new_id.splitlines()[0]
    assert run(f"UPDATE items SET price_cents = 400 WHERE id = {new_id}", granted, "grants_app") == "UPDATE 1"
    assert run(f"SELECT price_cents FROM items WHERE id = {new_id}", granted, "grants_app") == "400"
    assert run(f"DELETE FROM items WHERE id = {new_id}", granted, "grants_app") == "DELETE 1"


@pytest.mark.parametrize(
    "query",
    [
        "CREATE TABLE intruder (id int)",
        "ALTER TABLE items ADD COLUMN intruder int",
        "DROP TABLE items",
        "TRUNCATE items",
        "UPDATE alembic_version SET version_num = 'x'",
        "CREATE SCHEMA intruder",
    ],
)
def test_the_apps_role_cannot_change_the_schema(pg: PostgresCluster, granted: str, query: str) -> None:
    refusal = _refusal(pg.primary, query, granted)
    assert "permission denied" in refusal or "must be owner" in refusal


def test_tables_of_later_migrations_are_covered(pg: PostgresCluster, granted: str) -> None:
    """A later migration runs as the owner; default privileges give the app's role its rows too."""
    pg.primary.sql("CREATE TABLE later (id serial PRIMARY KEY, note text)", database=granted)
    assert pg.primary.sql("INSERT INTO later (note) VALUES ('x')", granted, "grants_app") == "INSERT 0 1"
    assert pg.primary.sql("SELECT note FROM later", granted, "grants_app") == "x"


@pytest.fixture(scope="module")
def rotating(pg: PostgresCluster) -> Iterator[str]:
    """Database `rotation` whose app role `rotating_app` must log in with its password over TCP."""
    owner = _database(pg, "rotation")
    _migrate(owner, f"postgresql+asyncpg://rotating_app@127.0.0.1:{pg.primary.port}/rotation")
    pg.primary.require_password("rotating_app")
    pg.primary.sql("ALTER ROLE rotating_app PASSWORD 'first'")
    yield f"127.0.0.1:{pg.primary.port}/rotation"


def _rotate(pg: PostgresCluster, password: str, password_dir: Path) -> None:
    """Change the role's password, hand the new one to the provider, and end the role's open sessions."""
    pg.primary.sql(f"ALTER ROLE rotating_app PASSWORD '{password}'")
    (password_dir / "127.0.0.1").write_text(password + "\n")
    pg.primary.sql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'rotating_app'"
    )


def _creates_item(app: AppServer, name: str) -> int:
    response = httpx.post(f"{app.url}/api/items", json={"name": name, "price": 1}, timeout=10)
    return response.status_code


def test_new_connections_use_the_current_password_without_a_restart(
    pg: PostgresCluster, rotating: str, tmp_path: Path
) -> None:
    password_dir = tmp_path / "passwords"
    password_dir.mkdir()
    (password_dir / "127.0.0.1").write_text("first\n")
    provided = {
        "DATABASE_URL": f"postgresql+asyncpg://rotating_app@{rotating}",
        "DATABASE_PASSWORD_DIR": str(password_dir),
    }
    read_once = {"DATABASE_URL": f"postgresql+asyncpg://rotating_app:first@{rotating}"}
    with (
        running(AppServer(provided, tmp_path / "provided.log", workers=1)) as fresh,
        running(AppServer(read_once, tmp_path / "read_once.log", workers=1)) as stale,
    ):
        assert (_creates_item(fresh, "before"), _creates_item(stale, "before")) == (201, 201)
        for password in ("second", "third"):
            _rotate(pg, password, password_dir)
            # New connections: the provider's app logs in with the new password; the app that read its
            # password once at start is locked out until someone restarts it.
            assert _creates_item(fresh, f"after {password}") == 201
            assert _creates_item(stale, f"after {password}") >= 500
        assert httpx.get(f"{fresh.url}/readyz", timeout=10).status_code == 200
    names = pg.primary.sql("SELECT name FROM items ORDER BY id", database="rotation").splitlines()
    assert names == ["before", "before", "after second", "after third"]


def test_the_worker_logs_in_with_the_current_password_too(
    pg: PostgresCluster, rotating: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    password_dir = tmp_path / "passwords"
    password_dir.mkdir()
    _rotate(pg, "fourth", password_dir)
    settings = Settings(
        database_url=f"postgresql+asyncpg://rotating_app@{rotating}", database_password_dir=password_dir
    )
    monkeypatch.setattr(tasks, "get_settings", lambda: settings)
    asyncio.run(tasks._count_tags(["rotated"]))
    assert pg.primary.sql("SELECT count FROM tag_counts WHERE tag = 'rotated'", database="rotation") == "1"
