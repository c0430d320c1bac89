"""Every API route of an app with its full path template, whatever the FastAPI version.

Recent FastAPI includes routers lazily (``app.routes`` then holds included-router entries and
a matched route's own ``path`` lacks the include prefixes); older versions copy the routes
flat. Metrics label requests by the full template, and the tests walk every route, so both
go through here.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import APIRoute


def api_routes(app: FastAPI) -> list[tuple[str, APIRoute]]:
    """``(full path template, route)`` for each API route of ``app``."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI without lazily included routers: the list is flat
        return [(r.path_format, r) for r in app.routes if isinstance(r, APIRoute)]
    return [
        (context.path_format, context.original_route)
        for context in iter_route_contexts(app.routes)
        if isinstance(context.original_route, APIRoute) and context.path_format
    ]
