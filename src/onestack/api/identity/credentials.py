"""Application credentials, /v3/credentials and the OS-EC2 extension."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.core.identity.credentials import access_rule_ref, ec2_credential_id
from onestack.db.models import Credential
from onestack.db.models.identity_admin import AccessRule
from onestack.errors import BadRequest, Forbidden, NotFound


def parse_time(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(f"Invalid expires_at {value!r}: use ISO 8601, e.g. "
                         "2030-01-01T00:00:00Z.") from exc
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
        except OverflowError as exc:  # 9999-12-31T23:59:59-01:00 is past year 9999 in UTC
            raise BadRequest(f"Invalid expires_at {value!r}: out of range.") from exc
    return parsed


# --- application credentials ---------------------------------------------------------------
async def create_app_cred(req: ApiRequest) -> Response:
    body = (await req.json(schemas.app_cred_create))["application_credential"]
    ident = req.runtime.identity
    user_id = req.params["user_id"]
    if not req.ctx.project_id:
        raise BadRequest("Application credentials need a project-scoped token.")
    await not_from_trust(req, "Application credentials")
    if req.ctx.application_credential_id:
        cred = await ident.credentials.get_app_cred(req.ctx.application_credential_id)
        if not cred.unrestricted:
            raise Forbidden("A restricted application credential cannot create application "
                            "credentials.")
    have = {r: i for r, i in zip(req.ctx.roles, req.ctx.role_ids, strict=True)}
    role_ids: list[str] = []
    for ref in body.get("roles") or []:
        rid = ref.get("id") or have.get(ref.get("name", ""))
        if rid is None or rid not in have.values():
            raise Forbidden(f"You cannot delegate role {ref.get('id') or ref.get('name')}: "
                            "your token does not carry it.")
        role_ids.append(rid)
    if not body.get("roles"):
        role_ids = list(req.ctx.role_ids)
    data: dict[str, Any] = dict(body)
    data["expires_at"] = parse_time(body.get("expires_at"))
    cred, secret = await ident.credentials.create_app_cred(user_id, req.ctx.project_id, data,
                                                           sorted(set(role_ids)))
    roles = await ident.roles.roles_by_id(role_ids)
    return views.respond({"application_credential": views.app_cred(
        req, cred, sorted(roles.values(), key=lambda r: r.name), secret)}, status=201)


async def _render_app_creds(req: ApiRequest, creds: list[Any]) -> list[dict[str, Any]]:
    ident = req.runtime.identity
    role_map = await ident.credentials.app_cred_roles([c.id for c in creds])
    roles = await ident.roles.roles_by_id({r for v in role_map.values() for r in v})
    return [views.app_cred(req, c, [roles[r] for r in role_map[c.id] if r in roles])
            for c in creds]


async def list_app_creds(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_user(req.params["user_id"])
    creds = await ident.credentials.list_app_creds(req.params["user_id"], req.query.get("name"))
    return views.listing(req, "application_credentials", await _render_app_creds(req, creds))


async def get_app_cred(req: ApiRequest) -> Response:
    cred = await req.runtime.identity.credentials.get_app_cred(
        req.params["application_credential_id"], req.params["user_id"])
    return views.respond({"application_credential": (await _render_app_creds(req, [cred]))[0]})


async def delete_app_cred(req: ApiRequest) -> Response:
    await req.runtime.identity.credentials.delete_app_cred(
        req.params["user_id"], req.params["application_credential_id"])
    return views.no_content()


# --- access rules ----------------------------------------------------------------------------
def _access_rule(req: ApiRequest, rule: AccessRule) -> dict[str, Any]:
    return {**access_rule_ref(rule), "links": {"self": req.url(
        f"/v3/users/{rule.user_id}/access_rules/{rule.id}")}}


async def list_access_rules(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_user(req.params["user_id"])
    f = {k: req.query[k] for k in ("service", "method", "path") if k in req.query}
    rules = await ident.credentials.list_access_rules(req.params["user_id"], f)
    return views.listing(req, "access_rules", [_access_rule(req, r) for r in rules])


async def get_access_rule(req: ApiRequest) -> Response:
    rule = await req.runtime.identity.credentials.get_access_rule(
        req.params["user_id"], req.params["access_rule_id"])
    return views.respond({"access_rule": _access_rule(req, rule)})


async def delete_access_rule(req: ApiRequest) -> Response:
    await req.runtime.identity.credentials.delete_access_rule(
        req.params["user_id"], req.params["access_rule_id"])
    return views.no_content()


# --- /v3/credentials -----------------------------------------------------------------------
def _render(req: ApiRequest, c: Credential) -> dict[str, Any]:
    return views.credential(req, c, req.runtime.identity.credentials.decrypt(c))


async def credential_target(req: ApiRequest) -> dict[str, Any]:
    cred = await req.runtime.identity.credentials.get_credential(req.params["credential_id"])
    return {"target.credential.user_id": cred.user_id}


async def create_target(req: ApiRequest) -> dict[str, Any]:
    body = await req.json(schemas.credential_create)
    return {"target.credential.user_id": body["credential"]["user_id"]}


async def not_from_trust(req: ApiRequest, what: str) -> None:
    """A trust-scoped token acts within the trust's life and roles: it makes no credential
    that would outlive the trust (with impersonation, one in the trustor's name)."""
    if req.ctx.auth_token:
        data = await req.runtime.identity.auth.validate(req.ctx.auth_token)
        if data.trust is not None:
            raise Forbidden(f"{what} cannot be created with a trust-scoped token.")


def _not_from_app_cred(req: ApiRequest) -> None:
    """A stored credential (an EC2 key) acts with its user's roles, not the delegated subset
    of an application credential: one cannot be made or changed with such a token
    (Keystone binds such a key to the application credential; refusing keeps the
    delegation's limits without that machinery)."""
    if req.ctx.application_credential_id:
        raise Forbidden("Credentials cannot be created with a token from an application "
                        "credential: authenticate with a password to create them.")


async def create_credential(req: ApiRequest) -> Response:
    _not_from_app_cred(req)
    await not_from_trust(req, "Credentials")
    body = (await req.json(schemas.credential_create))["credential"]
    cred = await req.runtime.identity.credentials.create_credential(body)
    return views.respond({"credential": _render(req, cred)}, status=201)


async def list_credentials(req: ApiRequest) -> Response:
    f = {k: req.query[k] for k in ("user_id", "type") if k in req.query}
    creds = await req.runtime.identity.credentials.list_credentials(f)
    if not req.ctx.has_admin_role:
        creds = [c for c in creds if c.user_id == req.ctx.user_id]
    return views.listing(req, "credentials", [_render(req, c) for c in creds])


async def get_credential(req: ApiRequest) -> Response:
    cred = await req.runtime.identity.credentials.get_credential(req.params["credential_id"])
    return views.respond({"credential": _render(req, cred)})


async def update_credential(req: ApiRequest) -> Response:
    """Keystone's rules against moving a credential (OSSA-2020-004): the policy is checked
    again against the credential as it would be, only admins give it to another user, and an
    ec2 key moves only to a project its user holds a role on (else its S3 signatures would
    act there)."""
    _not_from_app_cred(req)
    await not_from_trust(req, "Credentials")
    body = (await req.json(schemas.credential_update))["credential"]
    ident = req.runtime.identity
    current = await ident.credentials.get_credential(req.params["credential_id"])
    user_id = body.get("user_id", current.user_id)
    project_id = body.get("project_id", current.project_id)
    if user_id != current.user_id:
        req.runtime.policy.enforce("identity:update_credential", req.ctx,
                                   {"target.credential.user_id": user_id})
        if not req.ctx.has_admin_role:
            raise Forbidden("Only an administrator can give a credential to another user: "
                            "leave user_id out, or create a credential for that user.")
    moved = user_id != current.user_id or project_id != current.project_id
    if (body.get("type", current.type) == "ec2" and moved and project_id
            and not req.ctx.has_admin_role
            and not await ident.roles.effective_role_ids(user_id, "project", project_id)):
        raise Forbidden(f"User {user_id} holds no role on project {project_id}: an ec2 "
                        "credential can only be scoped to a project its user is a member of.")
    cred = await ident.credentials.update_credential(req.params["credential_id"], body)
    return views.respond({"credential": _render(req, cred)})


async def delete_credential(req: ApiRequest) -> Response:
    await req.runtime.identity.credentials.delete_credential(req.params["credential_id"])
    return views.no_content()


# --- OS-EC2 --------------------------------------------------------------------------------
def _ec2(req: ApiRequest, c: Credential) -> dict[str, Any]:
    blob = json.loads(req.runtime.identity.credentials.decrypt(c))
    return {"user_id": c.user_id, "tenant_id": c.project_id, "access": blob.get("access"),
            "secret": blob.get("secret"), "trust_id": blob.get("trust_id"),
            "links": {"self": req.url(f"/v3/users/{c.user_id}/credentials/OS-EC2/"
                                      f"{blob.get('access')}")}}


async def ec2_create(req: ApiRequest) -> Response:
    _not_from_app_cred(req)
    await not_from_trust(req, "Credentials")
    body = await req.json(schemas.ec2_create)
    ident = req.runtime.identity
    project_id = body.get("tenant_id") or body.get("project_id")
    user_id = req.params["user_id"]
    await ident.resources.get_project(project_id)
    blob = {"access": uuid.uuid4().hex, "secret": uuid.uuid4().hex, "trust_id": None}
    cred = await ident.credentials.create_credential({
        "user_id": user_id, "project_id": project_id, "type": "ec2",
        "blob": json.dumps(blob)})
    return views.respond({"credential": _ec2(req, cred)}, status=201)


async def ec2_list(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_user(req.params["user_id"])
    creds = await ident.credentials.list_credentials({"user_id": req.params["user_id"],
                                                      "type": "ec2"})
    return views.listing(req, "credentials", [_ec2(req, c) for c in creds])


async def _ec2_find(req: ApiRequest) -> Credential:
    try:
        cred = await req.runtime.identity.credentials.get_credential(
            ec2_credential_id(req.params["access"]))
    except NotFound as exc:
        raise NotFound(f"Could not find credential: {req.params['access']}.") from exc
    if cred.user_id != req.params["user_id"] or cred.type != "ec2":
        raise NotFound(f"Could not find credential: {req.params['access']}.")
    return cred


async def ec2_get(req: ApiRequest) -> Response:
    return views.respond({"credential": _ec2(req, await _ec2_find(req))})


async def ec2_delete(req: ApiRequest) -> Response:
    cred = await _ec2_find(req)
    await req.runtime.identity.credentials.delete_credential(cred.id)
    return views.no_content()
