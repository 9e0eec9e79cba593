"""Objects: PUT (streamed, ETag-checked; X-Copy-From; SLO manifests), GET/HEAD (ranges,
conditionals, large objects, temp URLs), POST metadata, COPY, DELETE."""

from __future__ import annotations

import json
import os.path
from collections.abc import AsyncIterator
from urllib.parse import quote

from starlette.responses import Response, StreamingResponse

from onestack.api.common.request import ApiRequest
from onestack.api.object_store import conditional, symlinks, views
from onestack.api.object_store.accounts import bulk_response
from onestack.api.object_store.common import account_of as _account
from onestack.api.object_store.common import (
    body_stream,
    caller,
    content_length,
    empty,
    object_caller,
    put_spec,
    read_small,
    store,
    swift,
)
from onestack.api.object_store.formpost import boundary_of, formpost
from onestack.core.object_store import large
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import CONSTRAINTS, http_date, x_timestamp
from onestack.core.object_store.bulk import delete_slo
from onestack.core.object_store.objects import ObjectView
from onestack.db.models import SwiftObject
from onestack.errors import BadRequest, PreconditionFailed

SMALL_BODY = 64 * 1024
ACCEPTED = "<html><h1>Accepted</h1><p>The request is accepted for processing.</p></html>"


def _names(req: ApiRequest) -> tuple[str, str, str]:
    return _account(req), req.params["container"], req.params["object"]


def _tempurl_disposition(req: ApiRequest, name: str) -> str:
    filename = req.query.get("filename")
    if "inline" in req.query:
        return f'inline; filename="{filename}"' if filename else "inline"
    filename = filename or os.path.basename(name) or name
    return f'attachment; filename="{quote(filename)}"'


async def _manifest_response(req: ApiRequest, view: ObjectView, headers: dict[str, str]
                             ) -> Response:
    entries = json.loads(await store(req).objects.read_all(view.row.blob))
    if req.query.get("format") == "raw":
        entries = large.raw_manifest(entries)
    body = json.dumps(entries)
    headers = {**headers, "ETag": view.row.etag, "X-Static-Large-Object": "True"}
    headers.pop("Content-Type", None)
    return Response(body, headers=headers, media_type="application/json; charset=utf-8")


@swift
async def get_object(req: ApiRequest) -> Response:
    account, container, name = _names(req)
    who = await object_caller(req, container, name)
    mm = req.query.get("multipart-manifest")
    os_ = store(req)
    view = await os_.objects.open(who, account, container, name, manifest=mm == "get")
    target_path = ""
    if req.query.get("symlink") != "get" and symlinks.is_link(view):
        view, target_path = await symlinks.follow(req, who, view)
    headers = views.object_headers(view)
    if target_path:
        headers["Content-Location"] = target_path
    if who.tempurl is not None and req.method == "GET":
        headers["Content-Disposition"] = _tempurl_disposition(req, name)
    if mm == "get" and view.row.headers.get("slo"):
        return await _manifest_response(req, view, headers)
    conditional.check(req, view.etag, view.row.timestamp, headers)
    if req.method == "HEAD":
        return Response(status_code=200, headers={**headers,
                                                  "Content-Length": str(view.size)})
    ranges = conditional.parse_range(req.header("range"), view.size)
    if ranges is None:
        if view.size <= SMALL_BODY:  # one read, no streaming machinery
            data = b"".join([chunk async for chunk in os_.objects.read(view)])
            return Response(data, headers={**headers, "Content-Length": str(len(data))})
        return StreamingResponse(await os_.objects.stream(view), headers={
            **headers, "Content-Length": str(view.size)})
    if len(ranges) == 1:
        first, last = ranges[0]
        return StreamingResponse(await os_.objects.stream(view, first, last - first + 1),
                                 status_code=206, headers={
            **headers, "Content-Length": str(last - first + 1),
            "Content-Range": f"bytes {first}-{last}/{view.size}"})

    def read(start: int, length: int) -> AsyncIterator[bytes]:
        return os_.objects.read(view, start, length)

    body, length, media = conditional.multipart(ranges, view.size, view.row.content_type,
                                                read)
    headers["Content-Type"] = media
    return StreamingResponse(body, status_code=206, headers={**headers,
                                                             "Content-Length": str(length)})


