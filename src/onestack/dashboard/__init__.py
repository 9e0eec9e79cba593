"""The web dashboard at /dashboard: server-rendered pages over the public APIs.

Each page module of this package lists its routes in ``ROUTES`` (path, view, methods); the
dashboard mounts the routes of every module that has them, in module-name order, so a new
page is one new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from onestack.dashboard.web import HERE, PREFIX, PolicyOracle, Web, handler


def page_routes() -> list[tuple[str, Any, tuple[str, ...]]]:
    """(path, view, methods) of every page module, in module-name order."""
    found: list[tuple[str, Any, tuple[str, ...]]] = []
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "ROUTES", []))
    return found


class VersionedStatic:
    """Static files: a URL with ``?v=<version>`` (what the templates write, see
    ``Web.static_version``) is cached for good; any other URL is revalidated (ETag)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if b"v=" not in scope.get("query_string", b""):
            await self.app(scope, receive, send)
            return

        async def send_cached(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"cache-control"]
                headers.append((b"cache-control", b"public, max-age=31536000, immutable"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_cached)


def build_dashboard(api_app: Any, oracle: PolicyOracle) -> Starlette:
    """The dashboard ASGI app; ``api_app`` is the Onestack app it calls in process."""
    web = Web(api_app, oracle)
    routes: list[Any] = [Route(path, handler(web, fn), methods=list(methods))
                         for path, fn, methods in page_routes()]
    routes.append(Mount("/static", VersionedStatic(StaticFiles(
        directory=str(HERE / "static"))), name="static"))
    app = Starlette(routes=[Mount(PREFIX, routes=routes)])
    app.state.web = web
    return app


__all__ = ["PREFIX", "PolicyOracle", "build_dashboard"]
