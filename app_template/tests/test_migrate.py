"""`python -m app.migrate` run by several instances at once: one applies the migrations, none fails."""

import os
import subprocess
import sys

from alembic.config import Config
from alembic.script import ScriptDirectory

from tests.servers import APP_DIR, PostgresCluster


def newest_revision() -> str:
    """The head of app/migrations, whatever revisions a fork has added."""
    config = Config(str(APP_DIR / "alembic.ini"))
    config.set_main_option("script_location", str(APP_DIR / "app" / "migrations"))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def test_concurrent_migrations_apply_once(pg: PostgresCluster) -> None:
    pg.primary.sql("CREATE DATABASE migrate_race", database="postgres")
    url = pg.primary.url.rsplit("/", 1)[0] + "/migrate_race"
    env = os.environ | {"DATABASE_URL": url}
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "app.migrate"], cwd=APP_DIR, env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    outputs = [run.communicate(timeout=60)[0] for run in runs]
    assert [run.returncode for run in runs] == [0] * 4
    assert sum("Running upgrade" in output for output in outputs) == 1
    assert (
        pg.primary.sql("SELECT version_num FROM alembic_version", database="migrate_race")
        == newest_revision()
    )
    assert pg.primary.sql("SELECT count(*) FROM items", database="migrate_race") == "0"
