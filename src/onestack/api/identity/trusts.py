"""OS-TRUST: /v3/OS-TRUST/trusts and the roles a trust delegates."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.credentials import parse_time
from onestack.api.identity.resources import split_extra
from onestack.core.identity.trusts import TrustRef
from onestack.errors import Forbidden, NotFound

TRUST_KEYS = {"trustor_user_id", "trustee_user_id", "impersonation", "project_id",
              "remaining_uses", "expires_at", "allow_redelegation", "redelegation_count",
              "roles"}


# --- policy targets ------------------------------------------------------------------------
async def create_target(req: ApiRequest) -> dict[str, Any]:
    """Keystone checks the body's trustor against the caller before validating the body."""
    body = await req.json()
    trust = body.get("trust") if isinstance(body, dict) else None
    trustor = trust.get("trustor_user_id") if isinstance(trust, dict) else None
    return {"trust.trustor_user_id": trustor if isinstance(trustor, str) else None}


async def list_target(req: ApiRequest) -> dict[str, Any]:
    return {"target.trust.trustor_user_id": req.query.get("trustor_user_id"),
            "target.trust.trustee_user_id": req.query.get("trustee_user_id")}


async def trust_target(req: ApiRequest) -> dict[str, Any]:
    """The trust named in the path (404 before 403 when it does not exist, as Keystone)."""
    ref = await req.runtime.identity.trusts.get(req.params["trust_id"])
    return {"target.trust.trustor_user_id": ref.trust.trustor_user_id,
            "target.trust.trustee_user_id": ref.trust.trustee_user_id}


# --- handlers ------------------------------------------------------------------------------
async def _check_unrestricted(req: ApiRequest) -> None:
    if req.ctx.application_credential_id:
        cred = await req.runtime.identity.credentials.get_app_cred(
            req.ctx.application_credential_id)
        if not cred.unrestricted:
            raise Forbidden("You are not authorized to perform the requested action: Using "
                            "method 'application_credential' is not allowed for managing "
                            "trusts.")


async def _render(req: ApiRequest, ref: TrustRef) -> dict[str, Any]:
    roles = await req.runtime.identity.roles.roles_by_id(ref.role_ids)
    return views.trust(req, ref.trust, [roles[r] for r in ref.role_ids if r in roles])


async def create_trust(req: ApiRequest) -> Response:
    body = (await req.json(schemas.trust_create))["trust"]
    await _check_unrestricted(req)
    ident = req.runtime.identity
    assert req.ctx.auth_token
    caller = await ident.auth.validate(req.ctx.auth_token)
    data = split_extra(body, TRUST_KEYS)
    data["expires_at"] = parse_time(body.get("expires_at"))
    ref = await ident.trusts.create(data, caller.trust)
    return views.respond({"trust": await _render(req, ref)}, status=201)


async def list_trusts(req: ApiRequest) -> Response:
    trusts = await req.runtime.identity.trusts.list_trusts(req.query.get("trustor_user_id"),
                                                    req.query.get("trustee_user_id"))
    return views.listing(req, "trusts", [views.trust(req, t, None) for t in trusts])


async def get_trust(req: ApiRequest) -> Response:
    ref = await req.runtime.identity.trusts.get(req.params["trust_id"])
    return views.respond({"trust": await _render(req, ref)})


async def delete_trust(req: ApiRequest) -> Response:
    await _check_unrestricted(req)
    await req.runtime.identity.trusts.delete(req.params["trust_id"])
    return views.no_content()


async def list_trust_roles(req: ApiRequest) -> Response:
    ref = await req.runtime.identity.trusts.get(req.params["trust_id"])
    roles = await req.runtime.identity.roles.roles_by_id(ref.role_ids)
    return views.listing(req, "roles", [views.role(req, roles[r]) for r in ref.role_ids
                                        if r in roles])


async def get_trust_role(req: ApiRequest) -> Response:
    ref = await req.runtime.identity.trusts.get(req.params["trust_id"])
    role_id = req.params["role_id"]
    if role_id not in ref.role_ids:
        raise NotFound(f"Could not find role: {role_id}.")
    role = await req.runtime.identity.roles.get_role(role_id)
    return views.respond({"role": views.role(req, role)})
