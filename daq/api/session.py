"""The dashboard's session: the API token in a cookie, and the CSRF token derived from it.

A browser that logged in to the dashboard holds its API token in an HttpOnly, SameSite=Strict
session cookie: page scripts never see the token and other sites cannot make the browser send
it. SameSite does not separate two ports of one host (they are the same site), so a request
that changes state and authenticates by the cookie must also come from a page of this origin
and carry the session's CSRF token, which only pages served to that session know: a form
field on dashboard forms, the ``X-CSRF-Token`` header on API calls from page scripts.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, status

COOKIE = "jxdaq_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def cookie_secret(request: Request) -> str | None:
    """The API token the session cookie holds, if any."""
    return request.cookies.get(COOKIE) or None


def csrf_token(secret: str) -> str:
    """The session's CSRF token: stable while the token lives, and reveals nothing of it."""
    return hmac.new(secret.encode(), b"jxdaq dashboard csrf", hashlib.sha256).hexdigest()


def csrf_ok(secret: str, supplied: str | None) -> bool:
    return supplied is not None and hmac.compare_digest(csrf_token(secret), supplied)


def same_origin(request: Request) -> bool:
    """False when the browser says the request comes from a page of another origin.

    Browsers send ``Origin`` on every POST; clients that send none (scripts) are not
    browsers carrying someone else's cookie. Only the host is compared, so a TLS proxy in
    front of a plain-HTTP server does not break it.
    """
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", request.url.netloc)


def check_cookie_request(request: Request, secret: str) -> None:
    """403 unless a state-changing request authenticated by the cookie is same-origin and
    carries the session's CSRF token in the ``X-CSRF-Token`` header."""
    if request.method in SAFE_METHODS:
        return
    if not same_origin(request):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "cross-origin request refused")
    if not csrf_ok(secret, request.headers.get(CSRF_HEADER)):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"a request authenticated by the dashboard's session cookie needs the {CSRF_HEADER} "
            "header of its page (or use 'Authorization: Bearer <token>')",
        )
