"""Real servers on free 127.0.0.1 ports, for the tests and the benchmark (bench/app).

PostgreSQL (a primary and streaming replicas) and Redis are found wherever they are installed
(`postgres_bin_dir`, `redis_server_binary`). PostgreSQL
refuses to run as root, so when the tests run as root its processes run as an unprivileged user.
Every wait here is bounded; every server is stopped by its `stop()`, which the fixtures always call.
"""

import contextlib
import functools
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

APP_DIR = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(condition: Callable[[], bool], what: str, timeout: float = START_TIMEOUT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # Not yet up: refused connections, timeouts, a server still starting (psql's non-zero exit).
        with contextlib.suppress(OSError, httpx.HTTPError, subprocess.CalledProcessError):
            if condition():
                return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


# What to install when a server is missing, per package manager; the tests print it when they skip.
INSTALL_HINT = (
    "Debian/Ubuntu: apt-get install -y postgresql redis-server; Fedora: dnf install -y postgresql-server "
    "postgresql-contrib redis; macOS: brew install postgresql@15 redis; or put their bin directories on PATH"
)
_SERVER_TOOLS = ("initdb", "pg_ctl", "pg_basebackup", "psql", "postgres")


def _has_server_tools(directory: Path) -> bool:
    return all((directory / tool).exists() for tool in _SERVER_TOOLS)


def _pg_config_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True)
        return Path(done.stdout.strip())
    return None


def postgres_bin_dir() -> Path | None:
    """Where PostgreSQL's server tools are: `pg_config --bindir`, then `initdb` on PATH (symlinks
    resolved, as Homebrew and Debian's wrappers use them), then Debian's versioned directories."""
    candidates: list[Path] = []
    if (bindir := _pg_config_bindir()) is not None:
        candidates.append(bindir)
    if (initdb := shutil.which("initdb")) is not None:
        candidates += [Path(initdb).parent, Path(initdb).resolve().parent]
    debian = glob.glob("/usr/lib/postgresql/*/bin")
    candidates += sorted((Path(path) for path in debian), key=lambda path: -int(path.parent.name))
    return next((path for path in candidates if _has_server_tools(path)), None)


def redis_server_binary() -> str | None:
    """redis-server on PATH, or where packages put it off PATH (/usr/sbin, Homebrew's prefixes)."""
    places = os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin"]
    )
    return shutil.which("redis-server", path=places)


def _unprivileged_user() -> str | None:
    """None when not root; otherwise an existing account that PostgreSQL accepts to run as."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' account exists")


class Postgres:
    """One PostgreSQL server; `replica_of` makes it a streaming replica of another."""

    def __init__(self, root: Path, name: str, replica_of: "Postgres | None" = None) -> None:
        bin_dir = postgres_bin_dir()
        if bin_dir is None:
            raise RuntimeError(f"PostgreSQL's server tools are not installed ({INSTALL_HINT})")
        self.bin = bin_dir
        self.data = root / name
        self.log = root / f"{name}.log"
        self.socket_dir = root
        self.port = free_port()
        self.user = _unprivileged_user()
        if replica_of is None:
            self._run("initdb", "-D", str(self.data), "-U", "app", "--auth=trust", "-E", "UTF8", "--no-sync")
            self._configure()
        else:
            self._run(
                "pg_basebackup", "-D", str(self.data), "-h", "127.0.0.1", "-p", str(replica_of.port),
                "-U", "app", "-R", "--checkpoint=fast", "--no-sync",
            )  # fmt: skip
            self._configure()

    def _as_user(self, argv: list[str]) -> list[str]:
        return argv if self.user is None else ["runuser", "-u", self.user, "--", *argv]

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run(
            self._as_user([str(self.bin / tool), *args]), check=True, capture_output=True, timeout=60
        )

    def _configure(self) -> None:
        # Durability settings off: these servers hold test data for a few minutes.
        settings = f"""
