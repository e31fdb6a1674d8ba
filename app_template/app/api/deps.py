"""Request-scoped access to the per-process resources made in the lifespan (app.main).

One dependency hands a route all of them: each dependency costs FastAPI some work on every request,
which shows on the cached read. The dependencies are `async def` although they never await, because
FastAPI runs plain `def` dependencies in a thread pool, a hand-off dearer than the cached read itself.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.cache import Cache
from app.db import Database
from app.settings import Settings

# The cookie a write sets so that the same client's reads go to the primary while replicas catch up.
# A cookie rather than server state because the load balancer may send the next request elsewhere.
READ_YOUR_WRITES_COOKIE = "ryw"


@dataclass(frozen=True)
class Services:
    settings: Settings
    db: Database
    cache: Cache


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def wrote_recently(request: Request) -> bool:
    return READ_YOUR_WRITES_COOKIE in request.cookies


ServicesDep = Annotated[Services, Depends(get_services)]
WroteRecentlyDep = Annotated[bool, Depends(wrote_recently)]
