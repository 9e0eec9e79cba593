"""Image data: upload and download (with ranges), staging and import, import/store info."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect
from starlette.responses import Response, StreamingResponse

from onestack.api.common.request import ApiRequest
from onestack.api.image import schemas, views
from onestack.core.image.data import IMPORT_METHODS, STORES
from onestack.errors import BadRequest, OnestackError, UnsupportedMediaType

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeNotSatisfiable(OnestackError):
    status = 416
    title = "Requested Range Not Satisfiable"


def _octet_stream(req: ApiRequest) -> None:
    ctype = (req.header("content-type") or "application/octet-stream").split(";")[0]
    if ctype.strip().lower() != "application/octet-stream":
        raise UnsupportedMediaType(f"Image data must be sent as application/octet-stream, "
                                   f"not {ctype}.")


async def _body(req: ApiRequest) -> AsyncIterator[bytes]:
    try:
        async for chunk in req.http.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise BadRequest("The client disconnected before sending all the image data.") \
            from exc


async def upload(req: ApiRequest) -> Response:
    _octet_stream(req)
    await req.runtime.image.data.upload(views.caller(req), req.params["image_id"], _body(req))
    return views.no_content()


async def stage(req: ApiRequest) -> Response:
    _octet_stream(req)
    await req.runtime.image.data.stage(views.caller(req), req.params["image_id"], _body(req))
    return views.no_content()


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a single-range Range header; None for the whole file."""
    if not header:
        return None
    m = _RANGE.match(header.replace(" ", ""))
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeNotSatisfiable(f"Unsupported Range header {header!r}: use one range, "
                                  "e.g. bytes=0-99.", headers={"Content-Range": f"bytes */{size}"})
    if m.group(1):
        start = int(m.group(1))
        end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
    else:
        start, end = max(size - int(m.group(2)), 0), size - 1
    if start >= size or start > end:
        raise RangeNotSatisfiable(f"Range {header!r} is outside the image data (size {size}).",
                                  headers={"Content-Range": f"bytes */{size}"})
    return start, end


async def download(req: ApiRequest) -> Response:
    data = req.runtime.image.data
    found = await data.download(views.caller(req), req.params["image_id"])
    if found is None:
        return views.no_content()
    span = parse_range(req.header("range"), found.size) if found.size else None
    headers = {"Content-Type": "application/octet-stream"}
    if span is None:
        if found.record.image.checksum:
            headers["Content-MD5"] = found.record.image.checksum
        headers["Content-Length"] = str(found.size)
        return StreamingResponse(data.stream(found.key), status_code=200, headers=headers)
    start, end = span
    headers["Content-Length"] = str(end - start + 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{found.size}"
    return StreamingResponse(data.stream(found.key, start, end - start + 1), status_code=206,
                             headers=headers)


async def image_import(req: ApiRequest) -> Response:
    body = await req.json(schemas.image_import)
    stores = body.get("stores")
    await req.runtime.image.data.start_import(views.caller(req), req.params["image_id"],
                                              body["method"]["name"], stores)
    return Response(status_code=202)


async def info_import(req: ApiRequest) -> Response:
    return views.respond({"import-methods": {"description": "Import methods available.",
                                             "type": "array", "value": list(IMPORT_METHODS)}})


async def info_stores(req: ApiRequest) -> Response:
    return views.respond({"stores": [{"id": store, "description": "Local filesystem store",
                                      "default": True} for store in STORES]})
