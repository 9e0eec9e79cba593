"""Key pairs (per user; admins may name another user from 2.10)."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute import schemas, views
from onestack.api.compute.common import is_admin, limit_param, one, respond, since
from onestack.errors import BadRequest, Forbidden


def _user(req: ApiRequest, given: str | None = None) -> str:
    wanted = given if given is not None else (one(req, "user_id") if since(req, 2, 10)
                                              else None)
    own = req.ctx.user_id or ""
    if wanted is None or wanted == own:
        return own
    if not since(req, 2, 10):
        return own
    if not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-keypairs to be performed "
                        "for another user.")
    return wanted


async def create(req: ApiRequest) -> Response:
    body = (await req.json(schemas.keypair_create))["keypair"]
    if "type" in body and not since(req, 2, 2):
        raise BadRequest("Invalid input for field/attribute keypair. Additional properties "
                         "are not allowed ('type' was unexpected)")
    if "user_id" in body and not since(req, 2, 10):
        raise BadRequest("Invalid input for field/attribute keypair. Additional properties "
                         "are not allowed ('user_id' was unexpected)")
    if "public_key" not in body and since(req, 2, 92):
        raise BadRequest("public_key is required from microversion 2.92.")
    user = _user(req, body.get("user_id"))
    compute = req.runtime.compute
    limit = (await compute.quotas.limits(req.ctx.project_id or ""))["key_pairs"]
    made = await compute.keypairs.create(user, body["name"], body.get("type", "ssh"),
                                         body.get("public_key"), limit)
    out = views.keypair_created(req, made.keypair, made.private_key)
    return respond({"keypair": out}, status=201 if since(req, 2, 2) else 200)


async def listing(req: ApiRequest) -> Response:
    user = _user(req)
    limit = limit_param(req) if since(req, 2, 35) else None
    marker = one(req, "marker") if since(req, 2, 35) else None
    rows = await req.runtime.compute.keypairs.listing(user, limit, marker)
    body: dict[str, object] = {"keypairs": [{"keypair": views.keypair(req, kp)}
                                            for kp in rows]}
    if limit is not None and rows and len(rows) == limit:
        from onestack.api.compute.common import next_link

        body["keypairs_links"] = next_link(req, "os-keypairs", rows[-1].name)
    return respond(body)


async def show(req: ApiRequest) -> Response:
    kp = await req.runtime.compute.keypairs.get(_user(req), req.params["name"])
    return respond({"keypair": views.keypair(req, kp, full=True)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.compute.keypairs.delete(_user(req), req.params["name"])
    return Response(status_code=204 if since(req, 2, 2) else 202)
