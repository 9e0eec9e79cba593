"""Glance v2 route table: method, path, handler, policy rule (Glance's rule names)."""

from __future__ import annotations

from onestack.api.common.policy import Rule
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.image import data, images, members
from onestack.api.image.views import glance_fault
from onestack.core.identity.bootstrap import ServiceEntry

R = Route
IMG = "/v2/images/{image_id}"

# Glance's defaults: any authenticated project member may use the API; ownership and
# visibility are checked by the core (404 for images one cannot see, 403 for others').
RULES: list[Rule] = [
    Rule("context_is_admin", "role:admin"),
    *(Rule(name, "") for name in (
        "add_image", "get_image", "get_images", "modify_image", "delete_image",
        "upload_image", "download_image", "import_image", "deactivate", "reactivate",
        "communitize_image", "add_member", "get_member", "get_members", "modify_member",
        "delete_member", "get_schemas", "get_import_info", "get_stores")),
    Rule("publicize_image", "role:admin"),
]

ROUTES: list[Route] = [
    R("GET", "/", images.versions, auth=False),
    R("GET", "/versions", images.versions_list, auth=False),
    R("GET", "/v2", images.versions_list, auth=False),
    # images
    R("POST", "/v2/images", images.create_image, "add_image"),
    R("GET", "/v2/images", images.list_images, "get_images"),
    R("DELETE", "/v2/images", images.no_image_id, "delete_image"),
    R("GET", IMG, images.show_image, "get_image"),
    R("PATCH", IMG, images.update_image, "modify_image"),
    R("DELETE", IMG, images.delete_image, "delete_image"),
    R("POST", IMG + "/actions/deactivate", images.deactivate, "deactivate"),
    R("POST", IMG + "/actions/reactivate", images.reactivate, "reactivate"),
    R("PUT", IMG + "/tags/{tag}", images.add_tag, "modify_image"),
    R("DELETE", IMG + "/tags/{tag}", images.delete_tag, "modify_image"),
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
