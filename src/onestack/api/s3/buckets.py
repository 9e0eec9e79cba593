"""Buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, ListObjects (v1 and v2),
GetBucketLocation, ListMultipartUploads, DeleteObjects."""

from __future__ import annotations

import base64
import binascii
import contextlib
import re

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.s3.common import (
    account,
    caller,
    document,
    el,
    encode_key,
    iso,
    owner,
    principal,
    read_xml,
    s3,
    store,
)
from onestack.core.object_store.containers import ContainerSettings
from onestack.core.object_store.listing import ListParams
from onestack.core.object_store.s3 import errors as s3e
from onestack.core.object_store.s3.multipart import SEGMENTS, s3_etag, segments_of
from onestack.db.models import SwiftObject
from onestack.errors import Conflict, NotFound, OnestackError

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP = re.compile(r"\d+\.\d+\.\d+\.\d+")
# Bucket sub-resources answered as "not implemented" rather than as a listing.
UNSUPPORTED = ("accelerate", "analytics", "cors", "encryption", "intelligent-tiering",
               "inventory", "lifecycle", "logging", "metrics", "notification",
               "object-lock", "ownershipControls", "policy", "policyStatus",
               "publicAccessBlock", "replication", "requestPayment", "tagging", "website")
MAX_KEYS = 1000


def _bucket(req: ApiRequest) -> str:
    return req.params["bucket"]


def check_bucket_name(name: str) -> None:
    if (not _BUCKET.fullmatch(name) or ".." in name or _IP.fullmatch(name)
            or ".-" in name or "-." in name):
        raise s3e.InvalidBucketName(f"The specified bucket is not valid: {name!r}")


def _unsupported(req: ApiRequest) -> None:
    for key in UNSUPPORTED:
        if key in req.query:
            raise s3e.Unimplemented()


@s3
async def list_buckets(req: ApiRequest) -> Response:
    acct = account(req)
    _, items = await store(req).containers.list_containers(caller(req), acct, ListParams())
    buckets = "".join(
        "<Bucket>" + el("Name", c.name) + el("CreationDate", iso(c.created_at)) + "</Bucket>"
        for c in items if not isinstance(c, str) and not c.name.endswith(SEGMENTS))
    return document("ListAllMyBucketsResult", [owner(req), "<Buckets>", buckets, "</Buckets>"])


@s3
async def create_bucket(req: ApiRequest) -> Response:
    _unsupported(req)
    if any(k in req.query for k in ("acl", "versioning")):
        return Response(status_code=200)  # private, unversioned: what every bucket is
    name = _bucket(req)
    check_bucket_name(name)
    acct = account(req)
    # A LocationConstraint body is accepted and ignored: there is one region.
    async for _chunk in req.http.stream():
        pass
    created = await store(req).containers.put(caller(req), acct, name, {},
                                              ContainerSettings())
    if not created:
        raise s3e.BucketAlreadyOwnedByYou()
    return Response(status_code=200, headers={"Location": f"/{name}"})


@s3
async def head_bucket(req: ApiRequest) -> Response:
    await store(req).containers.authorize_head(caller(req), account(req), _bucket(req))
    return Response(status_code=200, headers={"x-amz-bucket-region": "us-east-1"})


@s3
async def delete_bucket(req: ApiRequest) -> Response:
    _unsupported(req)
    os_ = store(req)
    who, acct, name = caller(req), account(req), _bucket(req)
    await os_.containers.delete(who, acct, name, reap=os_.objects.reap_container)
    # Uploads still in progress keep their parts (and this container) until aborted.
    with contextlib.suppress(NotFound, Conflict):
        await os_.containers.delete(who, acct, segments_of(name),
                                    reap=os_.objects.reap_container)
    return Response(status_code=204)


@s3
async def get_bucket(req: ApiRequest) -> Response:
    _unsupported(req)
    q = req.query
    if "location" in q:
        await store(req).containers.authorize_head(caller(req), account(req), _bucket(req))
        return document("LocationConstraint", [])
    if "versioning" in q:
        await store(req).containers.authorize_head(caller(req), account(req), _bucket(req))
        return document("VersioningConfiguration", [])
    if "acl" in q:
        await store(req).containers.authorize_head(caller(req), account(req), _bucket(req))
        return document("AccessControlPolicy", [owner(req), acl_grant(req)])
    if "uploads" in q:
        return await _list_uploads(req)
    if "versions" in q:
        raise s3e.Unimplemented()
    return await _list_objects(req, v2=q.get("list-type") == "2")


def acl_grant(req: ApiRequest) -> str:
    who = principal(req)
    return ("<AccessControlList><Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/"
            "XMLSchema-instance\" xsi:type=\"CanonicalUser\">" + el("ID", who.project_id)
            + el("DisplayName", who.project_name) + "</Grantee>"
            + el("Permission", "FULL_CONTROL") + "</Grant></AccessControlList>")


def _max_keys(req: ApiRequest, name: str = "max-keys") -> int:
    raw = req.query.get(name)
    if raw is None or raw == "":
        return MAX_KEYS
    if not raw.isdigit():
        raise s3e.InvalidArgument(f"Provided {name} not an integer or within integer range")
    return min(int(raw), MAX_KEYS)


def _token(value: str | None) -> str:
    if not value:
        return ""
    try:
        return base64.urlsafe_b64decode(value.encode() + b"=" * (-len(value) % 4)).decode()
    except (binascii.Error, ValueError) as exc:
        raise s3e.InvalidArgument("The continuation token provided is incorrect") from exc


