"""Pooled connections outlive the server they were made to: a restarted PostgreSQL must cost the app no
failed request once it is back (the primary's pools ping a connection before lending it, app.db)."""

from pathlib import Path

import httpx
import pytest

from tests.servers import AppServer, PostgresCluster, running


@pytest.mark.usefixtures("pg")  # PostgreSQL is installed (or the test fails under CI=true)
def test_a_restarted_primary_costs_no_failed_request(tmp_path: Path) -> None:
    cluster = PostgresCluster(replicas=0)  # its own server: restarting the shared one would disturb others
    env = {"DATABASE_URL": cluster.primary.url, "MIGRATE_ON_START": "true", "DB_POOL_SIZE": "3"}
    try:
        with (
            running(AppServer(env, tmp_path / "app.log", workers=1)) as app,
            httpx.Client(base_url=app.url) as client,
        ):
            created = [client.post("/api/items", json={"name": f"n{n}", "price": 1}) for n in range(6)]
            assert {response.status_code for response in created} == {201}
            cluster.primary.stop()
            cluster.primary.start()  # every pooled connection is now dead
            after = [client.post("/api/items", json={"name": f"m{n}", "price": 1}) for n in range(6)]
            after += [client.get("/api/items", params={"limit": 1}) for _ in range(6)]
            after += [client.get("/readyz") for _ in range(3)]
        assert [response.status_code for response in after] == [201] * 6 + [200] * 9
    finally:
        cluster.stop()
