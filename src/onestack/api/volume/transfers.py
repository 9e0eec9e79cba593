"""Volume transfers: Cinder's ``/os-volume-transfer`` (every version) and
``/volume-transfers`` (3.55+, where ``no_snapshots`` may be given); thin handlers over
core.volume.transfers. Both paths render alike: ``no_snapshots`` from 3.55,
``source_project_id``/``destination_project_id``/``accepted`` from 3.57."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import (
    accepted,
    body_of,
    caller,
    iso,
    links,
    one,
    respond,
    since,
)
from onestack.core.volume.transfers import Transfers, check_create
from onestack.db.models.volume_transfer import VolumeTransfer
from onestack.errors import BadRequest, NotFound

Handler = Callable[[ApiRequest], Awaitable[Response]]
COLLECTION = "os-volume-transfer"  # Cinder's view builder links both paths here


def _core(req: ApiRequest) -> Transfers:
    return Transfers(req.runtime.volume)


def view(req: ApiRequest, row: VolumeTransfer, detail: bool = True,
         auth_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "name": row.name, "volume_id": row.volume_id,
                           "links": links(req, COLLECTION, row.id)}
    if not detail:
        return out
    out["created_at"] = iso(row.created_at)
    if auth_key is not None:
        out["auth_key"] = auth_key
    if since(req, 3, 55):
        out["no_snapshots"] = row.no_snapshots
    if since(req, 3, 57):
        out.update(source_project_id=row.project_id, destination_project_id=None,
                   accepted=False)
    return out


def _versioned(new_api: bool, handler: Handler) -> Handler:
    """``/volume-transfers`` exists from 3.55 (Cinder: 404 below)."""
    async def serve(req: ApiRequest) -> Response:
        if new_api and not since(req, 3, 55):
            raise NotFound("The resource could not be found.")
        return await handler(req)
    return serve


def _creator(new_api: bool) -> Handler:
    async def create(req: ApiRequest) -> Response:
        body = check_create(await body_of(req, "transfer"), new_api)
        row, key = await _core(req).create(caller(req), body)
        return respond({"transfer": view(req, row, auth_key=key)}, 202)
    return create


async def _listing(req: ApiRequest, detail: bool) -> Response:
    all_projects = one(req, "all_tenants") not in (None, "0", "false", "False")
    rows = await _core(req).listing(caller(req), all_projects, one(req, "name"))
    return respond({"transfers": [view(req, r, detail) for r in rows]})


async def list_transfers(req: ApiRequest) -> Response:
    return await _listing(req, False)


async def list_details(req: ApiRequest) -> Response:
    return await _listing(req, True)


async def show(req: ApiRequest) -> Response:
    row = await _core(req).get(caller(req), req.params["transfer_id"])
    return respond({"transfer": view(req, row)})


async def delete(req: ApiRequest) -> Response:
    await _core(req).delete(caller(req), req.params["transfer_id"])
    return accepted()


async def accept(req: ApiRequest) -> Response:
    body = await body_of(req, "accept")
    if "auth_key" not in body:
        raise BadRequest("Invalid input for field/attribute accept. 'auth_key' is a "
                         "required property")
    row = await _core(req).accept(caller(req), req.params["transfer_id"], body["auth_key"])
    return respond({"transfer": view(req, row, detail=False)}, 202)


READER = "rule:xena_system_admin_or_project_reader"
MEMBER = "rule:xena_system_admin_or_project_member"
# Cinder's defaults (cinder/policies/volume_transfer.py); accepting acts in the caller's
# own project, whichever project offered the volume.
POLICY: list[tuple[str, str]] = [
    ("volume:get_all_transfers", READER), ("volume:get_transfer", READER),
    ("volume:create_transfer", MEMBER), ("volume:delete_transfer", MEMBER),
    ("volume:accept_transfer", MEMBER)]


def _table(base: str, new_api: bool) -> list[tuple[str, str, Any, str]]:
    one_t = base + "/{transfer_id}"
    return [
        ("GET", base, _versioned(new_api, list_transfers), "volume:get_all_transfers"),
        ("POST", base, _versioned(new_api, _creator(new_api)), "volume:create_transfer"),
        ("GET", base + "/detail", _versioned(new_api, list_details),
         "volume:get_all_transfers"),
        ("GET", one_t, _versioned(new_api, show), "volume:get_transfer"),
        ("DELETE", one_t, _versioned(new_api, delete), "volume:delete_transfer"),
        ("POST", one_t + "/accept", _versioned(new_api, accept), "volume:accept_transfer"),
    ]


TABLE = _table("/os-volume-transfer", False) + _table("/volume-transfers", True)
