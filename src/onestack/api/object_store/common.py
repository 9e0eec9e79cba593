"""Swift's HTTP dialect: transaction ids, plain-text/HTML error bodies, the caller, and
the request headers turned into core arguments."""

from __future__ import annotations

import functools
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Handler
from onestack.core.object_store.acl import Caller, TempUrlScope
from onestack.core.object_store.base import (
    RESELLER_PREFIX,
    LengthRequired,
    NotModified,
    meta_updates,
    now,
    parse_int_header,
)
from onestack.core.object_store.objects import ALLOWED_HEADERS, PutSpec
from onestack.core.object_store.service import ObjectStore
from onestack.core.object_store.tempurl import TempUrlQuery
from onestack.errors import (
    BadRequest,
    NotFound,
    OnestackError,
    PayloadTooLarge,
    ServiceUnavailable,
    Unauthorized,
)

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=UTF-8"

REASONS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "The server could not comply with the request since it is either "
          "malformed or otherwise incorrect."),
    401: ("Unauthorized", "This server could not verify that you are authorized to access "
          "the document you requested."),
    403: ("Forbidden", "Access was denied to this resource."),
    404: ("Not Found", "The resource could not be found."),
    405: ("Method Not Allowed", "The method is not allowed for this resource."),
    409: ("Conflict", "There was a conflict when trying to complete your request."),
    411: ("Length Required", "Length Required."),
    412: ("Precondition Failed", "A precondition for this request was not met."),
    413: ("Request Entity Too Large", "The body of your request was too large for this "
          "server."),
    416: ("Requested Range Not Satisfiable", "The Range requested is not available."),
    422: ("Unprocessable Entity", "Unable to process the contained instructions"),
    500: ("Internal Error", "The server has either erred or is incapable of performing the "
          "requested operation."),
    501: ("Not Implemented", "The server does not implement the requested method."),
    503: ("Service Unavailable", "The server is currently unavailable. Please try again at "
          "a later time."),
}


def trans_id() -> str:
    """tx<21 hex>-<10 hex of the time>, as Swift's proxy makes them."""
    return f"tx{uuid.uuid4().hex[:21]}-{int(time.time()):010x}"


def store(req: ApiRequest) -> ObjectStore:
    return req.runtime.object_store


def prepare(req: ApiRequest) -> None:
    req.ctx.request_id = trans_id()
    os = store(req)
    if os.start():
        req.runtime.shutdown.append(os.stop)


def response_headers(req: ApiRequest) -> dict[str, str]:
    return {"X-Trans-Id": req.ctx.request_id}


def error_response(exc: OnestackError, req: ApiRequest | None) -> Response:
    title, explain = REASONS.get(exc.status, (exc.title, exc.message))
    headers = dict(exc.headers)
    # 5xx bodies are generic, but an unavailable backend names its cause (no secrets in it)
    if exc.message in ("", exc.title, explain) or (
            exc.status >= 500 and not isinstance(exc, ServiceUnavailable)):
        body, media = f"<html><h1>{title}</h1><p>{explain}</p></html>", HTML
    else:
        body, media = exc.message, TEXT
    if isinstance(exc, Unauthorized) and req is not None:
        base = req.runtime.settings.server.base_url()
        headers["WWW-Authenticate"] = f"Keystone uri='{base}/identity'"
    return Response(body, status_code=exc.status, headers=headers, media_type=media)


def swift_fault(exc: OnestackError, req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                     dict[str, str]]:
    """Errors raised before a handler (routing): the app renders these as JSON."""
    title, explain = REASONS.get(exc.status, (exc.title, exc.message))
    return {"error": {"code": exc.status, "title": title, "message": explain}}, dict(
        exc.headers)


def swift(handler: Handler) -> Handler:
    """Render the one error tree the Swift way (plain text / HTML, not JSON)."""

    @functools.wraps(handler)
    async def wrapper(req: ApiRequest) -> Response:
        try:
            return await handler(req)
        except NotModified as exc:
            return Response(status_code=304, headers=exc.headers)
        except OnestackError as exc:
            return error_response(exc, req)

    return wrapper


# --- who is asking -------------------------------------------------------------------------
def account_of(req: ApiRequest) -> str:
    account = req.params["account"]
    if not account.startswith(RESELLER_PREFIX) or len(account) > 256:
        raise NotFound("The resource could not be found.")
    return account


