"""Request-scoped access to the per-process resources made in the lifespan (app.main).

The dependencies are `async def` although they never await: FastAPI runs plain `def` dependencies in
a thread pool, a hand-off that would cost more than the cached read itself.
"""

from typing import Annotated

from fastapi import Depends, Request

from app.cache import Cache
from app.db import Database
from app.settings import Settings

# The cookie a write sets so that the same client's reads go to the primary while replicas catch up.
# A cookie rather than server state because the load balancer may send the next request elsewhere.
READ_YOUR_WRITES_COOKIE = "ryw"


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_cache(request: Request) -> Cache:
    cache: Cache = request.app.state.cache
    return cache


async def wrote_recently(request: Request) -> bool:
    return READ_YOUR_WRITES_COOKIE in request.cookies


SettingsDep = Annotated[Settings, Depends(get_settings)]
DbDep = Annotated[Database, Depends(get_db)]
CacheDep = Annotated[Cache, Depends(get_cache)]
WroteRecentlyDep = Annotated[bool, Depends(wrote_recently)]
