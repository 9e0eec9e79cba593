"""Login (password -> Keystone token kept server-side), logout (token revoked), the index."""

from __future__ import annotations

import logging
import secrets

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError, regions
from onestack.dashboard.session import COOKIE, LOGIN_COOKIE, same
from onestack.dashboard.web import PREFIX, NeedLogin, Web, read_form, redirect

log = logging.getLogger("onestack.dashboard")


def _cookie(request: Request, response: Response, name: str, value: str) -> None:
    response.set_cookie(name, value, path=PREFIX, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


async def index(web: Web, request: Request) -> Response:
    session = web.sessions.get(request.cookies.get(COOKIE))
    if session is None or not session.projects:
        raise NeedLogin()
    return redirect(f"{PREFIX}/project/{next(iter(session.projects))}/")


async def login_form(web: Web, request: Request, error: ApiError | None = None,
                     username: str = "", domain: str = "Default") -> Response:
    # Login CSRF: a double-submitted random value (cookie + form field), as no session
    # exists yet.
    token = secrets.token_urlsafe(32)
    response = web.render(request, "login.html", status=error.status if error else 200,
                          csrf_token=token, error=error, username=username, domain=domain)
    _cookie(request, response, LOGIN_COOKIE, token)
    return response


async def login_page(web: Web, request: Request) -> Response:
    return await login_form(web, request)


async def login(web: Web, request: Request) -> Response:
    form = await read_form(request)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    domain = str(form.get("domain", "") or "Default")
    if not same(request.cookies.get(LOGIN_COOKIE), str(form.get("csrf_token", ""))):
        return await login_form(web, request, ApiError(
            403, "The login form's CSRF token is missing or wrong: reload the page and log "
                 "in again."), username, domain)
    credential = str(form.get("credential_id", ""))
    try:
        if credential:  # an application credential: its token is bound to one project
            token, body = await web.client.application_credential_token(
                credential, str(form.get("credential_secret", "")))
        else:
            token, body = await web.client.password_token(username, password, domain)
    except ApiError as exc:
        return await login_form(web, request, exc, username, domain)
    user = body.get("user", {})
    session = web.sessions.create(str(user.get("id", "")), str(user.get("name", username)),
                                  domain, token)
    if credential:
        project = body.get("project") or {}
        if project.get("id"):
            session.projects = {project["id"]: project.get("name", project["id"])}
            session.tokens[project["id"]] = token
            session.regions = regions(body)
    else:
        projects = await web.client.projects(token)
        session.projects = {p["id"]: p["name"]
                            for p in sorted(projects, key=lambda p: p["name"])}
    if not session.projects:
        web.sessions.drop(session.sid)
        await web.client.revoke(token)
        return await login_form(web, request, ApiError(
            403, f"User {username} has no role on any project; ask an administrator to "
                 "grant one."), username, domain)
    response = redirect(f"{PREFIX}/project/{next(iter(session.projects))}/")
    _cookie(request, response, COOKIE, session.sid)
    response.delete_cookie(LOGIN_COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


async def logout(web: Web, request: Request) -> Response:
    session = web.session(request)
    await web.form(request, session)
    web.sessions.drop(session.sid)
    tokens = session.all_tokens()
    for token in tokens:
        await web.client.revoke(token)
    log.info("dashboard logout of %s: revoked %d token(s)", session.user_name, len(tokens))
    response = redirect(f"{PREFIX}/login")
    response.delete_cookie(COOKIE, path=PREFIX, httponly=True, samesite="strict")
    return response


ROUTES = [
    ("/", index, ("GET",)),
    ("/login", login_page, ("GET",)),
    ("/login", login, ("POST",)),
    ("/logout", logout, ("POST",)),
]
