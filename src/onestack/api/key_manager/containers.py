"""Containers and their consumers, and orders."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.key_manager import schemas, views
from onestack.api.key_manager.common import body, core
from onestack.core.key_manager.containers import ContainerView
from onestack.db.models.key_manager import KmOrder


def _view(req: ApiRequest) -> ContainerView:
    view: ContainerView = req.state["container"]
    return view


async def create(req: ApiRequest) -> Response:
    name, ctype, refs = schemas.container(await body(req))
    row = await core(req).create_container(req.ctx, name, ctype, refs)
    ref = views.ref(req, "containers", row.id)
    return json_response({"container_ref": ref}, 201, headers={"Location": ref})


async def index(req: ApiRequest) -> Response:
    offset, limit = schemas.paging(req.query)
    rows, total = await core(req).containers(req.ctx, offset, limit,
                                             req.query.get("name") or None,
                                             req.query.get("type") or None)
    return json_response(views.page(req, "containers", "containers",
                                    [views.container(req, r) for r in rows], total,
                                    offset, limit))


async def show(req: ApiRequest) -> Response:
    return json_response(views.container(req, _view(req).row, _view(req)))


async def delete(req: ApiRequest) -> Response:
    await core(req).delete_container(req.params["container_id"])
    return Response(status_code=204)


async def add_secret(req: ApiRequest) -> Response:
    name, secret_id = schemas.container_ref(await body(req), "ContainerSecret")
    await core(req).container_secret(req.ctx, req.params["container_id"], name, secret_id)
    ref = views.ref(req, "containers", req.params["container_id"])
    return json_response({"container_ref": ref}, 201, headers={"Location": ref})


async def remove_secret(req: ApiRequest) -> Response:
    name, secret_id = schemas.container_ref(await body(req), "ContainerSecret")
    await core(req).container_secret(req.ctx, req.params["container_id"], name, secret_id,
                                     remove=True)
    return Response(status_code=204)


# --- consumers ---------------------------------------------------------------------------------
async def consumers(req: ApiRequest) -> Response:
    offset, limit = schemas.paging(req.query)
    found = _view(req).consumers
    items = [views.consumer(c) for c in found[offset:offset + limit]]
    return json_response(views.page(
        req, f"containers/{req.params['container_id']}/consumers", "consumers", items,
        len(found), offset, limit))


async def _changed(req: ApiRequest) -> Response:
    view = await core(req).container(req.params["container_id"])
    return json_response(views.container(req, view.row, view))


async def add_consumer(req: ApiRequest) -> Response:
    name, url, _ = schemas.consumer(await body(req), False)
    await core(req).add_consumer(req.ctx, "container", req.params["container_id"], name, url)
    return await _changed(req)


async def remove_consumer(req: ApiRequest) -> Response:
    name, url, _ = schemas.consumer(await body(req), False)
    await core(req).remove_consumer("container", req.params["container_id"], name, url)
    return await _changed(req)


# --- orders ------------------------------------------------------------------------------------
async def create_order(req: ApiRequest) -> Response:
    limit = int(req.runtime.settings.key_manager.max_secret_bytes)
    otype, meta, spec = schemas.order(await body(req), limit)
    shown = {k: v for k, v in meta.items() if k != "passphrase"}
    row = await core(req).create_order(req.ctx, otype, shown, spec,
                                       passphrase=meta.get("passphrase"))
    ref = views.ref(req, "orders", row.id)
    return json_response({"order_ref": ref}, 202, headers={"Location": ref})


async def orders(req: ApiRequest) -> Response:
    offset, limit = schemas.paging(req.query)
    rows, total = await core(req).orders(req.ctx, offset, limit)
    return json_response(views.page(req, "orders", "orders",
                                    [views.order(req, r) for r in rows], total, offset, limit))


async def show_order(req: ApiRequest) -> Response:
    order: KmOrder = req.state["order"]
    return json_response(views.order(req, order))


async def delete_order(req: ApiRequest) -> Response:
    await core(req).delete_order(req.params["order_id"])
    return Response(status_code=204)