def caller(req: ApiRequest, *, tempurl: TempUrlScope | None = None) -> Caller:
    ctx = req.ctx
    reseller = ctx.authenticated and req.runtime.policy.authorize(
        "object_store:reseller_admin", ctx, {"project_id": ctx.project_id})
    return Caller(user_id=ctx.user_id, user_name=ctx.user_name, project_id=ctx.project_id,
                  project_name=ctx.project_name, roles=list(ctx.roles), reseller=reseller,
                  referrer=req.header("referer"), tempurl=tempurl)


# Headers that would make a temp URL reach past its own object: Swift's tempurl refuses the
# first two (pointers to data the URL does not grant, CVE-2015-5223); a copy source or a
# manifest names other objects too, so a temp URL may not carry those either.
TEMPURL_REFUSED_HEADERS = ("X-Object-Manifest", "X-Symlink-Target", "X-Copy-From",
                           "X-Copy-From-Account")


def _check_tempurl_request(req: ApiRequest) -> None:
    if req.method in ("GET", "HEAD"):
        return
    for name in TEMPURL_REFUSED_HEADERS:
        if req.header(name) is not None:
            raise BadRequest(f"The header {name!r} is not allowed in this tempurl")
    if req.query.get("multipart-manifest") in ("put", "delete"):
        raise BadRequest("multipart-manifest is not allowed in this tempurl: use a token to "
                         "write or delete a static large object's manifest")


async def object_caller(req: ApiRequest, container: str, obj: str) -> Caller:
    """The caller, allowed as the owner of what a valid temp URL reaches (its account, or
    its container when a container key signed it)."""
    query = TempUrlQuery.parse(req.query)
    if query is None:
        return caller(req)
    account = account_of(req)
    full = req.service.prefix + req.path
    paths = [full, req.path] if full != req.path else [full]
    scope = await store(req).tempurls.allows(query, req.method, account, container, obj,
                                             paths)
    if scope is None:
        raise Unauthorized("Temp URL invalid")
    _check_tempurl_request(req)
    return caller(req, tempurl=scope)


# --- request headers -----------------------------------------------------------------------
def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on", "t", "y")


def delete_at(req: ApiRequest) -> float | None:
    at = req.header("x-delete-at")
    after = req.header("x-delete-after")
    if after is not None:
        seconds = parse_int_header(after, "X-Delete-After")
        if seconds is None:
            raise BadRequest("Non-integer X-Delete-After")
        return float(int(now()) + seconds)
    if at is not None and at.strip():
        try:
            when = int(float(at))
        except ValueError as exc:
            raise BadRequest("Non-integer X-Delete-At") from exc
        if when < now():
            raise BadRequest("X-Delete-At in past")
        return float(when)
    return None


def content_length(req: ApiRequest) -> int | None:
    raw = req.header("content-length")
    if raw is None:
        if (req.header("transfer-encoding") or "").lower() != "chunked":
            raise LengthRequired("Missing Content-Length header.")
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest("Invalid Content-Length") from exc
    if value < 0:
        raise BadRequest("Invalid Content-Length")
    return value


def put_spec(req: ApiRequest, *, length: int | None = None) -> PutSpec:
    headers = {name: value for name in ALLOWED_HEADERS
               if (value := req.header(name)) is not None}
    return PutSpec(content_length=length, content_type=req.header("content-type"),
                   detect_type=truthy(req.header("x-detect-content-type")),
                   etag=req.header("etag"), meta=meta_updates(req.http.headers, "object"),
                   headers=headers, delete_at=delete_at(req),
                   if_none_match=req.header("if-none-match"),
                   fresh_metadata=truthy(req.header("x-fresh-metadata")))


async def body_stream(req: ApiRequest) -> AsyncIterator[bytes]:
    async for chunk in req.http.stream():
        if chunk:
            yield chunk


async def read_small(req: ApiRequest, limit: int) -> bytes:
    """A bounded body (bulk-delete lists, SLO manifests)."""
    parts: list[bytes] = []
    size = 0
    async for chunk in req.http.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge("The body of your request was too large for this server.")
        parts.append(chunk)
    return b"".join(parts)


def empty(status: int, headers: dict[str, str] | None = None,
          media: str = HTML) -> Response:
    out = {"Content-Type": media, **(headers or {})}
    if status not in (204, 304):
        out.setdefault("Content-Length", "0")
    return Response(status_code=status, headers=out)
