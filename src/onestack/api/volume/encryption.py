"""Volume type encryption (``/types/{type}/encryption``, admins) and a volume's encryption
metadata (``/volumes/{id}/encryption``): thin handlers over core.volume.encryption."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import accepted, caller, respond
from onestack.errors import NotFound


async def show_type(req: ApiRequest) -> Response:
    """The type's encryption spec, unwrapped as Cinder answers it ({} when none)."""
    return respond(await req.runtime.volume.encryption.get(caller(req),
                                                           req.params["type_id"]))


async def show_type_item(req: ApiRequest) -> Response:
    """Cinder's ``show``: one field of the spec, named in the path."""
    spec = await req.runtime.volume.encryption.get(caller(req), req.params["type_id"])
    key = req.params["encryption_id"]
    if key not in spec:
        raise NotFound(f"Volume type encryption for type {req.params['type_id']} has no "
                       f"field {key}.")
    return respond({key: spec[key]})


async def create_type(req: ApiRequest) -> Response:
    spec = await req.runtime.volume.encryption.create(caller(req), req.params["type_id"],
                                                      await req.json())
    return respond({"encryption": spec})


async def update_type(req: ApiRequest) -> Response:
    """The encryption id in the path is not checked, as in Cinder (cinderclient sends
    ``provider`` there)."""
    spec = await req.runtime.volume.encryption.update(caller(req), req.params["type_id"],
                                                      await req.json())
    return respond({"encryption": spec})


async def delete_type(req: ApiRequest) -> Response:
    await req.runtime.volume.encryption.delete(caller(req), req.params["type_id"])
    return accepted()


async def show_volume(req: ApiRequest) -> Response:
    return respond(await req.runtime.volume.encryption.of_volume(
        caller(req), req.params["volume_id"]))


async def show_volume_item(req: ApiRequest) -> Response:
    meta = await req.runtime.volume.encryption.of_volume(caller(req),
                                                         req.params["volume_id"])
    key = req.params["key"]
    if key not in meta:
        raise NotFound(f"Volume {req.params['volume_id']} has no encryption metadata {key}.")
    return respond(meta[key])