listen_addresses = '127.0.0.1'
port = {self.port}
unix_socket_directories = '{self.socket_dir}'
max_connections = 200
shared_preload_libraries = 'pg_stat_statements'
wal_level = replica
max_wal_senders = 5
hot_standby = on
fsync = off
synchronous_commit = off
full_page_writes = off
"""
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(settings)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://app@127.0.0.1:{self.port}/app"

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def sql(self, query: str, database: str = "app", user: str = "app") -> str:
        argv = [str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", user, "-d", database]
        done = subprocess.run(
            [*argv, "-AtX", "-c", query], check=True, capture_output=True, text=True, timeout=20
        )
        return done.stdout.strip()

    def require_password(self, role: str) -> None:
        """TCP logins as `role` must give its password (SCRAM); every other role stays trusted."""
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._run("pg_ctl", "-D", str(self.data), "reload")

    def has_replayed(self, lsn: str) -> bool:
        return self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn") == "t"

    def statement_calls(self, pattern: str) -> int:
        """How many times statements matching `pattern` (SQL LIKE) ran on this server: its own evidence."""
        escaped = pattern.replace("'", "''")
        return int(
            self.sql(f"SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '{escaped}'")
        )


class PostgresCluster:
    """A primary with database `app` and pg_stat_statements, and streaming replicas of it."""

    def __init__(self, replicas: int = 1) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="app-pg-"))
        user = _unprivileged_user()
        if user is not None:
            shutil.chown(self.root, user)
        self.primary = Postgres(self.root, "primary")
        self.primary.start()
        self.primary.sql("CREATE DATABASE app", database="postgres")
        self.primary.sql("CREATE EXTENSION pg_stat_statements")
        self.replicas = [Postgres(self.root, f"replica{n}", replica_of=self.primary) for n in range(replicas)]
        for replica in self.replicas:
            replica.start()

    @property
    def replica_urls(self) -> str:
        return ",".join(replica.url for replica in self.replicas)

    def wait_replicated(self) -> None:
        """Until every replica has replayed everything the primary has written so far."""
        # The insert position: with synchronous_commit off the write position can trail the last commit.
        target = self.primary.sql("SELECT pg_current_wal_insert_lsn()")
        for replica in self.replicas:
            wait_for(functools.partial(replica.has_replayed, target), "the replicas to catch up", timeout=15)

    def stop(self) -> None:
        for replica in self.replicas:
            replica.stop("immediate")
        self.primary.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    def __init__(self) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(f"redis-server is not installed ({INSTALL_HINT})")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, "redis-server to answer")

    def _answers(self) -> bool:
        with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


# The version the embedded test server claims to run, as an image built with IMAGE_TAG would.
EMBEDDED_VERSION = "test-1.2.3"

# Settings the app reads; cleared so a developer's own environment cannot leak into a test server.
_APP_ENV_PREFIXES = (
    "DATABASE_",
    "REDIS_",
    "WEB_CONCURRENCY",
    "PORT",
    "BIND_HOST",
    "MIGRATE_ON_START",
    "APP_VERSION",
    "PROFILING_",
)


class AppServer:
    """The app under gunicorn, exactly as the image's CMD runs it."""

    def __init__(
        self, env: dict[str, str], log_path: Path, workers: int = 2, app_dir: Path = APP_DIR
    ) -> None:
        self.app_dir = app_dir
        self.port = free_port()
        self.log_path = log_path
        base = {k: v for k, v in os.environ.items() if not k.startswith(_APP_ENV_PREFIXES)}
        self.env = base | {"PORT": str(self.port), "BIND_HOST": "127.0.0.1", "WEB_CONCURRENCY": str(workers)}
        self.env |= env
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "app.main:app"],
                cwd=self.app_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        wait_for(self._ready, f"the app on port {self.port} (log: {self.log_path})")

    def _ready(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
        return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200

    def terminate(self) -> None:
        """SIGTERM to the gunicorn master, as the container runtime sends it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def log_lines(self) -> list[str]:
        return self.log_path.read_text(errors="replace").splitlines()


@contextlib.contextmanager
def running(server: AppServer) -> Iterator[AppServer]:
    server.start()
    try:
        yield server
    finally:
        server.stop()
