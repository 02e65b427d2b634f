"""The one place where errors become HTTP responses: ``{"error", "detail", "field"}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from lmrec.errors import (
    ConflictError,
    InvalidInputError,
    LimitExceededError,
    LmrecError,
    NotFoundError,
    StoreError,
)

_STATUS: list[tuple[type[LmrecError], int]] = [
    (LimitExceededError, 413),
    (InvalidInputError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (StoreError, 503),
]


def error_response(status: int, code: str, detail: str, field: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, "field": field}, status_code=status)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LmrecError)
    async def _lmrec(_: Request, exc: LmrecError) -> JSONResponse:
        status = next((s for cls, s in _STATUS if isinstance(exc, cls)), 500)
        return error_response(status, exc.code, exc.detail, exc.field)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return error_response(400, "invalid_json", f"body is not valid JSON: {first['msg']}")
        field = _field(tuple(first.get("loc", ())))
        detail = str(first.get("msg", "invalid request"))
        if len(errors) > 1:
            detail += f" (and {len(errors) - 1} more problem(s))"
        return error_response(422, "invalid_input", detail, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal", f"unexpected {type(exc).__name__}; see server log")
