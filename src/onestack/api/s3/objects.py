"""Objects: PutObject, CopyObject, GetObject/HeadObject (ranges, conditionals),
DeleteObject, and the multipart upload calls (create, upload part, complete, abort, list
parts)."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.responses import Response, StreamingResponse

from onestack.api.common.request import ApiRequest
from onestack.api.object_store import conditional
from onestack.api.s3.buckets import delete_key
from onestack.api.s3.common import (
    account,
    body,
    body_length,
    caller,
    content_md5,
    document,
    el,
    iso,
    owner,
    read_xml,
    s3,
    store,
)
from onestack.core.object_store.base import http_date
from onestack.core.object_store.objects import ALLOWED_HEADERS, PutSpec
from onestack.core.object_store.s3 import errors as s3e
from onestack.core.object_store.s3.multipart import s3_etag
from onestack.db.models import SwiftObject

META = "x-amz-meta-"
SMALL_BODY = 64 * 1024
# Stored headers S3 clients set (Swift's allowed headers, less its own manifest header).
STORED = tuple(h for h in ALLOWED_HEADERS if h != "x-object-manifest")
OVERRIDES = {"response-content-type": "Content-Type",
             "response-content-language": "Content-Language",
             "response-expires": "Expires", "response-cache-control": "Cache-Control",
             "response-content-disposition": "Content-Disposition",
             "response-content-encoding": "Content-Encoding"}


def _names(req: ApiRequest) -> tuple[str, str]:
    return req.params["bucket"], req.params["key"]


def _meta(req: ApiRequest) -> dict[str, str | None]:
    return {name[len(META):].lower(): value for name, value in req.http.headers.items()
            if name.lower().startswith(META) and len(name) > len(META)}


def _stored_headers(req: ApiRequest) -> dict[str, str]:
    out = {h: v for h in STORED if (v := req.header(h)) is not None}
    encoding = ",".join(p for p in (out.get("content-encoding") or "").split(",")
                        if p.strip() and p.strip() != "aws-chunked")
    if encoding:
        out["content-encoding"] = encoding
    else:
        out.pop("content-encoding", None)
    return out


def _spec(req: ApiRequest, length: int | None = None, etag: str | None = None) -> PutSpec:
    return PutSpec(content_length=length, content_type=req.header("content-type"),
                   etag=etag, meta=_meta(req), headers=_stored_headers(req))


def _object_headers(row: SwiftObject, size: int) -> dict[str, str]:
    headers = {"ETag": f'"{s3_etag(row)}"', "Last-Modified": http_date(row.timestamp),
               "Content-Type": row.content_type, "Accept-Ranges": "bytes",
               "Content-Length": str(size)}
    for key, value in row.headers.items():
        if key in STORED:
            headers[key.title()] = str(value)
    for key, value in row.meta.items():
        headers[META + key] = str(value)
    return headers


# --- reads ---------------------------------------------------------------------------------
@s3
async def get_object(req: ApiRequest) -> Response:
    if "uploadId" in req.query:
        return await _list_parts(req)
    if any(k in req.query for k in ("acl", "tagging", "torrent", "retention", "legal-hold")):
        raise s3e.Unimplemented()
    bucket, key = _names(req)
    os_ = store(req)
    view = await os_.objects.open(caller(req), account(req), bucket, key)
    headers = _object_headers(view.row, view.size)
    conditional.check(req, headers["ETag"], view.row.timestamp, headers)
    for param, header in OVERRIDES.items():
        if param in req.query:
            headers[header] = req.query[param]
    if req.method == "HEAD":
        return Response(status_code=200, headers=headers)
    ranges = conditional.parse_range(req.header("range"), view.size)
    if not ranges:
        if view.size <= SMALL_BODY:  # one read, no streaming machinery
            return Response(b"".join([c async for c in os_.objects.read(view)]),
                            headers=headers)
        return StreamingResponse(await os_.objects.stream(view), headers=headers)
    first, last = ranges[0]
    headers.update({"Content-Length": str(last - first + 1),
                    "Content-Range": f"bytes {first}-{last}/{view.size}"})
    return StreamingResponse(await os_.objects.stream(view, first, last - first + 1),
                             status_code=206, headers=headers)


async def _list_parts(req: ApiRequest) -> Response:
    bucket, key = _names(req)
    q = req.query
    marker_raw, max_raw = q.get("part-number-marker") or "0", q.get("max-parts") or "1000"
    if not marker_raw.isdigit() or not max_raw.isdigit():
        raise s3e.InvalidArgument("part-number-marker and max-parts must be integers")
    limit = min(int(max_raw), 1000)
    upload, rows = await store(req).multipart.parts(
        caller(req), account(req), bucket, key, q["uploadId"], int(marker_raw), limit + 1)
    truncated = len(rows) > limit
    rows = rows[:limit]
    who = owner(req)
    parts = [el("Bucket", bucket), el("Key", key), el("UploadId", upload.upload_id),
             who.replace("Owner>", "Initiator>"), who, el("StorageClass", "STANDARD"),
             el("PartNumberMarker", int(marker_raw)),
             el("NextPartNumberMarker", int(rows[-1].name.rsplit("/", 1)[1]) if rows else 0),
             el("MaxParts", limit), el("IsTruncated", truncated)]
    for row in rows:
        parts.append("<Part>" + el("PartNumber", int(row.name.rsplit("/", 1)[1]))
                     + el("LastModified", iso(row.timestamp)) + el("ETag", f'"{row.etag}"')
                     + el("Size", row.size) + "</Part>")
    return document("ListPartsResult", parts)


# --- writes --------------------------------------------------------------------------------
def _part_number(req: ApiRequest) -> int:
    raw = req.query.get("partNumber") or ""
    if not raw.isdigit():
        raise s3e.InvalidArgument("Part number must be an integer between 1 and 10000, "
                                  "inclusive")
    return int(raw)


@s3
async def put_object(req: ApiRequest) -> Response:
    if any(k in req.query for k in ("acl", "tagging", "retention", "legal-hold")):
        raise s3e.Unimplemented()
    bucket, key = _names(req)
    os_ = store(req)
    who, acct = caller(req), account(req)
    if req.header("x-amz-copy-source"):
        if "uploadId" in req.query:
            raise s3e.Unimplemented("UploadPartCopy is not supported; copy the object, then "
                                    "upload it in parts.")
        return await _copy(req)
    md5 = content_md5(req)
    length = body_length(req)
    if "uploadId" in req.query:
        row = await os_.multipart.put_part(who, acct, bucket, key, req.query["uploadId"],
                                           _part_number(req), body(req), length, md5)
        return Response(status_code=200, headers={"ETag": f'"{row.etag}"'})
    mp = os_.multipart
    previous = await mp.segment_names(bucket, await mp.existing(acct, bucket, key))
    row = await os_.objects.put(who, acct, bucket, key, body(req), _spec(req, length, md5))
    await mp.drop_segments(who, acct, bucket, previous)
    return Response(status_code=200, headers={"ETag": f'"{row.etag}"'})


def _copy_source(req: ApiRequest) -> tuple[str, str]:
    raw = unquote(str(req.header("x-amz-copy-source"))).partition("?")[0].lstrip("/")
    bucket, _, key = raw.partition("/")
    if not bucket or not key:
        raise s3e.InvalidArgument("Copy Source must mention the source bucket and key: "
                                  "sourcebucket/sourcekey")
    return bucket, key


async def _copy(req: ApiRequest) -> Response:
    bucket, key = _names(req)
    src_bucket, src_key = _copy_source(req)
    directive = (req.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise s3e.InvalidArgument("Unknown metadata directive.")
    if directive == "COPY" and (src_bucket, src_key) == (bucket, key):
        raise s3e.InvalidRequest("This copy request is illegal because it is trying to copy "
                                 "an object to itself without changing the object's "
                                 "metadata, storage class, website redirect location or "
                                 "encryption attributes.")
    os_ = store(req)
    who, acct = caller(req), account(req)
    if directive == "REPLACE":
        spec = _spec(req)
        spec.fresh_metadata = True
    else:
        spec = PutSpec()
    mp = os_.multipart
    previous = await mp.segment_names(bucket, await mp.existing(acct, bucket, key))
    row, _ = await os_.objects.copy(who, (acct, src_bucket, src_key), (acct, bucket, key),
                                    spec)
    await mp.drop_segments(who, acct, bucket, previous)
    return document("CopyObjectResult", [el("LastModified", iso(row.timestamp)),
                                         el("ETag", f'"{row.etag}"')])


@s3
async def delete_object(req: ApiRequest) -> Response:
    bucket, key = _names(req)
    if "uploadId" in req.query:
        await store(req).multipart.abort(caller(req), account(req), bucket, key,
                                         req.query["uploadId"])
        return Response(status_code=204)
    await delete_key(req, bucket, key)
    return Response(status_code=204)


@s3
async def post_object(req: ApiRequest) -> Response:
    bucket, key = _names(req)
    os_ = store(req)
    who, acct = caller(req), account(req)
    if "uploads" in req.query:
        upload_id = await os_.multipart.create(who, acct, bucket, key,
                                               req.header("content-type"), _meta(req),
                                               _stored_headers(req))
        return document("InitiateMultipartUploadResult", [
            el("Bucket", bucket), el("Key", key), el("UploadId", upload_id)])
    if "uploadId" in req.query:
        root = await read_xml(req)
        if root.tag != "CompleteMultipartUpload":
            raise s3e.MalformedXML()
        wanted: list[tuple[int, str]] = []
        for part in root.findall("Part"):
            number, etag = (part.findtext("PartNumber") or "").strip(), part.findtext("ETag")
            if not number.isdigit() or etag is None:
                raise s3e.MalformedXML()
            wanted.append((int(number), etag))
        _row, etag = await os_.multipart.complete(who, acct, bucket, key,
                                                 req.query["uploadId"], wanted)
        return document("CompleteMultipartUploadResult", [
            el("Location", req.url(f"/{bucket}/{key}")), el("Bucket", bucket),
            el("Key", key), el("ETag", f'"{etag}"')])
    raise s3e.Unimplemented()
