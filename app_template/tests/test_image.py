"""Builds the Dockerfile with Podman and runs its three commands. Optional by nature: no registry is
reachable here, so it needs a base image made on this machine (tests/make_base_image.sh); without
podman or that image it skips, under CI too.
"""

import os
import shutil
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from tests.servers import APP_DIR, PostgresCluster, RedisServer, free_port, wait_for

BASE_IMAGE = os.environ.get("APP_BASE_IMAGE", "localhost/python-base:bookworm")
IMAGE = "localhost/scalestack-app:test"
IMAGE_TAG = "1.2.3-test"
# What this machine's Podman needs (crun and systemd cgroups do not work here), and limits runc may set.
CONTAINERS_CONF = """
[containers]
netns = "host"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
"""
LIMITS = ["--ulimit", "nofile=20000:20000", "--ulimit", "nproc=4096:4096"]


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed (apt-get install -y podman runc)")
    conf = tmp_path_factory.mktemp("podman") / "containers.conf"
    conf.write_text(CONTAINERS_CONF)
    os.environ["CONTAINERS_CONF"] = str(conf)
    try:
        if subprocess.run(["podman", "image", "exists", BASE_IMAGE], check=False).returncode != 0:
            pytest.skip(f"no local base image {BASE_IMAGE}: make one with tests/make_base_image.sh")
        yield ["podman"]
    finally:
        del os.environ["CONTAINERS_CONF"]


@pytest.fixture(scope="module")
def image(podman: list[str]) -> str:
    build = [*podman, "build", "-q", "--format", "docker", "--network", "host", *LIMITS]
    build += ["--build-arg", f"BASE_IMAGE={BASE_IMAGE}", "--build-arg", f"IMAGE_TAG={IMAGE_TAG}"]
    build += ["-t", IMAGE, str(APP_DIR)]
    subprocess.run(build, check=True, capture_output=True, timeout=600)
    return IMAGE


def podman_run(podman: list[str], image: str, *args: str, env: dict[str, str] | None = None) -> list[str]:
    flags = [flag for key, value in (env or {}).items() for flag in ("-e", f"{key}={value}")]
    return [*podman, "run", "--network", "host", *LIMITS, *flags, *args, image]


def test_web_runs_as_non_root_answers_probes_and_stops_cleanly(podman: list[str], image: str) -> None:
    port = free_port()
    run = podman_run(podman, image, "-d", env={"PORT": str(port), "SHUTDOWN_DRAIN_SECONDS": "1"})
    container = subprocess.run(run, check=True, capture_output=True, text=True).stdout.strip()
    try:
        wait_for(lambda: httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200, "the container")
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["version"] == IMAGE_TAG  # baked in
        assert subprocess.run([*podman, "healthcheck", "run", container], capture_output=True).returncode == 0
        inside = [*podman, "exec", container, "sh", "-c", "id -u; command -v pip gcc cc make || true"]
        assert subprocess.run(inside, check=True, capture_output=True, text=True).stdout.split() == ["10001"]
        subprocess.run([*podman, "stop", "-t", "30", container], check=True, capture_output=True)
        state = [*podman, "inspect", "--format", "{{.State.ExitCode}}", container]
        assert subprocess.run(state, check=True, capture_output=True, text=True).stdout.strip() == "0"
    finally:
        subprocess.run([*podman, "rm", "-f", container], capture_output=True)


def test_migrate_command_migrates_postgresql(podman: list[str], image: str, pg: PostgresCluster) -> None:
    pg.primary.sql("CREATE DATABASE image_migrate", database="postgres")
    url = pg.primary.url.rsplit("/", 1)[0] + "/image_migrate"
    migrate = podman_run(podman, image, "--rm", env={"DATABASE_URL": url})
    subprocess.run([*migrate, "python", "-m", "app.migrate"], check=True, capture_output=True, timeout=120)
    assert pg.primary.sql("SELECT version_num FROM alembic_version", database="image_migrate") == "0001"


def test_worker_command_connects_to_the_broker(
    podman: list[str], image: str, pg: PostgresCluster, redis_server: RedisServer
) -> None:
    env = {"DATABASE_URL": pg.primary.url, "REDIS_URL": redis_server.url}
    run = podman_run(podman, image, "-d", env=env)
    container = subprocess.run(
        [*run, "celery", "-A", "app.tasks", "worker", "--loglevel=INFO"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:

        def ready() -> bool:
            logs = subprocess.run([*podman, "logs", container], capture_output=True, text=True)
            return "ready." in logs.stdout + logs.stderr

        wait_for(ready, "the worker to connect to Redis")
    finally:
        subprocess.run([*podman, "rm", "-f", container], capture_output=True)
