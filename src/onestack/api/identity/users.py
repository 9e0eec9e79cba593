"""Users, self-service passwords, groups and membership."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.resources import (
    default_domain,
    domain_list_filters,
    list_filters,
    split_extra,
)
from onestack.db.models import User

USER_KEYS = {"name", "description", "enabled", "domain_id", "default_project_id", "password",
             "options", "id"}
GROUP_KEYS = {"name", "description", "domain_id"}


async def _render(req: ApiRequest, users: list[User]) -> list[dict[str, Any]]:
    expiry = await req.runtime.identity.users.passwords_expiry([u.id for u in users])
    return [views.user(req, u, expiry[u.id]) for u in users]


async def create_user(req: ApiRequest) -> Response:
    body = (await req.json(schemas.user_create))["user"]
    body.pop("federated", None)
    user = await req.runtime.identity.users.create_user(split_extra(body, USER_KEYS),
                                                        default_domain(req))
    return views.respond({"user": (await _render(req, [user]))[0]}, status=201)


async def list_users(req: ApiRequest) -> Response:
    f = domain_list_filters(req, ("name", "domain_id"))
    users = await req.runtime.identity.users.list_users(f)
    return views.listing(req, "users", await _render(req, users))


async def get_user(req: ApiRequest) -> Response:
    user = await req.runtime.identity.users.get_user(req.params["user_id"])
    return views.respond({"user": (await _render(req, [user]))[0]})


async def update_user(req: ApiRequest) -> Response:
    body = (await req.json(schemas.user_update))["user"]
    body.pop("federated", None)
    body.pop("id", None)
    user = await req.runtime.identity.users.update_user(req.params["user_id"],
                                                        split_extra(body, USER_KEYS))
    return views.respond({"user": (await _render(req, [user]))[0]})


async def delete_user(req: ApiRequest) -> Response:
    await req.runtime.identity.users.delete_user(req.params["user_id"])
    return views.no_content()


async def change_password(req: ApiRequest) -> Response:
    body = (await req.json(schemas.password_change))["user"]
    await req.runtime.identity.users.change_password(
        req.params["user_id"], body["original_password"], body["password"])
    return views.no_content()


async def list_user_groups(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_user(req.params["user_id"])
    groups = await ident.users.list_groups({"user_id": req.params["user_id"]})
    return views.listing(req, "groups", [views.group(req, g) for g in groups])


async def list_user_projects(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_user(req.params["user_id"])
    ids = await ident.roles.project_ids_for_user(req.params["user_id"])
    f = list_filters(req, ("name", "domain_id"))
    f["ids"] = list(ids)
    projects = await ident.resources.list_projects(f)
    tags = await ident.resources.project_tags([p.id for p in projects])
    return views.listing(req, "projects", [views.project(req, p, tags[p.id]) for p in projects])


# --- groups --------------------------------------------------------------------------------
async def create_group(req: ApiRequest) -> Response:
    body = (await req.json(schemas.group_create))["group"]
    group = await req.runtime.identity.users.create_group(split_extra(body, GROUP_KEYS),
                                                          default_domain(req))
    return views.respond({"group": views.group(req, group)}, status=201)


async def list_groups(req: ApiRequest) -> Response:
    f = domain_list_filters(req, ("name", "domain_id"))
    groups = await req.runtime.identity.users.list_groups(f)
    return views.listing(req, "groups", [views.group(req, g) for g in groups])


async def get_group(req: ApiRequest) -> Response:
    group = await req.runtime.identity.users.get_group(req.params["group_id"])
    return views.respond({"group": views.group(req, group)})


async def update_group(req: ApiRequest) -> Response:
    body = (await req.json(schemas.group_update))["group"]
    group = await req.runtime.identity.users.update_group(req.params["group_id"],
                                                          split_extra(body, GROUP_KEYS))
    return views.respond({"group": views.group(req, group)})


async def delete_group(req: ApiRequest) -> Response:
    await req.runtime.identity.users.delete_group(req.params["group_id"])
    return views.no_content()


async def list_group_users(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    await ident.users.get_group(req.params["group_id"])
    f = list_filters(req, ("name", "domain_id"))
    f["group_id"] = req.params["group_id"]
    return views.listing(req, "users", await _render(req, await ident.users.list_users(f)))


async def add_member(req: ApiRequest) -> Response:
    await req.runtime.identity.users.add_member(req.params["group_id"], req.params["user_id"])
    return views.no_content()


async def check_member(req: ApiRequest) -> Response:
    await req.runtime.identity.users.is_member(req.params["group_id"], req.params["user_id"])
    return views.no_content()


async def remove_member(req: ApiRequest) -> Response:
    await req.runtime.identity.users.remove_member(req.params["group_id"],
                                                   req.params["user_id"])
    return views.no_content()
