"""Secrets: create (one step with a payload, or metadata only), upload the payload (the
second step), read metadata and payload (Accept negotiation), list with Barbican's filters,
delete; user metadata and consumers of a secret."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.key_manager import schemas, views
from onestack.api.key_manager.common import body, core, raw_body, shared_target
from onestack.core.key_manager import errors
from onestack.core.key_manager.rules import normalize_content_type
from onestack.core.key_manager.secrets import SecretView


def _view(req: ApiRequest) -> SecretView:
    view: SecretView = req.state["secret"]
    return view


def _limit(req: ApiRequest) -> int:
    return int(req.runtime.settings.key_manager.max_secret_bytes)


async def create(req: ApiRequest) -> Response:
    new = schemas.new_secret(await body(req), _limit(req))
    row = await core(req).create_secret(req.ctx, new)
    ref = views.ref(req, "secrets", row.id)
    return json_response({"secret_ref": ref}, 201, headers={"Location": ref})


async def index(req: ApiRequest) -> Response:
    query = schemas.secret_query(req.query)
    rows, total = await core(req).secrets(req.ctx, query)
    return json_response(views.page(req, "secrets", "secrets",
                                    [views.secret(req, r) for r in rows], total,
                                    query.offset, query.limit))


def _wants_payload(req: ApiRequest) -> bool:
    accept = (req.header("accept") or "").strip().lower()
    return bool(accept) and "application/json" not in accept and accept != "*/*"


async def show(req: ApiRequest) -> Response:
    if _wants_payload(req):  # Barbican's older way: GET the secret with a payload Accept
        view = _view(req)
        req.runtime.policy.enforce("secret:decrypt", req.ctx, shared_target(
            req, "secret", view.row.project_id, view.row.creator_id,
            view.acl.project_access, view.acl.users))
        return await payload(req)
    return json_response(views.secret(req, _view(req).row, _view(req)))


def _negotiate(accept: str | None, stored: str) -> str:
    if not accept or not accept.strip():
        return stored
    for part in accept.split(","):
        mime = part.split(";q=")[0].strip()
        if mime in ("*/*", "") or (stored != "text/plain" and mime == "application/*"):
            return stored
        if normalize_content_type(mime) == stored:
            return stored
    raise errors.NotAcceptable(f"Wrong payload content-type: the secret's payload is "
                               f"'{stored}', and the request accepts only '{accept}'.")


async def payload(req: ApiRequest) -> Response:
    data, stored = await core(req).payload(req.params["secret_id"])
    ctype = _negotiate(req.header("accept"), stored)
    return Response(data, 200, media_type=ctype)


async def upload(req: ApiRequest) -> Response:
    """The second step: the payload of a metadata-only secret, in the body as is."""
    raw_type = req.header("content-type") or ""
    if not raw_type or raw_type.split(";")[0].strip().lower() == "application/json":
        raise errors.UnsupportedMediaType(f"Content-Type of '{raw_type}' is not supported "
                                          "for PUT.")
    ctype = schemas.content_type(raw_type, "Secret")
    encoding = req.header("content-encoding")
    if encoding is not None:
        encoding = encoding.strip().lower()
        schemas.check_encoding(ctype, encoding, "Secret")
    if _view(req).row.ciphertext is not None:
        raise errors.has_payload()
    limit = _limit(req)
    raw = (await raw_body(req, limit * 2 + 1024)).strip()
    if not raw:
        raise errors.BadRequest("No data supplied to process.")
    data = schemas.decode_payload(raw, ctype, encoding if encoding == "base64" else None,
                                  "Secret", limit)
    await core(req).put_payload(req.params["secret_id"], data, ctype)
    return Response(status_code=204)


async def delete(req: ApiRequest) -> Response:
    await core(req).delete_secret(req.params["secret_id"])
    return Response(status_code=204)


# --- user metadata -----------------------------------------------------------------------------
async def get_metadata(req: ApiRequest) -> Response:
    return json_response({"metadata": _view(req).row.user_meta or {}})


async def put_metadata(req: ApiRequest) -> Response:
    meta = schemas.metadata(await body(req))
    await core(req).set_metadata(req.params["secret_id"], meta)
    return json_response({"metadata_ref": views.ref(req, "secrets", req.params["secret_id"])
                          + "/metadata"}, 201)


async def add_metadatum(req: ApiRequest) -> Response:
    key, value = schemas.metadatum(await body(req))
    await core(req).meta_item(req.params["secret_id"], key, value, create=True)
    url = views.ref(req, "secrets", req.params["secret_id"]) + f"/metadata/{key}"
    return json_response({"key": key, "value": value}, 201, headers={"Location": url})


async def get_metadatum(req: ApiRequest) -> Response:
    key = req.params["key"].lower()
    meta = _view(req).row.user_meta or {}
    if key not in meta:
        raise errors.not_found("Secret metadata key")
    return json_response({"key": key, "value": meta[key]})


async def put_metadatum(req: ApiRequest) -> Response:
    key, value = schemas.metadatum(await body(req))
    if key != req.params["key"].lower():
        raise errors.invalid("SecretMetadatum", "the key in the body is not the key in the "
                             "URL", "key")
    await core(req).meta_item(req.params["secret_id"], key, value)
    return json_response({"key": key, "value": value})


async def delete_metadatum(req: ApiRequest) -> Response:
    await core(req).meta_item(req.params["secret_id"], req.params["key"].lower(), None,
                              remove=True)
    return Response(status_code=204)


# --- secret consumers --------------------------------------------------------------------------
async def consumers(req: ApiRequest) -> Response:
    offset, limit = schemas.paging(req.query)
    found = await core(req).consumers("secret", req.params["secret_id"])
    items = [views.secret_consumer(c) for c in found[offset:offset + limit]]
    return json_response(views.page(req, f"secrets/{req.params['secret_id']}/consumers",
                                    "consumers", items, len(found), offset, limit))


async def add_consumer(req: ApiRequest) -> Response:
    service, rtype, rid = schemas.consumer(await body(req), True)
    sid = req.params["secret_id"]
    await core(req).add_consumer(req.ctx, "secret", sid, service, rtype, rid)
    return json_response(views.secret(req, _view(req).row, await core(req).secret(sid)))


async def remove_consumer(req: ApiRequest) -> Response:
    service, rtype, rid = schemas.consumer(await body(req), True)
    sid = req.params["secret_id"]
    await core(req).remove_consumer("secret", sid, service, rtype, rid)
    return json_response(views.secret(req, _view(req).row, await core(req).secret(sid)))