def _make_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode()).decode().rstrip("=")


async def _list_objects(req: ApiRequest, v2: bool) -> Response:
    q = req.query
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    if len(delimiter) > 1:
        raise s3e.InvalidArgument("Only single-character delimiters are supported.")
    if "encoding-type" in q and q["encoding-type"] != "url":
        raise s3e.InvalidArgument("Invalid Encoding Method specified in Request")
    limit = _max_keys(req)
    if v2:
        token = q.get("continuation-token")
        marker = _token(token) if token is not None else q.get("start-after", "")
    else:
        marker = q.get("marker", "")
    items: list[SwiftObject | str] = []
    if limit:
        params = ListParams(prefix=prefix, delimiter=delimiter, marker=marker,
                            limit=limit + 1)
        _, items = await store(req).containers.list_objects(caller(req), account(req),
                                                            _bucket(req), params)
    else:
        await store(req).containers.authorize_head(caller(req), account(req), _bucket(req))
    truncated = len(items) > limit
    items = items[:limit]
    last = (items[-1] if isinstance(items[-1], str) else items[-1].name) if items else ""
    show_owner = not v2 or q.get("fetch-owner") == "true"
    parts = [el("Name", _bucket(req)), el("Prefix", encode_key(req, prefix))]
    if v2:
        parts.append(el("KeyCount", len(items)))
        if "continuation-token" in q:
            parts.append(el("ContinuationToken", q["continuation-token"]))
        if "start-after" in q:
            parts.append(el("StartAfter", encode_key(req, q["start-after"])))
        if truncated:
            parts.append(el("NextContinuationToken", _make_token(last)))
    else:
        parts.append(el("Marker", encode_key(req, marker)))
        if truncated and delimiter:
            parts.append(el("NextMarker", encode_key(req, last)))
    parts.append(el("MaxKeys", limit))
    if delimiter:
        parts.append(el("Delimiter", encode_key(req, delimiter)))
    if "encoding-type" in q:
        parts.append(el("EncodingType", "url"))
    parts.append(el("IsTruncated", truncated))
    prefixes = []
    for item in items:
        if isinstance(item, str):
            prefixes.append("<CommonPrefixes>" + el("Prefix", encode_key(req, item))
                            + "</CommonPrefixes>")
            continue
        parts.append("<Contents>" + el("Key", encode_key(req, item.name))
                     + el("LastModified", iso(item.timestamp))
                     + el("ETag", f'"{s3_etag(item)}"') + el("Size", item.size)
                     + (owner(req) if show_owner else "")
                     + el("StorageClass", "STANDARD") + "</Contents>")
    return document("ListBucketResult", parts + prefixes)


async def _list_uploads(req: ApiRequest) -> Response:
    prefix = req.query.get("prefix", "")
    limit = _max_keys(req, "max-uploads")
    uploads = await store(req).multipart.uploads(caller(req), account(req), _bucket(req),
                                                 prefix, limit)
    parts = [el("Bucket", _bucket(req)), el("KeyMarker", ""), el("UploadIdMarker", ""),
             el("NextKeyMarker", ""), el("NextUploadIdMarker", ""), el("Prefix", prefix),
             el("MaxUploads", limit), el("IsTruncated", False)]
    who = owner(req)
    for up in uploads:
        parts.append("<Upload>" + el("Key", encode_key(req, up.key)) + el("UploadId",
                                                                          up.upload_id)
                     + who.replace("Owner>", "Initiator>") + who
                     + el("StorageClass", "STANDARD") + el("Initiated", iso(up.initiated))
                     + "</Upload>")
    return document("ListMultipartUploadsResult", parts)


@s3
async def post_bucket(req: ApiRequest) -> Response:
    """POST /bucket?delete: DeleteObjects."""
    if "delete" not in req.query:
        raise s3e.MethodNotAllowed()
    acct, bucket = account(req), _bucket(req)
    os_ = store(req)
    await os_.containers.authorize_head(caller(req), acct, bucket)
    root = await read_xml(req)
    if root.tag != "Delete":
        raise s3e.MalformedXML()
    quiet = (root.findtext("Quiet") or "").strip().lower() == "true"
    keys = [o.findtext("Key") for o in root.findall("Object")]
    if not keys or len(keys) > MAX_KEYS or any(k is None for k in keys):
        raise s3e.MalformedXML()
    out: list[str] = []
    for key in keys:
        assert key is not None
        try:
            await delete_key(req, bucket, key)
        except OnestackError as exc:
            code = getattr(exc, "code", "AccessDenied" if exc.status in (401, 403)
                           else "InternalError")
            out.append("<Error>" + el("Key", key) + el("Code", code)
                       + el("Message", exc.message) + "</Error>")
            continue
        if not quiet:
            out.append("<Deleted>" + el("Key", key) + "</Deleted>")
    return document("DeleteResult", out)


async def delete_key(req: ApiRequest, bucket: str, key: str) -> None:
    """DeleteObject: absent keys are deleted already; S3 multipart objects take their parts
    with them."""
    os_ = store(req)
    who, acct = caller(req), account(req)
    mp = os_.multipart
    previous = await mp.existing(acct, bucket, key)
    if previous is None:
        await os_.objects.writable(who, acct, bucket)
        return
    names = await mp.segment_names(bucket, previous)
    with contextlib.suppress(NotFound):
        await os_.objects.delete(who, acct, bucket, key)
    await mp.drop_segments(who, acct, bucket, names)
