"""Glance v2 route table: method, path, handler, policy rule (Glance's rule names)."""

from __future__ import annotations

from typing import Any

from onestack.api.common.policy import Rule, project_scoped
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Handler, Route, ServiceApi, TargetFn
from onestack.api.image import data, images, members
from onestack.api.image.views import glance_fault
from onestack.core.identity.bootstrap import ServiceEntry

IMG = "/v2/images/{image_id}"

ADMIN = "rule:context_is_admin"
READER = f"{ADMIN} or (role:reader and project_id:%(project_id)s)"
MEMBER = f"{ADMIN} or (role:member and project_id:%(project_id)s)"

# Glance's defaults (glance/policies/image.py): readers of a project read, members change
# and download, admins do anything; project-scoped tokens only. The target is the caller's
# project (image_target), the owner a new image asks for, and the member a members path
# names; which images the caller sees and owns is the core's (404 for images one cannot
# see, 403 for others').
RULES: list[Rule] = project_scoped([
    Rule("context_is_admin", "role:admin"),
    Rule("add_image", f"{ADMIN} or (role:member and project_id:%(project_id)s and "
                      "project_id:%(owner)s)"),
    *(Rule(name, READER) for name in ("get_image", "get_images", "get_member",
                                      "get_members")),
    *(Rule(name, MEMBER) for name in (
        "modify_image", "delete_image", "upload_image", "download_image", "import_image",
        "deactivate", "reactivate", "add_member", "delete_member")),
    Rule("modify_member", f"{ADMIN} or (role:member and project_id:%(member_id)s)"),
    # asked by the handlers with an empty target: the role is what they decide on
    Rule("communitize_image", f"{ADMIN} or role:member"),
    Rule("publicize_image", ADMIN),
    # no rule upstream: any project user
    *(Rule(name, "@") for name in ("get_schemas", "get_import_info", "get_stores")),
])


async def image_target(req: ApiRequest) -> dict[str, Any]:
    """The caller's project, and the member a path names."""
    target: dict[str, Any] = {"project_id": req.ctx.project_id}
    if "member_id" in req.params:
        target["member_id"] = req.params["member_id"]
    return target


async def create_target(req: ApiRequest) -> dict[str, Any]:
    """add_image also asks about the owner the new image names (Glance: one's own project
    only, unless admin)."""
    target = await image_target(req)
    target["owner"] = req.ctx.project_id
    if req.ctx.project_id is not None:
        body = await req.json(required=False)
        if isinstance(body, dict) and body.get("owner") is not None:
            target["owner"] = body["owner"]
    return target


def R(method: str, path: str, handler: Handler, rule: str | None = None, *,
      auth: bool = True, target: TargetFn = image_target) -> Route:
    return Route(method, path, handler, rule, auth=auth, target=target)


ROUTES: list[Route] = [
    R("GET", "/", images.versions, auth=False),
    R("GET", "/versions", images.versions_list, auth=False),
    R("GET", "/v2", images.versions_list, auth=False),
    # images
    R("POST", "/v2/images", images.create_image, "add_image", target=create_target),
    R("GET", "/v2/images", images.list_images, "get_images"),
    R("DELETE", "/v2/images", images.no_image_id, "delete_image"),
    R("GET", IMG, images.show_image, "get_image"),
    R("PATCH", IMG, images.update_image, "modify_image"),
    R("DELETE", IMG, images.delete_image, "delete_image"),
    R("POST", IMG + "/actions/deactivate", images.deactivate, "deactivate"),
    R("POST", IMG + "/actions/reactivate", images.reactivate, "reactivate"),
    R("PUT", IMG + "/tags/{tag}", images.add_tag, "modify_image"),
    R("DELETE", IMG + "/tags/{tag}", images.delete_tag, "modify_image"),
    R("GET", IMG + "/tasks", images.image_tasks, "get_image"),
    # data and interoperable import
    R("PUT", IMG + "/file", data.upload, "upload_image"),
    R("GET", IMG + "/file", data.download, "download_image"),
    R("PUT", IMG + "/stage", data.stage, "upload_image"),
    R("POST", IMG + "/import", data.image_import, "import_image"),
    R("GET", "/v2/info/import", data.info_import, "get_import_info"),
    R("GET", "/v2/info/stores", data.info_stores, "get_stores"),
    # members
    R("POST", IMG + "/members", members.create_member, "add_member"),
    R("GET", IMG + "/members", members.list_members, "get_members"),
    R("GET", IMG + "/members/{member_id}", members.show_member, "get_member"),
    R("PUT", IMG + "/members/{member_id}", members.update_member, "modify_member"),
    R("DELETE", IMG + "/members/{member_id}", members.delete_member, "delete_member"),
    # schemas
    R("GET", "/v2/schemas/{schema}", images.show_schema, "get_schemas"),
]

SERVICE = ServiceApi(name="image", prefix="/image", routes=ROUTES, render_fault=glance_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("image", "glance", f"{base_url}/image")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
