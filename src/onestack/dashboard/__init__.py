"""The web dashboard at /dashboard: server-rendered pages over the public APIs."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from onestack.dashboard import auth, keypairs, pages
from onestack.dashboard.web import HERE, PREFIX, PolicyOracle, Web, handler

P = "/project/{project_id}"


def build_dashboard(api_app: Any, oracle: PolicyOracle) -> Starlette:
    """The dashboard ASGI app; ``api_app`` is the Onestack app it calls in process."""
    web = Web(api_app, oracle)

    def r(path: str, fn: Any, methods: tuple[str, ...] = ("GET",)) -> Route:
        return Route(path, handler(web, fn), methods=list(methods))

    routes = [
        r("/", auth.index),
        r("/login", auth.login_page),
        r("/login", auth.login, ("POST",)),
        r("/logout", auth.logout, ("POST",)),
        r(P + "/", pages.overview),
        r(P + "/instances", pages.instances),
        r(P + "/instances/rows", pages.instance_rows),
        r(P + "/instances/launch", pages.launch_form),
        r(P + "/instances/launch", pages.launch, ("POST",)),
        r(P + "/instances/{server_id}", pages.instance_detail),
        r(P + "/instances/{server_id}/{action}", pages.instance_action, ("POST",)),
        r(P + "/volumes", pages.volumes),
        r(P + "/volumes", pages.volume_create, ("POST",)),
        r(P + "/volumes/rows", pages.volume_rows),
        r(P + "/volumes/{volume_id}/{action}", pages.volume_action, ("POST",)),
        r(P + "/networks", pages.networks),
        r(P + "/keypairs", keypairs.keypairs),
        r(P + "/keypairs", keypairs.keypair_create, ("POST",)),
        r(P + "/keypairs/{name}/delete", keypairs.keypair_delete, ("POST",)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=[Mount(PREFIX, routes=routes)])
    app.state.web = web
    return app


__all__ = ["PREFIX", "PolicyOracle", "build_dashboard"]
