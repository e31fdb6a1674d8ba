"""After start-up the garbage collector leaves the start-up heap alone (app.main._tune_garbage_collection):
a full collection under load scanned it all, stalling each request in the worker for about 160 ms
(`python3 bench/app/profile.py --case page --gc`)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.servers import APP_DIR

# Runs in a process of its own: freezing is for the whole interpreter, which here is pytest's.
PROBE = """
import gc, json
from fastapi.testclient import TestClient
from app.main import app

before = len(gc.get_objects())
with TestClient(app) as client:
    assert client.get("/healthz").status_code == 200
    print(json.dumps({
        "scanned_before": before,
        "scanned_after": len(gc.get_objects()),
        "frozen": gc.get_freeze_count(),
        "threshold": gc.get_threshold(),
    }))
"""


def test_a_full_collection_no_longer_scans_the_start_up_heap(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=APP_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    heap = json.loads(out.stdout.splitlines()[-1])
    assert heap["frozen"] >= heap["scanned_before"]  # everything made at start-up, and the app
    assert heap["scanned_after"] < heap["frozen"] // 20
    assert heap["threshold"][0] == 20_000
