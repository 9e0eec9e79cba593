"""S3's HTTP dialect: signature checking, XML bodies and errors, request ids."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote
from xml.sax.saxutils import escape

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Handler
from onestack.core.object_store.acl import Caller
from onestack.core.object_store.base import (
    LengthRequired,
    NotModified,
    RangeNotSatisfiable,
    UnprocessableEntity,
)
from onestack.core.object_store.s3 import errors as s3e
from onestack.core.object_store.s3 import sigv4
from onestack.core.object_store.s3.auth import Principal
from onestack.core.object_store.s3.sigv4 import Signature, SignedRequest
from onestack.core.object_store.service import ObjectStore
from onestack.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    MethodNotAllowed,
    NotFound,
    OnestackError,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    Unauthorized,
)

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML = "application/xml"
MAX_XML = 2 * 1024 * 1024


def store(req: ApiRequest) -> ObjectStore:
    return req.runtime.object_store


def prepare(req: ApiRequest) -> None:
    req.ctx.request_id = uuid.uuid4().hex[:16].upper()
    os_ = store(req)
    if os_.start():
        req.runtime.shutdown.append(os_.stop)


def response_headers(req: ApiRequest) -> dict[str, str]:
    return {"x-amz-request-id": req.ctx.request_id, "x-amz-id-2": req.ctx.request_id}


def routing_fault(exc: OnestackError, req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                       dict[str, str]]:
    """Errors raised before a handler (no route): the app renders these as JSON."""
    return {"Error": {"Code": "MethodNotAllowed" if exc.status == 405 else "InvalidRequest",
                      "Message": exc.message}}, dict(exc.headers)


# --- who is asking -------------------------------------------------------------------------
def signed_request(req: ApiRequest) -> SignedRequest:
    scope = req.http.scope
    raw = scope.get("raw_path") or scope["path"].encode()
    path = raw.decode("latin-1").partition("?")[0]
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"),
                      keep_blank_values=True)
    headers: dict[str, str] = {}
    for name, value in req.http.headers.items():
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return SignedRequest(req.method, path, query, headers, req.service.prefix)


async def authenticate(req: ApiRequest) -> None:
    signed = signed_request(req)
    found = await store(req).s3_auth(req.runtime.identity).authenticate(signed)
    req.state["signature"] = found[1] if found else None
    req.state["principal"] = found[0] if found else None


def principal(req: ApiRequest) -> Principal:
    """The signer; AccessDenied for an anonymous request."""
    who: Principal | None = req.state.get("principal")
    if who is None:
        raise s3e.AccessDenied()
    return who


def caller(req: ApiRequest) -> Caller:
    who: Principal | None = req.state.get("principal")
    if who is None:
        return Caller(referrer=req.header("referer"))
    return who.caller()


def account(req: ApiRequest) -> str:
    return principal(req).account


# --- errors --------------------------------------------------------------------------------
def _as_s3(exc: OnestackError, req: ApiRequest) -> OnestackError:
    if isinstance(exc, s3e.S3Error):
        return exc
    msg = exc.message
    if isinstance(exc, Unauthorized | Forbidden):
        return s3e.AccessDenied()
    if isinstance(exc, NotFound):
        return s3e.NoSuchKey() if "key" in req.params else s3e.NoSuchBucket()
    if isinstance(exc, Conflict):
        if req.method == "DELETE" and "key" not in req.params:
            return s3e.BucketNotEmpty()
        return s3e.InvalidRequest(msg)
    if isinstance(exc, PayloadTooLarge):
        return s3e.EntityTooLarge()
    if isinstance(exc, UnprocessableEntity):
        return s3e.BadDigest()
    if isinstance(exc, RangeNotSatisfiable):
        return s3e.InvalidRange()
    if isinstance(exc, LengthRequired):
        return s3e.MissingContentLength()
    if isinstance(exc, PreconditionFailed):
        return s3e.PreconditionFailed()
    if isinstance(exc, MethodNotAllowed):
        return s3e.MethodNotAllowed()
    if isinstance(exc, BadRequest):
        return s3e.InvalidArgument(msg)
    if isinstance(exc, ServiceUnavailable):  # e.g. the blob store's backend, with its cause
        return s3e.ServiceUnavailable(msg)
    return exc


async def error_response(exc: OnestackError, req: ApiRequest) -> Response:
    err = _as_s3(exc, req)
    if isinstance(err, s3e.NoSuchKey) and req.state.get("principal") is not None and \
            await store(req).containers.get(account(req), req.params["bucket"]) is None:
        err = s3e.NoSuchBucket()
    code = getattr(err, "code", "InternalError")
    status = err.status if isinstance(err, s3e.S3Error) or err.status < 500 else 500
    message = err.message if status < 500 or isinstance(err, s3e.ServiceUnavailable) else \
        "We encountered an internal error. Please try again."
    resource = req.path or "/"
    headers = dict(err.headers)
    if req.header("expect") or (req.header("content-length") or "0") != "0" or \
            req.header("transfer-encoding"):
        # The body may be unread (a client waiting for 100-continue sends none): the
        # connection cannot carry another request.
        headers["Connection"] = "close"
    if req.method == "HEAD":
        return Response(status_code=status, headers=headers)
    body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error>' + el("Code", code)
            + el("Message", message) + el("Resource", resource)
            + el("RequestId", req.ctx.request_id) + "</Error>")
    return Response(body, status_code=status, headers=headers, media_type=XML)


def s3(handler: Handler) -> Handler:
    """Check the signature, run the handler, render errors as S3 XML."""

    @functools.wraps(handler)
    async def wrapper(req: ApiRequest) -> Response:
        try:
            await authenticate(req)
            return await handler(req)
        except NotModified as exc:
            return Response(status_code=304, headers=exc.headers)
        except OnestackError as exc:
            return await error_response(exc, req)

    return wrapper


# --- XML -----------------------------------------------------------------------------------
def el(tag: str, value: Any) -> str:
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{tag}>{escape(str(value))}</{tag}>"


def document(root: str, parts: Iterable[str]) -> Response:
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">'
            + "".join(parts) + f"</{root}>")
    return Response(body, media_type=XML)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def owner(req: ApiRequest) -> str:
    who: Principal | None = req.state.get("principal")
    pid, name = (who.project_id, who.project_name) if who else ("", "")
    return "<Owner>" + el("ID", pid) + el("DisplayName", name) + "</Owner>"


def encode_key(req: ApiRequest, value: str) -> str:
    """Names in listings, URL-encoded when the client asked (encoding-type=url)."""
    return quote(value, safe="/") if req.query.get("encoding-type") == "url" else value


async def read_xml(req: ApiRequest) -> ET.Element:
    raw = b""
    async for chunk in body(req):
        raw += chunk
        if len(raw) > MAX_XML:
            raise s3e.MalformedXML()
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise s3e.MalformedXML()
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise s3e.MalformedXML() from exc
    for node in root.iter():
        node.tag = node.tag.rpartition("}")[2]
    return root


# --- request bodies ------------------------------------------------------------------------
def content_md5(req: ApiRequest) -> str | None:
    raw = req.header("content-md5")
    if raw is None:
        return None
    try:
        digest = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise s3e.InvalidDigest() from exc
    if len(digest) != 16:
        raise s3e.InvalidDigest()
    return digest.hex()


def body_length(req: ApiRequest) -> int | None:
    sig: Signature | None = req.state.get("signature")
    raw = req.header("content-length")
    if sig is not None and sig.payload.startswith(sigv4.STREAMING_PREFIX):
        raw = req.header("x-amz-decoded-content-length")
    if raw is None:
        if (req.header("transfer-encoding") or "").lower() == "chunked":
            return None
        raise s3e.MissingContentLength()
    if not raw.strip().isdigit():
        raise s3e.InvalidArgument("Invalid Content-Length")
    return int(raw)


async def _raw(req: ApiRequest) -> AsyncIterator[bytes]:
    async for chunk in req.http.stream():
        if chunk:
            yield chunk


def body(req: ApiRequest) -> AsyncIterator[bytes]:
    """The request body as the client meant it: aws-chunked framing removed, the signed
    payload hash checked."""
    sig: Signature | None = req.state.get("signature")
    stream = _raw(req)
    if sig is None or sig.payload == sigv4.UNSIGNED:
        return stream
    if sig.payload.startswith(sigv4.STREAMING_PREFIX):
        return sigv4.decode_chunked(stream, sig, principal(req).secret)
    return sigv4.check_sha256(stream, sig.payload)
