"""The 422 FastAPI answers for invalid input, rendered so that any input can be echoed back."""

import json

from fastapi import Request, Response
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError


async def validation_error(_: Request, error: Exception) -> Response:
    """FastAPI's own 422 body (`detail[].loc` names the field), but with non-ASCII escaped: the error
    echoes the input, and input may hold a lone surrogate (a JSON `\\ud800` escape), which UTF-8 cannot
    encode, so FastAPI's handler would fail with a 500."""
    assert isinstance(error, RequestValidationError)
    body = json.dumps({"detail": jsonable_encoder(error.errors())}, ensure_ascii=True)
    return Response(body, 422, media_type="application/json")
