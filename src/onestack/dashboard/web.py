"""The dashboard's web plumbing: templates, security headers, sessions, CSRF, errors."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from onestack.dashboard.client import ApiError, CloudClient, regions
from onestack.dashboard.session import COOKIE, Session, SessionStore

HERE = Path(__file__).parent
PREFIX = "/dashboard"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "object-src 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# Ask the live policy: (token, rule names, target) -> rule name -> allowed. Given at mount
# time by the API layer (the same Enforcer the API routes use, not a copy of its rules).
PolicyOracle = Callable[[str, list[str], dict[str, Any]], Awaitable[dict[str, bool]]]


def static_version() -> str:
    """A hash of the static files (names, sizes, times): base.html puts it in their URLs, so
    browsers may cache them for good and still get new ones after an upgrade."""
    digest = hashlib.sha256()
    for path in sorted((HERE / "static").rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.relative_to(HERE)}:{stat.st_size}:{stat.st_mtime_ns}"
                          .encode())
    return digest.hexdigest()[:12]


class NeedLogin(Exception):
    pass


class Web:
    def __init__(self, api_app: Any, oracle: PolicyOracle) -> None:
        self.client = CloudClient(api_app)
        self.oracle = oracle
        self.sessions = SessionStore()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        self.templates.env.globals["static_v"] = static_version()

    def session(self, request: Request) -> Session:
        session = self.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise NeedLogin()
        return session

    async def project_token(self, session: Session, project_id: str) -> str:
        if project_id not in session.projects:
            raise ApiError(404, f"You have no role on a project with id {project_id}; "
                                "pick one of your projects from the project menu.")
        token = session.tokens.get(project_id)
        if token is None:
            token, body = await self.client.rescope(session.unscoped, project_id)
            session.tokens[project_id] = token
            session.regions = regions(body) or session.regions
        return token

    async def form(self, request: Request, session: Session) -> FormData:
        """The POSTed form, after checking its CSRF token (form field or header)."""
        form = await read_form(request)
        sent = form.get("csrf_token") or request.headers.get("x-csrf-token")
        if not session.csrf_ok(sent if isinstance(sent, str) else None):
            raise ApiError(403, "The form's CSRF token is missing or wrong: reload the page "
                                "and submit the form again.")
        return form

    def csrf_header(self, request: Request, session: Session) -> None:
        """A streamed upload sends its CSRF token in a header (the body is the file)."""
        if not session.csrf_ok(request.headers.get("x-csrf-token")):
            raise ApiError(403, "The upload's CSRF token is missing or wrong: reload the "
                                "page and upload again.")

    def render(self, request: Request, name: str, status: int = 200,
               **context: Any) -> Response:
        context.setdefault("prefix", PREFIX)
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    def error(self, request: Request, exc: ApiError, session: Session | None = None,
              project_id: str | None = None) -> Response:
        return self.render(request, "error.html", status=exc.status, error=exc,
                           session=session, project_id=project_id)


MAX_FORM = 1 << 20


async def read_form(request: Request) -> FormData:
    """An urlencoded form (every dashboard form is one; no multipart parser needed)."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise ApiError(413, "The form is larger than 1 MiB.")
    pairs: list[tuple[str, str | UploadFile]] = list(
        parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return FormData(pairs)


def conditional(request: Request, response: Response) -> Response:
    """Live fragments: an ETag of the rendered body; a poll that sends it back (static
    live.js does) gets an empty 304 when nothing changed, so nothing is re-drawn."""
    etag = '"' + hashlib.sha256(bytes(response.body)).hexdigest()[:32] + '"'
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers={"ETag": etag})
    response.headers["ETag"] = etag
    return response


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def handler(web: Web, fn: Callable[[Web, Request], Awaitable[Response]]
            ) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a view: login redirect, API errors shown in the page, security headers."""

    async def run(request: Request) -> Response:
        try:
            response = await fn(web, request)
        except NeedLogin:
            if request.headers.get("hx-request"):
                response = Response(status_code=401, headers={"HX-Redirect":
                                                              f"{PREFIX}/login"})
            else:
                response = redirect(f"{PREFIX}/login")
        except ApiError as exc:
            session = web.sessions.get(request.cookies.get(COOKIE))
            if exc.status == 401 and session is not None:
                # Keystone no longer takes the session's token (expired, revoked, user
                # disabled): the session is over, log in again.
                web.sessions.drop(session.sid)
                response = redirect(f"{PREFIX}/login")
            else:
                response = web.error(request, exc, session,
                                     request.path_params.get("project_id"))
        response.headers.update(SECURITY_HEADERS)
        return response

    return run
