"""Nova's image proxy (`/images`, deprecated: served up to 2.35, 404 after, as Nova): the
Glance images of the caller in Nova's shape."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import (
    caller,
    iso,
    limit_param,
    next_link,
    one,
    respond,
    since,
)
from onestack.core.image import listing
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.records import ImageRecord
from onestack.errors import MethodNotAllowed, NotFound

STATUS = {"active": "ACTIVE", "queued": "SAVING", "saving": "SAVING", "importing": "SAVING",
          "uploading": "SAVING", "killed": "ERROR", "deleted": "DELETED",
          "pending_delete": "DELETED", "deactivated": "ERROR"}
PROGRESS = {"ACTIVE": 100, "SAVING": 25}


def _check_version(req: ApiRequest) -> None:
    if since(req, 2, 36):
        raise NotFound("The resource could not be found.")


def _caller(req: ApiRequest) -> ImageCaller:
    who = caller(req)
    return ImageCaller(who.project_id, who.is_admin)


def _links(req: ApiRequest, image_id: str) -> list[dict[str, str]]:
    base = req.base_url()
    glance = f"{req.runtime.settings.server.base_url()}/image/images/{image_id}"
    return [{"rel": "self", "href": f"{base}/v2.1/images/{image_id}"},
            {"rel": "bookmark", "href": f"{base}/images/{image_id}"},
            {"rel": "alternate", "type": "application/vnd.openstack.image", "href": glance}]


def detail(req: ApiRequest, rec: ImageRecord) -> dict[str, Any]:
    img = rec.image
    status = STATUS.get(img.status, "UNKNOWN")
    out: dict[str, Any] = {
        "id": img.id, "name": img.name, "status": status, "progress": PROGRESS.get(status, 0),
        "created": iso(img.created_at), "updated": iso(img.updated_at),
        "minDisk": img.min_disk, "minRam": img.min_ram,
        "metadata": dict(rec.properties), "links": _links(req, img.id),
        "OS-EXT-IMG-SIZE:size": img.size,
    }
    server = rec.properties.get("instance_uuid")
    if server:
        base = req.base_url()
        out["server"] = {"id": server, "links": [
            {"rel": "self", "href": f"{base}/v2.1/servers/{server}"},
            {"rel": "bookmark", "href": f"{base}/servers/{server}"}]}
    return out


async def _get(req: ApiRequest) -> ImageRecord:
    image_id = req.params["image_id"]
    try:
        return await req.runtime.image.images.get(_caller(req), image_id)
    except NotFound as exc:
        raise NotFound("Image not found.") from exc


async def show(req: ApiRequest) -> Response:
    _check_version(req)
    return respond({"image": detail(req, await _get(req))})


async def delete(req: ApiRequest) -> Response:
    _check_version(req)
    rec = await _get(req)
    await req.runtime.image.images.delete(_caller(req), rec.image.id)
    return Response(status_code=204)


async def delete_blank(req: ApiRequest) -> Response:
    """``DELETE /images/`` (and ``/os-volumes/``): Nova routes no such path (404); without
    the slash, 405."""
    if req.http.url.path.endswith("/"):
        raise NotFound("The resource could not be found.")
    raise MethodNotAllowed("The method is not allowed for the requested URL.")


def _glance_filters(req: ApiRequest) -> list[tuple[str, str]]:
    """Nova's image list filters as Glance's (nova/api/openstack/compute/images.py and
    nova/image/glance.py): server (an id or a link) is the snapshot's instance_uuid,
    type its image_type, minRam and minDisk min_ram and min_disk, changes-since
    updated_at >=, name and status as they are (status in Glance's lower case)."""
    out: list[tuple[str, str]] = []
    for key, glance_key in (("name", "name"), ("minRam", "min_ram"), ("minDisk", "min_disk"),
                            ("type", "image_type")):
        value = one(req, key)
        if value is not None:
            out.append((glance_key, value))
    server = one(req, "server")
    if server:
        out.append(("instance_uuid", server.rstrip("/").rsplit("/", 1)[-1]))
    status = one(req, "status")
    if status:
        out.append(("status", status.lower()))
    since_ = one(req, "changes-since")
    if since_:
        out.append(("updated_at", f"gte:{since_}"))
    return out


async def _page(req: ApiRequest) -> tuple[list[ImageRecord], bool]:
    _check_version(req)
    q = listing.parse(_glance_filters(req))
    q.marker, q.sort = one(req, "marker"), [("created_at", "desc")]
    limit = limit_param(req)
    if limit is not None:
        q.limit = limit
    return await req.runtime.image.images.page(_caller(req), q)


async def list_images(req: ApiRequest) -> Response:
    recs, more = await _page(req)
    body: dict[str, Any] = {"images": [
        {"id": r.image.id, "name": r.image.name, "links": _links(req, r.image.id)}
        for r in recs]}
    if more and recs:
        body["images_links"] = next_link(req, "images", recs[-1].image.id)
    return respond(body)


async def list_details(req: ApiRequest) -> Response:
    recs, more = await _page(req)
    body: dict[str, Any] = {"images": [detail(req, r) for r in recs]}
    if more and recs:
        body["images_links"] = next_link(req, "images/detail", recs[-1].image.id)
    return respond(body)
