"""Glance v2 route table: method, path, handler, policy rule (Glance's rule names)."""

from __future__ import annotations

from typing import Any

from onestack.api.common.policy import Rule, project_scoped
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Handler, Route, ServiceApi, TargetFn
from onestack.api.image import data, images, members, metadef_items, metadefs, tasks
from onestack.api.image.views import glance_fault
from onestack.core.identity.bootstrap import ServiceEntry

IMG = "/v2/images/{image_id}"
NS = "/v2/metadefs/namespaces/{namespace_name}"

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
    # metadefs: readers read (which namespaces they see is the core's: public ones and
    # their project's), only admins write (Glance's metadef_admin)
    Rule("metadef_admin", ADMIN),
    *(Rule(name, READER) for name in (
        "get_metadef_namespace", "get_metadef_namespaces", "get_metadef_object",
        "get_metadef_objects", "get_metadef_property", "get_metadef_properties",
        "get_metadef_tag", "get_metadef_tags", "get_metadef_resource_type",
        "list_metadef_resource_types")),
    *(Rule(name, "rule:metadef_admin") for name in (
        "add_metadef_namespace", "modify_metadef_namespace", "delete_metadef_namespace",
        "add_metadef_object", "modify_metadef_object", "delete_metadef_object",
        "add_metadef_property", "modify_metadef_property", "remove_metadef_property",
        "add_metadef_tag", "add_metadef_tags", "modify_metadef_tag", "delete_metadef_tag",
        "delete_metadef_tags", "add_metadef_resource_type_association",
        "remove_metadef_resource_type_association")),
    # tasks: admins only (Glance's tasks_api_access)
    Rule("tasks_api_access", ADMIN),
    *(Rule(name, "rule:tasks_api_access") for name in ("get_tasks", "get_task", "add_task",
                                                        "modify_task")),
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
    # metadata definitions
    R("GET", "/v2/metadefs/namespaces", metadefs.list_namespaces, "get_metadef_namespaces"),
    R("POST", "/v2/metadefs/namespaces", metadefs.create_namespace, "add_metadef_namespace"),
    R("GET", NS, metadefs.show_namespace, "get_metadef_namespace"),
    R("PUT", NS, metadefs.update_namespace, "modify_metadef_namespace"),
    R("DELETE", NS, metadefs.delete_namespace, "delete_metadef_namespace"),
    R("GET", "/v2/metadefs/resource_types", metadefs.list_resource_types,
      "list_metadef_resource_types"),
    R("GET", NS + "/resource_types", metadefs.list_associations, "get_metadef_resource_type"),
    R("POST", NS + "/resource_types", metadefs.create_association,
      "add_metadef_resource_type_association"),
    R("DELETE", NS + "/resource_types/{resource_type_name}", metadefs.delete_association,
      "remove_metadef_resource_type_association"),
    R("GET", NS + "/objects", metadef_items.list_objects, "get_metadef_objects"),
    R("POST", NS + "/objects", metadef_items.create_object, "add_metadef_object"),
    R("DELETE", NS + "/objects", metadef_items.delete_objects, "delete_metadef_namespace"),
    R("GET", NS + "/objects/{object_name}", metadef_items.show_object, "get_metadef_object"),
    R("PUT", NS + "/objects/{object_name}", metadef_items.update_object,
      "modify_metadef_object"),
    R("DELETE", NS + "/objects/{object_name}", metadef_items.delete_object,
      "delete_metadef_object"),
    R("GET", NS + "/properties", metadef_items.list_properties, "get_metadef_properties"),
    R("POST", NS + "/properties", metadef_items.create_property, "add_metadef_property"),
    R("DELETE", NS + "/properties", metadef_items.delete_properties,
      "delete_metadef_namespace"),
    R("GET", NS + "/properties/{property_name}", metadef_items.show_property,
      "get_metadef_property"),
    R("PUT", NS + "/properties/{property_name}", metadef_items.update_property,
      "modify_metadef_property"),
    R("DELETE", NS + "/properties/{property_name}", metadef_items.delete_property,
      "remove_metadef_property"),
    R("GET", NS + "/tags", metadef_items.list_tags, "get_metadef_tags"),
    R("POST", NS + "/tags", metadef_items.create_tags, "add_metadef_tags"),
    R("DELETE", NS + "/tags", metadef_items.delete_tags, "delete_metadef_tags"),
    R("GET", NS + "/tags/{tag_name}", metadef_items.show_tag, "get_metadef_tag"),
    R("POST", NS + "/tags/{tag_name}", metadef_items.create_tag, "add_metadef_tag"),
    R("PUT", NS + "/tags/{tag_name}", metadef_items.update_tag, "modify_metadef_tag"),
    R("DELETE", NS + "/tags/{tag_name}", metadef_items.delete_tag, "delete_metadef_tag"),
    # tasks (deprecated upstream)
    R("POST", "/v2/tasks", tasks.create_task, "add_task"),
    R("GET", "/v2/tasks", tasks.list_tasks, "get_tasks"),
    R("GET", "/v2/tasks/{task_id}", tasks.show_task, "get_task"),
    R("DELETE", "/v2/tasks/{task_id}", tasks.delete_task, "modify_task"),
    # schemas
    R("GET", "/v2/schemas/metadefs/{schema}", metadefs.show_schema, "get_schemas"),
    R("GET", "/v2/schemas/{schema}", images.show_schema, "get_schemas"),
]

SERVICE = ServiceApi(name="image", prefix="/image", routes=ROUTES, render_fault=glance_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("image", "glance", f"{base_url}/image")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
