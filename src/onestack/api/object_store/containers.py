"""Containers: create/update (PUT), metadata (POST), usage (HEAD), listings (GET), DELETE."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.object_store import views
from onestack.api.object_store.accounts import extract_archive
from onestack.api.object_store.common import TEXT, caller, empty, store, swift
from onestack.api.object_store.common import account_of as _account
from onestack.api.object_store.formpost import boundary_of, formpost
from onestack.core.object_store.base import meta_updates
from onestack.core.object_store.containers import ContainerSettings
from onestack.core.object_store.listing import ListParams

# X-Container-<name> headers that are settings, not metadata -> sysmeta keys
SETTINGS = {"x-container-read": "read", "x-container-write": "write",
            "x-versions-location": "versions-location",
            "x-history-location": "history-location"}


def settings_from(headers: Headers) -> ContainerSettings:
    values: dict[str, str | None] = {}
    for header, key in SETTINGS.items():
        remove = "x-remove-" + header.removeprefix("x-")
        if remove in headers:
            values[key] = None
        if header in headers:
            values[key] = headers[header].strip() or None
    return ContainerSettings(values, headers.get("x-storage-policy"))


@swift
async def put_container(req: ApiRequest) -> Response:
    if "extract-archive" in req.query:
        return await extract_archive(req, req.params["container"])
    headers = req.http.headers
    created = await store(req).containers.put(
        caller(req), _account(req), req.params["container"],
        meta_updates(headers, "container"), settings_from(headers))
    return empty(201 if created else 202)


@swift
async def post_container(req: ApiRequest) -> Response:
    boundary = boundary_of(req)
    if boundary is not None:
        return await formpost(req, req.params["container"], "", boundary)
    headers = req.http.headers
    await store(req).containers.post(
        caller(req), _account(req), req.params["container"],
        meta_updates(headers, "container"), settings_from(headers))
    return empty(204)


@swift
async def head_container(req: ApiRequest) -> Response:
    account = _account(req)
    who = caller(req)
    c = await store(req).containers.authorize_head(who, account, req.params["container"])
    return empty(204, views.container_headers(c, who.owns(account)), media=TEXT)


@swift
async def list_objects(req: ApiRequest) -> Response:
    account = _account(req)
    who = caller(req)
    params = ListParams.from_query(req.query)
    c, items = await store(req).containers.list_objects(who, account, req.params["container"],
                                                        params)
    return views.listing(req, "container", c.name, items,
                         views.container_headers(c, who.owns(account)))


@swift
async def delete_container(req: ApiRequest) -> Response:
    os = store(req)
    await os.containers.delete(caller(req), _account(req), req.params["container"],
                               reap=os.objects.reap_container)
    return empty(204)
