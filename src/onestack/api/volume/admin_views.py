"""Cinder's admin views: backend capabilities, a volume host's usage, quota classes."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import body_of, respond
from onestack.core.volume.admin_views import AdminViews


def _core(req: ApiRequest) -> AdminViews:
    views: AdminViews = req.runtime.volume.admin
    return views


async def capabilities(req: ApiRequest) -> Response:
    return respond(_core(req).capabilities(req.params["host"]))


async def host(req: ApiRequest) -> Response:
    rows = await _core(req).host_usage(req.params["host_name"])
    return respond({"host": [{"resource": r} for r in rows]})


async def quota_class(req: ApiRequest) -> Response:
    name = req.params["class_name"]
    return respond({"quota_class_set": {"id": name, **await _core(req).quota_class(name)}})


async def update_quota_class(req: ApiRequest) -> Response:
    body = await body_of(req, "quota_class_set")
    body.pop("id", None)
    limits = await _core(req).update_quota_class(req.params["class_name"], body)
    return respond({"quota_class_set": limits})


ADMIN = "rule:admin_api"
# Cinder's defaults (cinder/policies/capabilities.py, quota_class.py, hosts.py)
POLICY: list[tuple[str, str]] = [("volume_extension:capabilities", ADMIN),
                                 ("volume_extension:quota_classes", ADMIN),
                                 ("volume_extension:quota_classes:update", ADMIN)]
TABLE: list[tuple[str, str, Any, str]] = [
    ("GET", "/capabilities/{host}", capabilities, "volume_extension:capabilities"),
    ("GET", "/os-hosts/{host_name}", host, "volume_extension:hosts"),
    ("GET", "/os-quota-class-sets/{class_name}", quota_class,
     "volume_extension:quota_classes"),
    ("PUT", "/os-quota-class-sets/{class_name}", update_quota_class,
     "volume_extension:quota_classes:update"),
]
