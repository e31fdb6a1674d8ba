"""The queue-length publisher (infra/components/boot/queue_metrics.py) reads a real Redis and puts what it
reads in CloudWatch (moto) under the stack's namespace, one data point per queue; the default web
service's instances run it, with the right to put in that namespace only."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import time
import types
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.components import boot
from infra.contract import INSTANCE_ENV_FILE, QUEUE_DIMENSION, QUEUE_LENGTH_METRIC
from infra.policies.rules.compute import USER_DATA_MAX_BYTES
from tests.test_services import by_name, five_planned

NAMESPACE = "scalestack/test"
PASSWORD = "s3cret/with:chars"


def publisher(queues: str = "celery,reports,empty") -> types.ModuleType:
    """The publisher as the boot script installs it, loaded as a module."""
    source = boot.render(
        "queue_metrics.py",
        namespace=NAMESPACE,
        metric_name=QUEUE_LENGTH_METRIC,
        dimension=QUEUE_DIMENSION,
        queues=queues,
        env_file=INSTANCE_ENV_FILE,
    )
    module = types.ModuleType("queue_metrics_rendered")
    exec(compile(source, "queue_metrics.py", "exec"), module.__dict__)
    return module


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    """A real redis-server on a free local port, with a password as ElastiCache's AUTH token."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (apt-get install -y redis-server)")
        pytest.skip("redis-server is not installed")
    port = _free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    process = subprocess.Popen([*args, "--requirepass", PASSWORD], stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)


def enqueue(port: int, queue: str, count: int, database: int = 0) -> None:
    """What Celery's Redis transport does per task: LPUSH the message onto the list named after the queue
    (redis-cli, not the code under test)."""
    cli = shutil.which("redis-cli")
    assert cli is not None
    messages = [json.dumps({"task": "app.tasks.x", "id": i}) for i in range(count)]
    base = [cli, "-p", str(port), "-n", str(database), "--no-auth-warning", "-a", PASSWORD]
    subprocess.run([*base, "LPUSH", queue, *messages], check=True, capture_output=True)


def url(port: int, database: int = 0) -> str:
    from urllib.parse import quote

    return f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{port}/{database}"


def test_queue_lengths_after_enqueuing_tasks(redis_port: int) -> None:
    enqueue(redis_port, "celery", 3, database=3)
    enqueue(redis_port, "reports", 5, database=3)
    lengths = publisher().queue_lengths(url(redis_port, 3), ["celery", "reports", "empty"])
    assert lengths == {"celery": 3, "reports": 5, "empty": 0}


def test_a_wrong_password_is_an_error_not_a_zero(redis_port: int) -> None:
    with pytest.raises(RuntimeError, match="Redis answered"):
        publisher().queue_lengths(f"redis://:wrong@127.0.0.1:{redis_port}/0", ["celery"])


def test_publish_puts_each_queue_in_the_stack_namespace(redis_port: int) -> None:
    enqueue(redis_port, "celery", 2, database=5)
    enqueue(redis_port, "reports", 7, database=5)
    with mock_aws():
        cloudwatch = boto3.client("cloudwatch", region_name="eu-west-1")

        def put(namespace: str, data: list[dict[str, Any]]) -> None:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data)  # type: ignore[arg-type]

        put_lengths = publisher().publish(url(redis_port, 5), put=put)
        assert put_lengths == {"celery": 2, "reports": 7, "empty": 0}
        listed = cloudwatch.list_metrics(Namespace=NAMESPACE)["Metrics"]
        assert sorted(
            (m["MetricName"], m["Dimensions"][0]["Name"], m["Dimensions"][0]["Value"]) for m in listed
        ) == [(QUEUE_LENGTH_METRIC, QUEUE_DIMENSION, q) for q in ("celery", "empty", "reports")]
        reports = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "reports",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": NAMESPACE,
                            "MetricName": QUEUE_LENGTH_METRIC,
                            "Dimensions": [{"Name": QUEUE_DIMENSION, "Value": "reports"}],
                        },
                        "Period": 60,
                        "Stat": "Maximum",
                    },
                }
            ],
            StartTime=time.time() - 300,
            EndTime=time.time() + 60,
        )["MetricDataResults"][0]["Values"]
        assert reports == [7.0]


def test_the_publisher_reads_redis_url_from_the_app_env_file(tmp_path: Any) -> None:
    env = tmp_path / "app.env"
    env.write_text("PORT=8000\nREDIS_URL=rediss://:tok@master.cache:6379/0?ssl_cert_reqs=required\n")
    assert publisher().redis_url(str(env)) == "rediss://:tok@master.cache:6379/0?ssl_cert_reqs=required"


# --- where it runs ------------------------------------------------------------------------------------


def _user_data(name: str) -> str:
    _, plan = five_planned()
    template = by_name(plan, "aws:ec2/launchTemplate:LaunchTemplate")[f"{name}-lt"]
    return base64.b64decode(template["userData"]).decode()


def test_only_the_default_web_service_runs_the_publisher_for_every_worker_queue() -> None:
    web = _user_data("web")
    assert "QUEUE_LIST = 'celery,reports'" in web and "NAMESPACE = 'scalestack/multi'" in web
    assert "systemctl enable --now scalestack-queue-metrics.timer" in web
    for other in ("api", "admin", "worker", "reports"):
        assert "scalestack-queue-metrics" not in _user_data(other), other


def test_the_publisher_may_put_only_in_the_namespace_the_backlog_policies_read() -> None:
    _, plan = five_planned()
    policy = json.loads(by_name(plan, "aws:iam/rolePolicy:RolePolicy")["web-access"]["policy"])
    puts = [s for s in policy["Statement"] if "cloudwatch:PutMetricData" in s["Action"]]
    assert [s["Condition"]["StringEquals"]["cloudwatch:namespace"] for s in puts] == ["scalestack/multi"]
    backlog = by_name(plan, "aws:autoscaling/policy:Policy")["reports-backlog"]
    metrics = backlog["targetTrackingConfiguration"]["customizedMetricSpecification"]["metrics"]
    assert {m["metricStat"]["metric"]["namespace"] for m in metrics if m["id"].startswith("q")} == {
        "scalestack/multi"
    }


USER_DATA_LIMIT = USER_DATA_MAX_BYTES


def test_the_publisher_leaves_the_user_data_within_what_ec2_accepts() -> None:
    _, plan = five_planned()
    sizes = {
        name: len(base64.b64decode(template["userData"]))
        for name, template in by_name(plan, "aws:ec2/launchTemplate:LaunchTemplate").items()
    }
    assert max(sizes.values()) <= USER_DATA_LIMIT, sizes
