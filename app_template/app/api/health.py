"""Probes for the load balancer: /healthz says the process is alive, /readyz that it should get traffic."""

import asyncio
import json
from collections.abc import Awaitable
from functools import cache

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse

from app.api.deps import services_of
from app.logs import get_logger
from app.schemas import AliveOut, ReadinessOut
from app.settings import get_settings

log = get_logger(__name__)
router = APIRouter(tags=["health"])

PROBE_TIMEOUT_SECONDS = 2.0


@cache
def _alive() -> bytes:
    # The version lets a deploy's smoke test see which image answers; built once, the probe stays trivial.
    return json.dumps({"status": "ok", "version": get_settings().app_version}).encode()


@router.get("/healthz", response_model=AliveOut)
async def healthz() -> Response:
    # No dependency is checked: a database outage must not get healthy processes restarted.
    return Response(_alive(), media_type="application/json", headers={"Cache-Control": "no-store"})


async def _probe(name: str, check: Awaitable[None]) -> bool:
    try:
        await asyncio.wait_for(check, PROBE_TIMEOUT_SECONDS)
    except Exception as error:
        log.warning("readiness probe failed", dependency=name, error=repr(error))
        return False
    return True


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "Not ready: shutting down or no database"}},
)
async def readyz(request: Request) -> JSONResponse:
    services = services_of(request)
    if request.app.state.shutting_down:
        return JSONResponse({"status": "shutting down"}, status.HTTP_503_SERVICE_UNAVAILABLE)
    database_ok, cache_ok = await asyncio.gather(
        _probe("database", services.db.ping()),
        _probe("cache", services.cache.ping()),
    )
    # A cache outage degrades latency, not correctness (reads fall back to the database), and it hits
    # every instance at once: failing readiness for it would empty the target group for nothing.
    ready = database_ok and (cache_ok or not services.settings.readiness_requires_cache)
    body = {
        "status": "ok" if ready else "unavailable",
        "database": "ok" if database_ok else "unavailable",
        "cache": "ok" if cache_ok else "unavailable",
    }
    code = status.HTTP_200_OK if ready else status.HTTP_503_SERVICE_UNAVAILABLE
    return JSONResponse(body, code, headers={"Cache-Control": "no-store"})
