"""Request and response bodies. Requests are strict: unknown fields and wrong types are rejected."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr

Tag = Annotated[StrictStr, Field(min_length=1, max_length=50)]
# A JSON number or a decimal string such as "12.50"; at most two decimals because prices are cents.
Price = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2, allow_inf_nan=False)]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    price: Price
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class ItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[StrictStr, Field(min_length=1, max_length=200)] | None = None
    price: Price | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None


class ItemOut(BaseModel):
    id: int
    name: str
    price: float
    tags: list[str]
    created_at: datetime


class ItemPage(BaseModel):
    items: list[ItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class TagCountOut(BaseModel):
    tag: str
    count: int


class TaskAccepted(BaseModel):
    task_id: str
