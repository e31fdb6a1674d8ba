"""Database URLs as users hold them: accepted and mapped to the async drivers, or refused in one line."""

import os
import subprocess
import sys

import pytest

from app.dburl import DatabaseURLError, connect_options, normalize
from tests.servers import APP_DIR

ACCEPTED = [
    ("postgres://u:p@db.example.com:5432/app", "postgresql+asyncpg://u:p@db.example.com:5432/app"),
    ("postgresql://u:p@db.example.com/app", "postgresql+asyncpg://u:p@db.example.com/app"),
    ("postgresql+psycopg2://u@db/app", "postgresql+asyncpg://u@db/app"),
    ("postgresql+asyncpg://u@db/app?ssl=require", "postgresql+asyncpg://u@db/app?ssl=require"),
    ("postgres://u@db/app?sslmode=verify-full", "postgresql+asyncpg://u@db/app?ssl=verify-full"),
    ("postgres://u@db/app?connect_timeout=3", "postgresql+asyncpg://u@db/app?timeout=3"),
    ("sqlite:////tmp/app.db", "sqlite+aiosqlite:////tmp/app.db"),
    ("sqlite+aiosqlite:///data/app.db", "sqlite+aiosqlite:///data/app.db"),
]


@pytest.mark.parametrize(("given", "used"), ACCEPTED)
def test_urls_users_hold_are_mapped_to_the_async_drivers(given: str, used: str) -> None:
    assert normalize(given) == used


REFUSED = [
    ("mysql://u@db/app", "mysql:// is not supported"),
    ("not a url", "not a database URL"),
    ("postgres:///app", "no host"),
    ("postgres://u@db/app?sslmode=sometimes", "sslmode=sometimes"),
    ("postgres://u@db/app?gssencmode=disable", "gssencmode is not supported"),
]


@pytest.mark.parametrize(("given", "says"), REFUSED)
def test_unusable_urls_are_refused_saying_why(given: str, says: str) -> None:
    with pytest.raises(DatabaseURLError, match=says):
        normalize(given)


def test_parameters_asyncpg_takes_only_as_connect_arguments_move_there() -> None:
    url, options = connect_options(normalize("postgres://u@db/app?application_name=web&connect_timeout=4"))
    assert url == "postgresql+asyncpg://u@db/app"
    assert options == {"server_settings": {"application_name": "web"}, "timeout": 4.0}


@pytest.mark.parametrize(
    "command",
    [["-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app"], ["-m", "app.migrate"]],
    ids=["web", "migrate"],
)
def test_a_bad_url_stops_the_process_with_one_line_naming_the_variable(command: list[str]) -> None:
    env = os.environ | {"DATABASE_URL": "postgres://app@db/app", "DATABASE_REPLICA_URLS": "mysql://r/app"}
    done = subprocess.run(
        [sys.executable, *command], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=30
    )
    assert done.returncode != 0
    output = (done.stdout + done.stderr).strip().splitlines()
    assert len(output) == 1, output
    expected = "configuration error: DATABASE_REPLICA_URLS: scheme mysql:// is not supported"
    assert output[0].startswith(expected)
    assert "postgresql://" in output[0] and "Traceback" not in output[0]
