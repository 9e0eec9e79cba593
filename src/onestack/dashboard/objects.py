"""Object storage browser: containers, folders by delimiter, streamed upload and download
(nothing holds a whole object), temp URLs, and the S3 (EC2) credentials that the S3 API
takes. Swift decides ownership by role (its keystoneauth operator roles), not by policy:
the page asks the account itself whether this token may write (an empty account POST,
which changes nothing), so a reader sees no upload or delete buttons."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from onestack.dashboard.client import ApiError
from onestack.dashboard.images import body_of, header, length_of
from onestack.dashboard.pages import Page, page
from onestack.dashboard.web import Web, redirect

KEY_HEADER = "x-account-meta-temp-url-key"
PASS_ON = ("content-type", "content-length", "etag", "last-modified")


def account(p: Page) -> str:
    return f"/object-storage/v1/AUTH_{p.project_id}"


def object_path(p: Page, container: str, name: str = "") -> str:
    path = f"{account(p)}/{quote(container, safe='')}"
    return f"{path}/{quote(name, safe='/')}" if name else path


async def owner(p: Page) -> bool:
    """Swift's own answer: an empty account POST succeeds only for the account's owners."""
    response = await p.web.client.call("POST", account(p), p.token, ok=(401, 403))
    return response.status_code < 300


async def _ec2(p: Page) -> list[dict[str, Any]]:
    path = f"/identity/v3/users/{p.session.user_id}/credentials/OS-EC2"
    return [c for c in (await p.get(path))["credentials"]
            if c.get("tenant_id", c.get("project_id")) == p.project_id]


async def containers(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = await p.get(f"{account(p)}?format=json")
    return await p.render("containers.html", containers=found, owner=await owner(p),
                          ec2=await _ec2(p), s3=f"{request.base_url}")


async def container_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    name = str(form.get("name", "")).strip()
    if not name or "/" in name:
        raise ApiError(400, "A container name is required and may not contain '/'.")
    await web.client.call("PUT", object_path(p, name), p.token)
    return redirect(f"{p.base}/containers/{quote(name, safe='')}")


async def container_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(object_path(p, request.path_params["container"]), p.token)
    return redirect(f"{p.base}/containers")


async def browse(web: Web, request: Request, temp_url: str = "") -> Response:
    p = await page(web, request)
    container = request.path_params["container"]
    prefix = request.query_params.get("prefix", "")
    listing = await p.get(f"{object_path(p, container)}?format=json&delimiter=/"
                          f"&prefix={quote(prefix, safe='')}")
    folders = [e["subdir"] for e in listing if "subdir" in e]
    files = [e for e in listing if "name" in e]
    parts = [part for part in prefix.split("/") if part]
    crumbs = [("/".join(parts[:i + 1]) + "/", part) for i, part in enumerate(parts)]
    return await p.render("container.html", container=container, folder=prefix,
                          folders=folders, files=files, crumbs=crumbs, owner=await owner(p),
                          temp_url=temp_url)


async def container_page(web: Web, request: Request) -> Response:
    return await browse(web, request)


async def object_upload(web: Web, request: Request) -> Response:
    p = await page(web, request)
    try:
        web.csrf_header(request, p.session)
        name = header(request, "x-object-prefix") + header(request, "x-upload-filename")
        if not name or name.endswith("/"):
            raise ApiError(400, "Choose a file to upload.")
        sent = {"content-type": request.headers.get("x-object-type", "")
                or "application/octet-stream", **length_of(request)}
        answer = await web.client.stream("PUT", object_path(
            p, request.path_params["container"], name), p.token, headers=sent,
            body=body_of(request))
        await answer.read()
    except ApiError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    return JSONResponse({"name": name, "etag": answer.headers.get("etag", "")},
                        status_code=201)


async def object_download(web: Web, request: Request) -> Response:
    p = await page(web, request)
    name = request.query_params.get("name", "")
    answer = await web.client.stream("GET", object_path(
        p, request.path_params["container"], name), p.token)
    headers = {k: v for k, v in answer.headers.items() if k in PASS_ON}
    filename = quote(name.rsplit("/", 1)[-1] or "object")
    headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{filename}"
    return StreamingResponse(answer.body, status_code=answer.status, headers=headers)


async def object_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    container, name = request.path_params["container"], str(form.get("name", ""))
    await web.client.delete(object_path(p, container, name), p.token)
    prefix = name.rsplit("/", 1)[0] + "/" if "/" in name else ""
    return redirect(f"{p.base}/containers/{quote(container, safe='')}"
                    f"?prefix={quote(prefix, safe='')}")


async def temp_url_key(p: Page) -> str:
    head = await p.web.client.call("HEAD", account(p), p.token)
    key = head.headers.get(KEY_HEADER)
    if not key:
        key = secrets.token_hex(24)
        await p.web.client.call("POST", account(p), p.token, headers={KEY_HEADER: key})
    return key


async def temp_url(web: Web, request: Request) -> Response:
    """A GET temp URL for one object, signed with the account's key (made if none)."""
    p = await page(web, request)
    form = await web.form(request, p.session)
    container, name = request.path_params["container"], str(form.get("name", ""))
    try:
        minutes = max(1, min(int(str(form.get("minutes", "60"))), 60 * 24 * 30))
    except ValueError as exc:
        raise ApiError(400, "The temp URL lifetime must be a whole number of minutes.") \
            from exc
    key = await temp_url_key(p)
    expires = int(time.time()) + minutes * 60
    path = object_path(p, container, name).removeprefix("/object-storage")
    sig = hmac.new(key.encode(), f"GET\n{expires}\n{unquote(path)}".encode(),
                   hashlib.sha256).hexdigest()
    url = (f"{str(request.base_url).rstrip('/')}/object-storage{path}"
           f"?temp_url_sig={sig}&temp_url_expires={expires}")
    request.scope["query_string"] = (
        f"prefix={quote(name.rsplit('/', 1)[0] + '/' if '/' in name else '')}".encode())
    return await browse(web, request, temp_url=url)


async def ec2_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await p.post(f"/identity/v3/users/{p.session.user_id}/credentials/OS-EC2",
                 {"tenant_id": p.project_id})
    return redirect(f"{p.base}/containers#s3")


async def ec2_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"/identity/v3/users/{p.session.user_id}/credentials/OS-EC2/"
                            f"{request.path_params['access']}", p.token)
    return redirect(f"{p.base}/containers#s3")


P = "/project/{project_id}/containers"
ROUTES = [
    (P, containers, ("GET",)),
    (P, container_create, ("POST",)),
    (P + "/s3-credentials", ec2_create, ("POST",)),
    (P + "/s3-credentials/{access}/delete", ec2_delete, ("POST",)),
    (P + "/{container}", container_page, ("GET",)),
    (P + "/{container}/delete", container_delete, ("POST",)),
    (P + "/{container}/upload", object_upload, ("POST",)),
    (P + "/{container}/download", object_download, ("GET",)),
    (P + "/{container}/object-delete", object_delete, ("POST",)),
    (P + "/{container}/temp-url", temp_url, ("POST",)),
]
