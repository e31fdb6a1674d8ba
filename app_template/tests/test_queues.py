"""Each task goes to its queue: counting to Celery's default `celery`, reports to `reports`, so a worker
service consuming one queue (`--queues reports`) takes only its own work."""

import os
import subprocess
import sys

from tests.servers import APP_DIR, RedisServer

DATABASE = "7"
SEND = """
from app.tasks import count_tags, tag_report
count_tags.delay(["a"])
tag_report.delay(5)
tag_report.delay(5)
"""


def llen(redis_server: RedisServer, queue: str) -> int:
    answer = subprocess.run(
        ["redis-cli", "-p", str(redis_server.port), "-n", DATABASE, "LLEN", queue],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(answer.stdout.strip())


def test_reports_wait_on_their_own_queue(redis_server: RedisServer) -> None:
    # A database of its own: other tests' tasks may wait on the server's default one.
    env = os.environ | {"REDIS_URL": f"redis://127.0.0.1:{redis_server.port}/{DATABASE}"}
    subprocess.run([sys.executable, "-c", SEND], cwd=APP_DIR, env=env, check=True, timeout=60)
    assert (llen(redis_server, "celery"), llen(redis_server, "reports")) == (1, 2)
