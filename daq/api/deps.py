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

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from daq.api import session
from daq.api.job_reports import JobReports
from db.catalog import Catalog
from db.records import TokenInfo
from db.schema import Role
from db.store import AudioStore

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


def authorize(request: Request, admitted: frozenset[Role]) -> TokenInfo:
    """The caller's live token when its role is in ``admitted``; 401 or 403 otherwise.

    A request is authenticated once: the token found is kept on ``request.state``, so the
    body gate's check and the route's dependency cost one catalog read together."""
    header = bearer_secret(request)
    token: TokenInfo | None = getattr(request.state, "token", None)
    if token is None:
        secret = header or session.cookie_secret(request)
        if secret is None:
            raise _unauthorized(
                "this route needs a bearer token (header 'Authorization: Bearer <token>')"
            )
        token = request.app.state.catalog.authenticate(secret)
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

    def authenticated(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    ) -> TokenInfo:
        return authorize(request, admitted)

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
