"""Domain errors as HTTP answers, and the error responses each route documents.

Every error body is ``{"detail": "<one clear sentence>"}`` (validation errors: FastAPI's list
of ``{loc, msg, type}``, each naming the field). Catalog errors map in one place: unknown
things are 404, state conflicts are 409; audio that fails its hash check is a 500 that says
which take and how to repair it.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from daq.api.schemas import ErrorOut
from db.records import CatalogError, InvalidTransition, NotFound
from db.store import StoreIntegrityError

log = logging.getLogger(__name__)

_DESCRIPTIONS = {
    401: "No bearer token, or an unknown or revoked one",
    403: "The token's role may not use this route",
    404: "No such job, rig, take or token",
    409: "The request conflicts with the current state",
    500: "The take's audio is missing or corrupt in the store",
}


def documented(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route: 401 and 403 always, plus ``codes``."""
    return {
        code: {"model": ErrorOut, "description": _DESCRIPTIONS[code]}
        for code in sorted({401, 403, *codes})
    }


def _error(code: int, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=code)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_404_NOT_FOUND, exc)


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    return _error(status.HTTP_409_CONFLICT, exc)


def _json_safe(value: Any) -> Any:
    """The input echoed back, with what JSON cannot carry (NaN, Infinity: Python's JSON
    reader accepts them) spelled as text, so a bad number is a 422 and not a 500."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


async def _invalid(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 body, with pydantic's "Value error, " prefix and internal context off."""
    assert isinstance(exc, RequestValidationError)
    detail = [
        {
            "loc": error["loc"],
            "msg": error["msg"].removeprefix("Value error, "),
            "type": error["type"],
            "input": _json_safe(error.get("input")),
        }
        for error in exc.errors()
    ]
    return JSONResponse(
        jsonable_encoder({"detail": detail}), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
    )


async def _store_integrity(request: Request, exc: Exception) -> JSONResponse:
    """Which take (or audio key) is missing or corrupt and the repair to run; where the store
    is on the server's disk goes to the log only."""
    log.error("%s %s: %s", request.method, request.url.path, exc)
    message = str(exc).replace(f" from {request.app.state.store.root}", "")
    take = request.path_params.get("take_id")
    subject = f"take {take}: " if take is not None else ""
    return JSONResponse(
        {"detail": f"{subject}{message}; run 'jxdaq catalog verify --repair' to requeue the take"},
        status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


def _document_body_errors(app: FastAPI) -> None:
    """FastAPI answers 400 to a request body it cannot decode (not UTF-8, say): document it on
    every operation that takes a body, the datasets' and dashboard's included."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()
        for path in schema["paths"].values():
            for operation in path.values():
                if "requestBody" in operation:
                    operation["responses"].setdefault(
                        "400",
                        {
                            "description": "The body could not be decoded",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ErrorOut"}
                                }
                            },
                        },
                    )
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    """Map the catalog's and the store's errors for every route of ``app``."""
    _document_body_errors(app)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(InvalidTransition, _conflict)
    app.add_exception_handler(CatalogError, _conflict)
    app.add_exception_handler(StoreIntegrityError, _store_integrity)
