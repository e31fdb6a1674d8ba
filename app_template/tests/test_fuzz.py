"""The app's own OpenAPI document, fuzzed by schemathesis: no input gets a 500, no response breaks it.

Each run covers every operation (schemathesis' coverage and fuzzing phases, valid and invalid input) and
sequences of them along the document's links and the ones schemathesis infers (create, then read,
update, delete what was created: the stateful phase). The checks: no 5xx, every response matches its
declared schema, status code and content type, and invalid input is never accepted.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import AppServer

CHECKS = (
    "not_a_server_error",
    "response_schema_conformance",
    "status_code_conformance",
    "content_type_conformance",
    "negative_data_rejection",
)
MIN_CASES = 1000
# Enough examples per operation and phase for MIN_CASES (1,177 with this seed and document); fixed seed,
# so a run generates the same cases each time and a failure replays exactly.
MAX_EXAMPLES = 170
SEED = 20261202


def fuzz(app: AppServer, workdir: Path) -> int:
    """Runs schemathesis against `app`; fails the test on any finding, returns the cases it generated."""
    argv = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{app.url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--mode",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(SEED),
        "--no-color",
    ]
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    summary = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert summary, done.stdout[-3000:]
    generated, passed = int(summary[1]), int(summary[2])
    assert generated == passed
    assert "Stateful" in done.stdout and "Scenarios:" in done.stdout  # the stateful phase ran
    return generated


def test_fuzz_embedded_default(embedded_app: AppServer, tmp_path: Path) -> None:
    assert fuzz(embedded_app, tmp_path) >= MIN_CASES


@pytest.mark.usefixtures("pg")
def test_fuzz_postgres_with_replicas_and_redis(pg_app: AppServer, tmp_path: Path) -> None:
    assert fuzz(pg_app, tmp_path) >= MIN_CASES
