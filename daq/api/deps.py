"""What routes depend on: the catalog, the audio store, and the caller's token and role.

The contract other routers code against::

    token: Annotated[TokenInfo, Depends(require(Role.OPERATOR))]

``require(*roles)`` authenticates the bearer token (401 with ``WWW-Authenticate: Bearer``
when it is missing, unknown or revoked) and checks its role (403 when it is not one of
``roles``). ``admin`` passes every check; ``require()`` with no roles admits any valid token.
The roles a dependency admits are kept on it as ``.roles``: :func:`route_roles` reads them
back, so the body gate (:mod:`daq.api.bodies`) can check them before a body is read and the
tests can check every route. Without an ``Authorization`` header, the dashboard's session
cookie is the token (see :mod:`daq.api.session`: state-changing requests then also need the
page's CSRF token).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daq.api import session
from daq.api.job_reports import JobReports
from db.access import hash_token
from db.catalog import Catalog
from db.records import TokenInfo
from db.schema import Role
from db.store import AudioStore

#: How long a token found live in the catalog is trusted without asking again (see TokenCache).
TOKEN_CACHE_S = 2.0
TOKEN_CACHE_SIZE = 4096

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token from `jxdaq token create --role ROLE --name NAME`.",
)


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


async def get_store(request: Request) -> AudioStore:
    return request.app.state.store


async def get_job_reports(request: Request) -> JobReports:
    return request.app.state.job_reports


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
JobReportsDep = Annotated[JobReports, Depends(get_job_reports)]
StoreDep = Annotated[AudioStore, Depends(get_store)]


def _unauthorized(message: str, error: str | None = None) -> HTTPException:
    challenge = "Bearer" if error is None else f'Bearer error="{error}"'
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge}
    )


def bearer_secret(request: Request) -> str | None:
    """The token of the ``Authorization: Bearer`` header, if there is one."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and secret.strip():
        return secret.strip()
    return None


class TokenCache:
    """Live tokens recently found in the catalog, so that a client polling every second
    costs no catalog read (and no thread) to authenticate each request.

    An entry is trusted for :data:`TOKEN_CACHE_S`; unknown secrets are never cached (each
    costs a lookup, as before). A token revoked through this server's API stops working at
    once (:meth:`forget`); one revoked elsewhere (``jxdaq token revoke``, another server
    process) within :data:`TOKEN_CACHE_S`.
    """

    def __init__(self, catalog: Catalog, ttl_s: float = TOKEN_CACHE_S) -> None:
        self.catalog = catalog
        self.ttl_s = ttl_s
        #: token hash -> (token, when it was found live)
        self._live: dict[str, tuple[TokenInfo, float]] = {}

    def cached(self, secret: str) -> TokenInfo | None:
        entry = self._live.get(hash_token(secret))
        return entry[0] if entry is not None and time.monotonic() - entry[1] < self.ttl_s else None

    def authenticate(self, secret: str) -> TokenInfo | None:
        """Ask the catalog (blocking), and remember a live token."""
        token = self.catalog.authenticate(secret)
        if token is not None:
            if len(self._live) >= TOKEN_CACHE_SIZE:
                self._live.clear()
            self._live[hash_token(secret)] = (token, time.monotonic())
        return token

    def forget(self) -> None:
        self._live.clear()


async def authorize(request: Request, admitted: frozenset[Role]) -> TokenInfo:
    """The caller's live token when its role is in ``admitted``; 401 or 403 otherwise.

    A request is authenticated once: the token found is kept on ``request.state``, so the
    body gate's check and the route's dependency cost one lookup together."""
    header = bearer_secret(request)
    token: TokenInfo | None = getattr(request.state, "token", None)
    if token is None:
        secret = header or session.cookie_secret(request)
        if secret is None:
            raise _unauthorized(
                "this route needs a bearer token (header 'Authorization: Bearer <token>')"
            )
        tokens: TokenCache = request.app.state.tokens
        token = tokens.cached(secret) or await run_in_threadpool(tokens.authenticate, secret)
        if token is None:
            raise _unauthorized("the bearer token is unknown or revoked", "invalid_token")
        if header is None:
            session.check_cookie_request(request, secret)
        request.state.token = token
    if token.role not in admitted:
        wanted = " or ".join(sorted(admitted))
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"token {token.name!r} has role {token.role}; this route needs {wanted}",
        )
    return token


def require(*roles: Role) -> Callable[..., TokenInfo]:
    """A dependency that admits a live token of one of ``roles`` (or admin) and returns it."""
    admitted = frozenset(roles or Role) | {Role.ADMIN}

    async def authenticated(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> TokenInfo:
        return await authorize(request, admitted)

    authenticated.roles = admitted  # type: ignore[attr-defined]
    return authenticated


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    for child in dependant.dependencies:
        yield child
        yield from _dependants(child)


def route_roles(route: APIRoute) -> frozenset[Role] | None:
    """The roles the route's ``require()`` dependencies admit (all must pass); None when it
    declares none (``/health``, the dashboard's pages, which check their session
    themselves)."""
    found = [d.call.roles for d in _dependants(route.dependant) if hasattr(d.call, "roles")]
    return frozenset.intersection(*found) if found else None
