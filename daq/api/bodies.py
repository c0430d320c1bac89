"""The body gate: no byte of a request body is read before its caller is authorized for the
route, nor beyond the configured cap (``max_body_bytes``).

FastAPI reads and parses a route's body before it runs the route's dependencies, so a
``require()`` dependency alone would let a stranger make the server read (and buffer) a body
of any size before the 401, and a malformed body would answer 422 before the role check.
This ASGI middleware wraps ``receive``: the first time the app asks for body bytes, routing
has already chosen the route, so the gate authorizes the caller against the roles the route
declares (:func:`daq.api.deps.route_roles`; routes that declare none, such as the
dashboard's login form, check their callers themselves), then refuses a ``Content-Length``
over the cap with 413 before reading, and counts a chunked body as it streams, refusing it
(413) as soon as it passes the cap. A refused body is never read: its answer closes the
connection (``Connection: close``) rather than draining what the client still sends.
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.routing import APIRoute

from daq.api.deps import authorize, route_roles
from db.schema import Role

CLOSE = {"Connection": "close"}


def too_large(limit: int) -> HTTPException:
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"the request body is over this server's limit of {limit} bytes "
        "(setting max_body_bytes, JXDAQ_MAX_BODY_BYTES)",
        headers=CLOSE,
    )


def _refused(error: HTTPException) -> HTTPException:
    """``error`` with ``Connection: close``: the body it refused is left unread."""
    headers = {**(error.headers or {}), **CLOSE}
    return HTTPException(error.status_code, error.detail, headers=headers)


def _content_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyGate:
    """ASGI middleware: authorize, then cap, before the first body byte is read."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._roles: dict[int, frozenset[Role] | None] = {}

    def _route_roles(self, route: Any) -> frozenset[Role] | None:
        if not isinstance(route, APIRoute):
            return None
        key = id(route)
        if key not in self._roles:
            self._roles[key] = route_roles(route)
        return self._roles[key]

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        checked = False
        received = 0

        async def gated_receive() -> dict[str, Any]:
            nonlocal checked, received
            if not checked:
                roles = self._route_roles(scope.get("route"))
                if roles is not None:
                    try:
                        await authorize(Request(scope), roles)
                    except HTTPException as error:
                        raise _refused(error) from None
                length = _content_length(scope)
                if length is not None and length > self.limit:
                    raise too_large(self.limit)
                checked = True
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise too_large(self.limit)
            return message

        await self.app(scope, gated_receive, send)
