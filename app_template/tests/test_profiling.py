"""Profiling on request: off by default; with PROFILING_TOKEN set, the right token gets the profile."""

import json
from pathlib import Path

import httpx

from tests.servers import AppServer, running

TOKEN = "s3cret-profiling-token-4f9a"


def test_profile_is_returned_for_the_token_and_the_token_is_never_logged(tmp_path: Path) -> None:
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}", "PROFILING_TOKEN": TOKEN}
    server = AppServer(env, tmp_path / "app.log", workers=1)
    with running(server), httpx.Client(base_url=server.url, timeout=30) as client:
        created = client.post("/api/items", json={"name": "lamp", "price": 1}).json()
        path = f"/api/items/{created['id']}"

        html = client.get(path, headers={"X-Profile": TOKEN})
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        assert "pyinstrument" in html.text.lower()

        speedscope = client.get(path, headers={"X-Profile": TOKEN, "X-Profile-Format": "speedscope"})
        profile = speedscope.json()
        assert "speedscope" in profile["$schema"]
        frames = json.dumps(profile["shared"]["frames"])
        assert "read_item" in frames  # the endpoint's own code is in the profile

        wrong = client.get(path, headers={"X-Profile": "guess"})
        assert wrong.json() == created  # a wrong token gets the ordinary response
        assert client.get(path).json() == created
    assert TOKEN not in server.log_path.read_text()


def test_profiling_is_off_by_default(embedded_app: AppServer) -> None:
    with httpx.Client(base_url=embedded_app.url) as client:
        response = client.get("/healthz", headers={"X-Profile": TOKEN})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["status"] == "ok"
