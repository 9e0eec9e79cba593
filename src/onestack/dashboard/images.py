"""Images: list (live while one is saving), delete, and a streamed upload: the browser
sends the file as the raw body of one request (static/upload.js, with progress), and the
route streams it into Glance chunk by chunk through the in-process API; nothing holds the
whole file, so the only size limit is the project's quota."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import Page, page
from onestack.dashboard.web import Web, conditional, redirect

GLANCE = "/image/v2"
DISK_FORMATS = ("qcow2", "raw", "vmdk", "vdi", "vhd", "vhdx", "iso", "ami", "ari", "aki")
CONTAINER_FORMATS = ("bare", "ovf", "ova", "aki", "ari", "ami", "docker", "compressed")


def header(request: Request, name: str, default: str = "") -> str:
    """An upload's URL-encoded header (upload.js encodes every name it sends)."""
    return unquote(request.headers.get(name, "")) or default


def length_of(request: Request) -> dict[str, str]:
    """The browser's Content-Length passed on (Swift needs it or chunked encoding)."""
    length = request.headers.get("content-length")
    return {"content-length": length} if length else {"transfer-encoding": "chunked"}


async def body_of(request: Request) -> AsyncIterator[bytes]:
    """The browser's request body, chunk by chunk as it arrives."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect as exc:
        raise ApiError(400, "The browser stopped sending the file before its end.") from exc


async def _images(p: Page) -> tuple[list[dict[str, Any]], bool]:
    found = list((await p.get(f"{GLANCE}/images?limit=1000"))["images"])
    found.sort(key=lambda i: (i.get("name") or "", i["id"]))
    return found, any(i.get("status") != "active" for i in found)


async def images(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found, _ = await _images(p)
    return await p.render("images.html", images=found, disk_formats=DISK_FORMATS,
                          container_formats=CONTAINER_FORMATS)


async def image_rows(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found, _ = await _images(p)
    return conditional(request, await p.render("_image_rows.html", images=found))


async def image_upload(web: Web, request: Request) -> Response:
    """Create the image, stream the body into it; a failed upload removes the image."""
    p = await page(web, request)
    try:
        web.csrf_header(request, p.session)
        disk = header(request, "x-disk-format", "raw")
        container = header(request, "x-container-format", "bare")
        name = header(request, "x-image-name") or header(request, "x-upload-filename")
        body: dict[str, Any] = {"name": name, "disk_format": disk,
                                "container_format": container}
        if header(request, "x-visibility"):
            body["visibility"] = header(request, "x-visibility")
        made = await p.post(f"{GLANCE}/images", body)
        try:
            answer = await web.client.stream(
                "PUT", f"{GLANCE}/images/{made['id']}/file", p.token,
                headers={"content-type": "application/octet-stream", **length_of(request)},
                body=body_of(request))
            await answer.read()
        except Exception:
            await web.client.call("DELETE", f"{GLANCE}/images/{made['id']}", p.token,
                                  ok=(404, 409))
            raise
    except ApiError as exc:
        return JSONResponse({"message": exc.message}, status_code=exc.status)
    return JSONResponse({"id": made["id"], "name": name}, status_code=201)


async def image_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"{GLANCE}/images/{request.path_params['image_id']}", p.token)
    return redirect(f"{p.base}/images")


P = "/project/{project_id}"
ROUTES = [
    (P + "/images", images, ("GET",)),
    (P + "/images/rows", image_rows, ("GET",)),
    (P + "/images/upload", image_upload, ("POST",)),
    (P + "/images/{image_id}/delete", image_delete, ("POST",)),
]
