"""Policy targets that need a lookup: the domain of the user, project or group a request
names, the role it grants (the domain manager persona's rules compare them with the token's
domain). A name that does not exist leaves its keys out: the policy decides (403 for a
domain manager), and an admin's request goes on to the handler's 404, as in Keystone."""

from __future__ import annotations

from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.api.identity.resources import default_domain
from onestack.errors import NotFound


def _base(req: ApiRequest) -> dict[str, Any]:
    """What the default target holds: path params, also as target.<kind>.id."""
    target: dict[str, Any] = dict(req.params)
    for key, value in req.params.items():
        if key.endswith("_id"):
            target[f"target.{key[:-3]}.id"] = value
    return target


async def _body_entity(req: ApiRequest, key: str) -> dict[str, Any]:
    body = await req.json()
    inner = body.get(key) if isinstance(body, dict) else None
    return inner if isinstance(inner, dict) else {}


async def _add_user(req: ApiRequest, target: dict[str, Any], user_id: str) -> None:
    try:
        user = await req.runtime.identity.users.get_user(user_id)
    except NotFound:
        return
    target["target.user.domain_id"] = user.domain_id


async def _add_project(req: ApiRequest, target: dict[str, Any], project_id: str) -> None:
    try:
        project = await req.runtime.identity.resources.get_project(project_id)
    except NotFound:
        return
    target["target.project.domain_id"] = project.domain_id


async def _add_role(req: ApiRequest, target: dict[str, Any], role_id: str) -> None:
    try:
        role = await req.runtime.identity.roles.get_role(role_id)
    except NotFound:
        return
    target["target.role.name"] = role.name
    target["target.role.domain_id"] = role.domain_id or None


def list_domain(req: ApiRequest) -> str | None:
    """The domain a listing is confined to: the query's, else a domain-scoped token's."""
    return req.query.get("domain_id") or req.ctx.domain_id


async def listing(req: ApiRequest) -> dict[str, Any]:
    return {**_base(req), "domain_id": list_domain(req)}


async def assignments(req: ApiRequest) -> dict[str, Any]:
    """GET /v3/role_assignments: a domain-scoped token's domain (Keystone's target; the
    listing is then confined to that domain)."""
    return {"target.domain_id": req.ctx.domain_id}


async def user(req: ApiRequest) -> dict[str, Any]:
    target = _base(req)
    await _add_user(req, target, req.params["user_id"])
    return target


async def _created_in_domain(req: ApiRequest, entity: str) -> dict[str, Any]:
    """A new user's or group's target: the body's domain, else the default one."""
    body = await _body_entity(req, entity)
    domain = body.get("domain_id")
    return {f"target.{entity}.domain_id": domain if isinstance(domain, str) and domain
            else default_domain(req)}


async def user_create(req: ApiRequest) -> dict[str, Any]:
    return await _created_in_domain(req, "user")


async def project(req: ApiRequest) -> dict[str, Any]:
    target = _base(req)
    await _add_project(req, target, req.params["project_id"])
    return target


async def project_create(req: ApiRequest) -> dict[str, Any]:
    body = await _body_entity(req, "project")
    domain, parent = body.get("domain_id"), body.get("parent_id")
    if isinstance(domain, str) and domain:
        return {"target.project.domain_id": domain}
    if isinstance(parent, str) and parent:
        target: dict[str, Any] = {}
        await _add_project(req, target, parent)
        if "target.project.domain_id" not in target:  # a domain as the parent
            target["target.project.domain_id"] = parent
        return target
    return {"target.project.domain_id": default_domain(req)}


async def _add_group(req: ApiRequest, target: dict[str, Any], group_id: str) -> None:
    try:
        group = await req.runtime.identity.users.get_group(group_id)
    except NotFound:
        return
    target["target.group.domain_id"] = group.domain_id


async def group(req: ApiRequest) -> dict[str, Any]:
    """A group, and for membership calls the user too."""
    target = _base(req)
    await _add_group(req, target, req.params["group_id"])
    if "user_id" in req.params:
        await _add_user(req, target, req.params["user_id"])
    return target


async def group_create(req: ApiRequest) -> dict[str, Any]:
    return await _created_in_domain(req, "group")


async def role(req: ApiRequest) -> dict[str, Any]:
    target = _base(req)
    await _add_role(req, target, req.params["role_id"])
    return target


async def grant(req: ApiRequest) -> dict[str, Any]:
    """A role assignment: its actor's, its project's domain, and the role granted."""
    target = _base(req)
    p = req.params
    if "user_id" in p:
        await _add_user(req, target, p["user_id"])
    if "group_id" in p:
        await _add_group(req, target, p["group_id"])
    if "project_id" in p:
        await _add_project(req, target, p["project_id"])
    if "role_id" in p:
        await _add_role(req, target, p["role_id"])
    return target
