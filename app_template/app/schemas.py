"""Request and response bodies. Requests are strict: unknown fields and wrong types are rejected."""

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictStr, WithJsonSchema

# What a BIGINT column holds: ids and cursors beyond it are a 422, not a database error.
MAX_ID = 2**63 - 1


def _storable(value: str) -> str:
    """PostgreSQL text holds neither NUL nor lone surrogates (which JSON's \\u escapes can carry)."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


# In the OpenAPI document too, so generated clients and fuzzers know NUL is refused.
_NO_NUL = {"pattern": "^[^\\u0000]*$"}
Tag = Annotated[
    StrictStr, Field(min_length=1, max_length=50, json_schema_extra=_NO_NUL), AfterValidator(_storable)
]
Name = Annotated[
    StrictStr, Field(min_length=1, max_length=200, json_schema_extra=_NO_NUL), AfterValidator(_storable)
]
# A JSON number or a decimal string such as "12.50"; at most two decimals because prices are cents.
# The document says exactly what is accepted (a fuzzer generating from it then meets no surprise 422):
# Decimal alone would also take strings such as "1e3" or " 5", which the pattern below does not allow.
PRICE_TEXT = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"
PRICE_MAX = Decimal("9999999999.99")


def _price_text(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(PRICE_TEXT, value):
        raise ValueError("must be a decimal number with at most 10 digits before the point and 2 after")
    return value


Price = Annotated[
    Decimal,
    BeforeValidator(_price_text),
    Field(ge=0, le=PRICE_MAX, decimal_places=2, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": float(PRICE_MAX), "multipleOf": 0.01},
                {"type": "string", "pattern": PRICE_TEXT},
            ]
        }
    ),
]


class ItemCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    price: Price
    tags: Annotated[list[Tag], Field(max_length=20)] = []


class ItemUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
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
    next_cursor: int | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class TagCountOut(BaseModel):
    tag: str
    count: int


class ErrorOut(BaseModel):
    """What every 4xx the app itself answers looks like (404, 413); FastAPI's 422 names the field in
    `detail[].loc`."""

    detail: str


class AliveOut(BaseModel):
    status: str
    version: str = Field(description="APP_VERSION: the image tag this process runs.")


class ReadinessOut(BaseModel):
    status: str = Field(description="`ok`, `unavailable` or `shutting down`.")
    database: str | None = None
    cache: str | None = None
