"""Every setting comes from the environment, so one image runs unchanged in every environment."""

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from app.dburl import normalize

APP_DIR = Path(__file__).resolve().parent
EMBEDDED_DATABASE_URL = f"sqlite+aiosqlite:///{APP_DIR.parent / 'data' / 'app.db'}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    database_url: str = Field(
        EMBEDDED_DATABASE_URL,
        description=(
            "Primary database (postgresql://, postgres://, postgresql+asyncpg:// or sqlite+aiosqlite:///); "
            "every write goes here."
        ),
    )
    database_password_dir: Path | None = Field(
        None,
        description=(
            "PostgreSQL passwords read for each new connection: the file named after the server's host "
            "(e.g. short-lived RDS IAM tokens kept fresh outside the app); it wins over a password in the "
            "URLs. Unset means the URLs' passwords."
        ),
    )
    migration_database_url: str | None = Field(
        None,
        description=(
            "The login migrations use (the schema's owner); unset means DATABASE_URL. When its user is not "
            "DATABASE_URL's, migrations also give DATABASE_URL's user read/write on the app's tables only."
        ),
    )
    # NoDecode: the variable is a plain comma-separated list, not JSON.
    database_replica_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Read replicas, comma-separated; empty means reads use the primary."
    )
    redis_url: str | None = Field(
        None, description="Shared cache and Celery broker (redis:// or rediss://); unset means in-process."
    )
    migrate_on_start: bool | None = Field(
        None, description="Apply migrations when the app starts; unset means only on the embedded SQLite."
    )
    read_your_writes_seconds: float = Field(
        5.0, ge=0, description="After a client writes, its reads go to the primary for this long."
    )
    replica_retry_seconds: float = Field(
        30.0, gt=0, description="How long a failed replica is left out before it is tried again."
    )
    redis_retry_seconds: float = Field(
        5.0, gt=0, description="How long the app skips Redis after a Redis error."
    )
    readiness_requires_cache: bool = Field(
        False, description="Make /readyz fail while the cache is down (by default it only reports it)."
    )
    db_connect_timeout_seconds: float = Field(2.0, gt=0, description="Connect timeout per database server.")
    db_pool_size: int = Field(10, ge=1, description="Connections per server and per worker process.")
    cache_ttl_seconds: float = Field(
        60.0, gt=0, description="Freshness of a cached item in the shared cache."
    )
    cache_ttl_jitter: float = Field(
        0.1, ge=0, lt=1, description="Relative random spread of TTLs, so hot keys do not expire together."
    )
    cache_stale_seconds: float = Field(
        30.0, ge=0, description="How long past its TTL a value may be served while one loader refreshes it."
    )
    local_cache_ttl_seconds: float = Field(
        1.0, ge=0, description="In-process first tier in front of Redis; 0 disables it."
    )
    local_cache_max_items: int = Field(10_000, ge=1, description="Bound on the in-process tier.")
    cdn_max_age_seconds: int = Field(
        30, ge=0, description="s-maxage on cacheable API responses (CloudFront's copy)."
    )
    max_body_bytes: int = Field(64 * 1024, ge=1, description="Larger request bodies get 413.")
    shutdown_drain_seconds: float = Field(
        5.0, ge=0, description="After SIGTERM, stay up but not ready this long so the load balancer drains."
    )
    graceful_timeout_seconds: float = Field(
        30.0, gt=0, description="Upper bound from SIGTERM to exit; in-flight requests finish within it."
    )
    app_version: str = Field(
        "dev", description="What this process runs: the image's tag, baked in at build time."
    )
    port: int = Field(8000, description="Listening port.")
    bind_host: str = Field("0.0.0.0", description="Listening address.")
    web_concurrency: int | None = Field(
        None, ge=1, description="gunicorn worker processes; unset means one per CPU."
    )
    max_requests_per_worker: int = Field(
        1_000_000, ge=0, description="Recycle a worker after about this many requests (±10%); 0 never."
    )
    profiling_token: SecretStr | None = Field(
        None,
        description=(
            "Unset (the default): profiling is off. Set: a request with this value in its X-Profile header "
            "is answered with its pyinstrument profile instead of its body (see app.profiling)."
        ),
    )
    log_level: str = Field("INFO", description="Root log level.")
    access_log: bool = Field(True, description="One JSON line per request.")

    @field_validator("database_replica_urls", mode="before")
    @classmethod
    def _split_urls(cls, value: object) -> object:
        if isinstance(value, str):
            return [url.strip() for url in value.split(",") if url.strip()]
        return value

    @field_validator("database_url", "migration_database_url")
    @classmethod
    def _normalize_url(cls, value: str | None) -> str | None:
        return None if value is None else normalize(value)

    @field_validator("database_replica_urls")
    @classmethod
    def _normalize_urls(cls, value: list[str]) -> list[str]:
        return [normalize(url) for url in value]

    @property
    def uses_embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def should_migrate_on_start(self) -> bool:
        if self.migrate_on_start is None:
            return self.uses_embedded_database
        return self.migrate_on_start

    @property
    def workers(self) -> int:
        return self.web_concurrency or os.cpu_count() or 1


def _one_line(error: ValidationError) -> str:
    """`VARIABLE: what is wrong and what is allowed`, for each setting that is wrong."""
    problems = []
    for problem in error.errors(include_url=False):
        variable = str(problem["loc"][0]).upper() if problem["loc"] else "settings"
        message = problem["msg"].removeprefix("Value error, ")
        problems.append(f"{variable}: {message}")
    return "configuration error: " + "; ".join(problems)


@lru_cache
def get_settings() -> Settings:
    """The settings; a wrong one stops the process with one line that names it, not a traceback."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit(_one_line(error)) from None
