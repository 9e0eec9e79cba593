"""Version discovery, images (create, list, show, patch, delete, actions), tags, schemas."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.image import schemas, views
from onestack.core.image import listing, patch
from onestack.errors import BadRequest, NotFound, UnsupportedMediaType

CURRENT = (2, 9)
PATCH_TYPES = {"application/openstack-images-v2.1-json-patch": False,
               "application/openstack-images-v2.0-json-patch": True}


# --- version discovery -------------------------------------------------------------------
def _versions(req: ApiRequest) -> dict[str, object]:
    href = req.url("/v2/")
    values = [{"id": f"v2.{minor}", "status": "CURRENT" if minor == CURRENT[1] else
               "SUPPORTED", "links": [{"rel": "self", "href": href}]}
              for minor in range(CURRENT[1], -1, -1)]
    return {"versions": values}


async def versions(req: ApiRequest) -> Response:
    return views.respond(_versions(req), status=300)


async def versions_list(req: ApiRequest) -> Response:
    return views.respond(_versions(req))


# --- images --------------------------------------------------------------------------------
def _check_visibility(req: ApiRequest, visibility: object) -> None:
    if visibility == "public":
        req.runtime.policy.enforce("publicize_image", req.ctx, {})
    elif visibility == "community":
        req.runtime.policy.enforce("communitize_image", req.ctx, {})


def _is_base(name: str) -> bool:
    prop = schemas.IMAGE_PROPERTIES.get(name)
    return prop is not None and bool(prop.get("is_base", True))


async def create_image(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object of image attributes.")
    for name in body:
        if name != "id":
            patch.check_settable(str(name))
    validate(body, schemas.image_create)
    _check_visibility(req, body.get("visibility"))
    # A null extra property (kernel_id: null) is the same as leaving it out.
    data = {k: v for k, v in body.items() if v is not None or _is_base(k)}
    rec = await req.runtime.image.images.create(views.caller(req), data)
    headers = {"Location": req.url(f"/v2/images/{rec.image.id}"),
               views.IMPORT_METHODS_HEADER: "glance-direct",
               views.STORE_IDS_HEADER: "file"}
    return views.respond(views.image(rec), status=201, headers=headers)


async def list_images(req: ApiRequest) -> Response:
    if req.path.endswith("/"):
        raise NotFound("The resource could not be found.")
    q = listing.parse(req.query.multi_items())
    recs, more = await req.runtime.image.images.page(views.caller(req), q)
    return views.respond(views.image_listing(req, recs, more, q.limit))


async def no_image_id(req: ApiRequest) -> Response:
    raise NotFound("The resource could not be found: an image id is required.")


async def show_image(req: ApiRequest) -> Response:
    rec = await req.runtime.image.images.get(views.caller(req), req.params["image_id"])
    return views.respond(views.image(rec))


async def image_tasks(req: ApiRequest) -> Response:
    """GET /v2/images/{id}/tasks: the image's import tasks (Glance 2.12). Onestack runs
    imports without task records, so the list is empty for an image the caller sees."""
    await req.runtime.image.images.get(views.caller(req), req.params["image_id"])
    return views.respond({"tasks": []})


async def update_image(req: ApiRequest) -> Response:
    ctype = (req.header("content-type") or "").split(";")[0].strip().lower()
    if ctype not in PATCH_TYPES:
        raise UnsupportedMediaType(
            f"Unsupported Content-Type {ctype or '(none)'}: use one of "
            f"{', '.join(PATCH_TYPES)}.",
            headers={"Accept-Patch": ", ".join(PATCH_TYPES)})
    changes = patch.parse_changes(await req.json(), strict_add=PATCH_TYPES[ctype])
    for change in changes:
        patch.check_settable(change.path)
        if change.op != "remove":
            validate(change.value, schemas.value_schema(change.path))
        if change.path == "visibility":
            _check_visibility(req, change.value)
    rec = await req.runtime.image.images.update(views.caller(req), req.params["image_id"],
                                                changes)
    return views.respond(views.image(rec))


async def delete_image(req: ApiRequest) -> Response:
    await req.runtime.image.images.delete(views.caller(req), req.params["image_id"])
    return views.no_content()


async def deactivate(req: ApiRequest) -> Response:
    await req.runtime.image.images.deactivate(views.caller(req), req.params["image_id"])
    return views.no_content()


async def reactivate(req: ApiRequest) -> Response:
    await req.runtime.image.images.reactivate(views.caller(req), req.params["image_id"])
    return views.no_content()


# --- tags ----------------------------------------------------------------------------------
async def add_tag(req: ApiRequest) -> Response:
    await req.runtime.image.images.add_tag(views.caller(req), req.params["image_id"],
                                           req.params["tag"])
    return views.no_content()


async def delete_tag(req: ApiRequest) -> Response:
    await req.runtime.image.images.remove_tag(views.caller(req), req.params["image_id"],
                                              req.params["tag"])
    return views.no_content()


# --- schemas -------------------------------------------------------------------------------
async def show_schema(req: ApiRequest) -> Response:
    doc = schemas.DOCUMENTS.get(req.params["schema"])
    if doc is None:
        raise NotFound(f"No schema named {req.params['schema']}.")
    return views.respond(doc)