def _written(row: SwiftObject, etag: str | None = None,
             extra: dict[str, str] | None = None) -> Response:
    return empty(201, {"ETag": etag or row.etag, "Last-Modified": http_date(row.timestamp),
                       "X-Timestamp": x_timestamp(row.timestamp), **(extra or {})})


async def _copy(req: ApiRequest, who: Caller, src: tuple[str, str, str],
                dst: tuple[str, str, str]) -> Response:
    manifest = req.query.get("multipart-manifest") == "get"
    link = await symlinks.copied_link(req, who, src)
    if link is not None:  # ?symlink=get: the copy is a link to the same target
        spec = put_spec(req, length=0)
        spec.content_type = spec.content_type or symlinks.CONTENT_TYPE
        return _written(await store(req).objects.put(who, *dst, _one_chunk(b""), spec,
                                                     internal=link))
    src = await symlinks.copy_source(req, who, src)
    row, view = await store(req).objects.copy(who, src, dst, put_spec(req), manifest=manifest)
    etag = f'"{row.headers["slo_etag"]}"' if row.headers.get("slo") else row.etag
    return _written(row, etag, {
        **views.meta_headers("Object", row.meta),  # what the copy holds, as Swift answers
        "X-Copied-From": quote(f"{src[1]}/{src[2]}"),
        "X-Copied-From-Account": quote(src[0]),
        "X-Copied-From-Last-Modified": http_date(view.row.timestamp)})


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


@swift
async def put_object(req: ApiRequest) -> Response:
    account, container, name = _names(req)
    who = await object_caller(req, container, name)
    os_ = store(req)
    copy_from = req.header("x-copy-from")
    if copy_from:
        src_container, src_name = large.split_path(copy_from, "X-Copy-From header")
        src_account = req.header("x-copy-from-account") or account
        return await _copy(req, who, (src_account, src_container, src_name),
                           (account, container, name))
    if req.query.get("multipart-manifest") == "put":
        raw = await read_small(req, CONSTRAINTS.max_manifest_size)
        lookup, _ = os_.objects.lookups(who, account)
        manifest = await large.validate_manifest(raw, lookup)
        spec = put_spec(req)
        row = await os_.objects.put(who, account, container, name, _one_chunk(manifest.body()),
                                    spec, slo=manifest)
        return _written(row, f'"{manifest.etag}"')
    length = content_length(req)
    link = await symlinks.link_headers(req, who, account, length)
    if link is not None:
        spec = put_spec(req, length=0)
        spec.content_type = spec.content_type or symlinks.CONTENT_TYPE
        row = await os_.objects.put(who, account, container, name, _one_chunk(b""), spec,
                                    internal=link)
        return _written(row)
    spec = put_spec(req, length=length)
    row = await os_.objects.put(who, account, container, name, body_stream(req), spec)
    return _written(row)


@swift
async def copy_object(req: ApiRequest) -> Response:
    account, container, name = _names(req)
    dest = req.header("destination")
    if not dest:
        raise PreconditionFailed("You must provide a Destination header.")
    dst_container, dst_name = large.split_path(dest, "Destination header")
    dst_account = req.header("destination-account") or account
    return await _copy(req, caller(req), (account, container, name),
                       (dst_account, dst_container, dst_name))


@swift
async def post_object(req: ApiRequest) -> Response:
    account, container, name = _names(req)
    boundary = boundary_of(req)
    if boundary is not None:
        return await formpost(req, container, name, boundary)
    who = await object_caller(req, container, name)
    if req.header("x-symlink-target") is not None:
        raise BadRequest("A PUT request is required to set a symlink target")
    row = await store(req).objects.post(who, account, container, name, put_spec(req))
    target = row.headers.get(symlinks.TARGET)
    if target:  # Swift: the link's metadata is set, the client is pointed at the target
        acct = row.headers.get(symlinks.ACCOUNT) or account
        return Response(ACCEPTED, status_code=307, media_type="text/html; charset=UTF-8",
                        headers={"Location": symlinks.location(acct, *str(target).split(
                            "/", 1))})
    return Response(ACCEPTED, status_code=202, media_type="text/html; charset=UTF-8")


@swift
async def delete_object(req: ApiRequest) -> Response:
    account, container, name = _names(req)
    who = await object_caller(req, container, name)
    os_ = store(req)
    if req.query.get("multipart-manifest") == "delete":
        result = await delete_slo(os_.objects, who, account, container, name)
        if result is not None:
            return bulk_response(req, result)
    await os_.objects.delete(who, account, container, name)
    return empty(204)
