"""Database URLs as users hold them, turned into the ones the app's async drivers take.

RDS, Heroku, docker-compose files and hosting panels hand out `postgres://` or `postgresql://` URLs with
libpq parameters (`?sslmode=require`); SQLAlchemy would pick the synchronous psycopg2 driver for them (not
installed) or pass `sslmode` to asyncpg, which does not know it. Every URL the app reads goes through
`normalize`, which picks asyncpg (aiosqlite for SQLite) and maps the libpq parameters it understands;
anything else is refused at start with a message that names the variable and what is allowed.
"""

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

POSTGRES_DRIVER = "postgresql+asyncpg"
SQLITE_DRIVER = "sqlite+aiosqlite"
_POSTGRES_SCHEMES = {
    "postgres",
    "postgresql",
    "postgresql+asyncpg",
    "postgresql+psycopg",
    "postgresql+psycopg2",
}
_SQLITE_SCHEMES = {"sqlite", "sqlite+aiosqlite", "sqlite+pysqlite"}
ALLOWED = (
    "postgresql://, postgres:// or postgresql+asyncpg://user:password@host:5432/database "
    "(query parameters: sslmode, connect_timeout, application_name, target_session_attrs), "
    "or sqlite+aiosqlite:///path/to/file.db"
)
# libpq's sslmode values, which asyncpg's `ssl` takes as they are
# (https://magicstack.github.io/asyncpg/current/api/index.html#connection).
_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
_LIBPQ_RENAMES = {"sslmode": "ssl", "connect_timeout": "timeout"}
_PASSED_THROUGH = {"ssl", "timeout", "application_name", "target_session_attrs"}


class DatabaseURLError(ValueError):
    pass


def normalize(url: str) -> str:
    """`url` with the app's async driver and asyncpg's parameter names; DatabaseURLError if unusable."""
    try:
        parsed = make_url(url.strip())
    except ArgumentError:
        raise DatabaseURLError(f"not a database URL; use {ALLOWED}") from None
    scheme = parsed.drivername
    if scheme in _SQLITE_SCHEMES:
        return parsed.set(drivername=SQLITE_DRIVER).render_as_string(hide_password=False)
    if scheme not in _POSTGRES_SCHEMES:
        raise DatabaseURLError(f"scheme {scheme}:// is not supported; use {ALLOWED}")
    if not parsed.host:
        raise DatabaseURLError(f"no host in the URL; use {ALLOWED}")
    query = _asyncpg_query(parsed)
    normalized = parsed.set(drivername=POSTGRES_DRIVER, query=query)
    return normalized.render_as_string(hide_password=False)


def _asyncpg_query(parsed: URL) -> dict[str, str]:
    query: dict[str, str] = {}
    for name, value in parsed.query.items():
        if not isinstance(value, str):
            raise DatabaseURLError(f"query parameter {name} is given more than once; use {ALLOWED}")
        renamed = _LIBPQ_RENAMES.get(name, name)
        if renamed not in _PASSED_THROUGH:
            raise DatabaseURLError(f"query parameter {name} is not supported; use {ALLOWED}")
        if renamed == "ssl" and value not in _SSL_MODES:
            raise DatabaseURLError(f"sslmode={value} is not one of {', '.join(sorted(_SSL_MODES))}")
        if renamed == "timeout" and not value.replace(".", "", 1).isdigit():
            raise DatabaseURLError(f"connect_timeout={value} is not a number of seconds")
        query[renamed] = value
    return query


def connect_options(url: str) -> tuple[str, dict[str, object]]:
    """The engine URL and the asyncpg connect arguments that a URL query cannot carry as strings."""
    parsed = make_url(url)
    if parsed.drivername != POSTGRES_DRIVER:
        return url, {}
    options: dict[str, object] = {}
    query = dict(parsed.query)
    if "application_name" in query:
        options["server_settings"] = {"application_name": str(query.pop("application_name"))}
    if "timeout" in query:
        options["timeout"] = float(str(query.pop("timeout")))
    return parsed.set(query=query).render_as_string(hide_password=False), options
