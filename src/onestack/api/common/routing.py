"""Routes as data: each service is a prefix, a route table and its fault format."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from onestack.errors import OnestackError

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest

Handler = Callable[["ApiRequest"], Awaitable[Response]]
TargetFn = Callable[["ApiRequest"], Awaitable[dict[str, Any]]]
FaultBody = tuple[dict[str, Any], dict[str, str]]
FaultRenderer = Callable[[OnestackError, "ApiRequest | None"], FaultBody]

_PARAM = re.compile(r"{(\w+)(:path)?}")


@dataclass
class Route:
    method: str
    path: str  # relative to the service prefix, e.g. /v3/projects/{project_id}
    handler: Handler
    rule: str | None = None  # policy rule name; None: any authenticated caller
    auth: bool = True  # False: served without a token (version discovery, token issue)
    target: TargetFn | None = None  # builds the policy target when path params are not enough
    regex: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        # {name} matches one path segment; {name:path} the rest of the path, slashes included.
        pattern = _PARAM.sub(
            lambda m: f"(?P<{m.group(1)}>.+)" if m.group(2) else f"(?P<{m.group(1)}>[^/]+)",
            self.path.rstrip("/"))
        self.regex = re.compile(f"^{pattern}/?$")


@dataclass
class ServiceApi:
    name: str
    prefix: str  # /identity
    routes: list[Route]
    render_fault: FaultRenderer
    # Extra response headers for every answer of this service (microversions...).
    response_headers: Callable[[ApiRequest], dict[str, str]] | None = None
    # Called before dispatch (microversion negotiation...); may raise.
    prepare: Callable[[ApiRequest], None] | None = None

    def __post_init__(self) -> None:
        self._static: dict[str, list[Route]] = {}
        self._dynamic: list[Route] = []
        for route in self.routes:
            if "{" in route.path:
                self._dynamic.append(route)
            else:
                self._static.setdefault(route.path.rstrip("/") or "/", []).append(route)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """(route, params, path_known). path_known without a route means 405."""
        key = path.rstrip("/") or "/"
        candidates = self._static.get(key)
        params: dict[str, str] = {}
        if candidates is None:
            candidates = []
            for route in self._dynamic:
                m = route.regex.match(path)
                if m:
                    if route.method == method or (method == "HEAD" and route.method == "GET"):
                        return route, m.groupdict(), True
                    candidates.append(route)
            return None, params, bool(candidates)
        for route in candidates:
            if route.method == method:
                return route, params, True
        if method == "HEAD":
            for route in candidates:
                if route.method == "GET":
                    return route, params, True
        return None, params, True
