"""Tag usage, as counted by the worker (app.tasks.count_tags) for created items."""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from app.api.deps import services_of
from app.models import TagCount
from app.schemas import TagCountOut

router = APIRouter(prefix="/api/tags", tags=["tags"])


@router.get("", response_model=list[TagCountOut])
async def top_tags(request: Request, limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[TagCountOut]:
    async def top(connection: AsyncConnection) -> list[TagCountOut]:
        statement = select(TagCount.tag, TagCount.count).order_by(TagCount.count.desc(), TagCount.tag)
        rows = (await connection.execute(statement.limit(limit))).all()
        return [TagCountOut(tag=row.tag, count=row.count) for row in rows]

    return await services_of(request).db.read(top)
