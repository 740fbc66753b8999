"""Tributary's errors as HTTP answers: ``{"detail": "<one line>"}`` with the right status."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tributary.errors import (
    Conflict,
    InvalidInput,
    MassDeleteRefused,
    NotFound,
    PermissionsMissing,
    QuotaExceeded,
    RuleRefused,
    SyncLocked,
    TooLarge,
    TributaryError,
)
from tributary.usecases.airflow_runs import DagPaused

log = logging.getLogger(__name__)

# Most specific first: the first class an error is an instance of gives its status.
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (NotFound, 404),
    (DagPaused, 409),
    (Conflict, 409),
    (RuleRefused, 409),
    (SyncLocked, 409),
    (MassDeleteRefused, 409),
    (TooLarge, 413),
    (InvalidInput, 422),
    (PermissionsMissing, 422),
    (QuotaExceeded, 507),
)


def one_line(text: object, limit: int = 1000) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def status_of(exc: Exception) -> int:
    """The HTTP status of a Tributary error; 502 for Airflow or a bucket failing. An
    error that carries Airflow's own refusal (``http_status``, a 401 or 403 on a run the
    API started with the caller's token) keeps its status."""
    if isinstance(getattr(exc, "http_status", None), int):
        return exc.http_status
    for kind, code in STATUS_OF:
        if isinstance(exc, kind):
            return code
    return 502


def error(status: int, detail: object) -> JSONResponse:
    return JSONResponse({"detail": one_line(detail)}, status_code=status)


async def _tributary_error(request: Request, exc: Exception) -> JSONResponse:
    code = status_of(exc)
    if code >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, one_line(exc))
    return error(code, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"detail": one_line(exc.detail)}, status_code=exc.status_code, headers=exc.headers
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
        for e in exc.errors()
    )
    return error(422, problems or "the request is not valid")


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s failed", request.method, request.url.path)
    return error(500, f"internal error ({type(exc).__name__}); the API server's log has more")


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` as one JSON line."""
    app.add_exception_handler(TributaryError, _tributary_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
