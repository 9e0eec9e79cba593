"""Servers: create, list (summary and detail), show, update, delete; tags and metadata."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import secrets
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute import schemas, server_views
from onestack.api.compute.common import (
    bool_param,
    caller,
    is_admin,
    limit_param,
    links,
    next_link,
    one,
    parse_time,
    respond,
    since,
)
from onestack.core.compute.build import BuildRequest
from onestack.core.compute.listing import SORT_KEYS, ServerQuery
from onestack.errors import BadRequest, NotFound

ADMIN_FILTERS = ("host", "node", "project_id", "tenant_id", "user_id", "deleted",
                 "all_tenants")


def check_base64(value: str | None, field: str) -> None:
    if value is None:
        return
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value[:40]}. "
                         "It is not base64 encoded.") from exc


def normal_ip(value: str | None) -> str | None:
    """Access IPs as Nova stores them (netaddr's form: ::babe:dc0c:1602)."""
    if not value:
        return value
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return value


def _count(body: dict[str, Any], key: str) -> int:
    value = body.get(key, 1)
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Invalid input for field/attribute {key}.") from exc


# --- create --------------------------------------------------------------------------------
def _networks(req: ApiRequest, body: dict[str, Any]) -> Any:
    """``networks`` by microversion: required from 2.37 (a list, "auto" or "none"); before,
    a list, and leaving it out means auto."""
    if "networks" not in body:
        if since(req, 2, 37):
            raise BadRequest("Invalid input for field/attribute server. Value: (the request). "
                             "'networks' is a required property")
        return "auto"
    networks = body["networks"]
    if isinstance(networks, str) and not since(req, 2, 37):
        raise BadRequest(f"Invalid input for field/attribute networks. Value: {networks}. "
                         f"'{networks}' is not of type 'array'")
    for item in networks if isinstance(networks, list) else []:
        if "tag" in item and not since(req, 2, 32):
            raise BadRequest("Invalid input for field/attribute tag. Additional properties "
                             "are not allowed ('tag' was unexpected)")
    return networks


async def create(req: ApiRequest) -> Response:
    raw = await req.json(schemas.server_create)
    body = raw["server"]
    hints = raw.get("os:scheduler_hints") or raw.get("OS-SCH-HNT:scheduler_hints") or {}
    validate(hints, schemas.scheduler_hints)
    for field, version in (("description", (2, 19)), ("tags", (2, 52)),
                           ("hostname", (2, 90))):
        if field in body and not since(req, *version):
            raise BadRequest(f"Invalid input for field/attribute server. Additional "
                             f"properties are not allowed ('{field}' was unexpected)")
    check_base64(body.get("user_data"), "user_data")
    if body.get("personality"):
        raise BadRequest("Personality files are not supported; use user_data or the config "
                         "drive.")
    if body.get("block_device_mapping"):
        raise BadRequest("The legacy block_device_mapping is not supported; use "
                         "block_device_mapping_v2.")
    for item in body.get("block_device_mapping_v2") or []:
        for key, version in (("tag", (2, 42)), ("volume_type", (2, 67))):
            if key in item and not since(req, *version):
                raise BadRequest(f"Invalid input for field/attribute block_device_mapping_v2."
                                 f" Additional properties are not allowed ('{key}' was "
                                 "unexpected)")
    networks = _networks(req, body)
    groups = [str(g.get("name", "")) for g in body.get("security_groups") or []]
    min_count, max_count = _count(body, "min_count"), _count(body, "max_count")
    if "max_count" not in body:
        max_count = max(min_count, 1)
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    admin_pass = body.get("adminPass") or secrets.token_urlsafe(9)
    config_drive = str(body.get("config_drive", "")).lower() == "true"
    flavor_ref = str(body["flavorRef"])
    build = BuildRequest(
        name=body["name"], flavor_ref=flavor_ref, image_ref=str(body.get("imageRef") or ""),
        key_name=body.get("key_name"), user_data=body.get("user_data"),
        metadata=body.get("metadata", {}), config_drive=config_drive,
        availability_zone=body.get("availability_zone"), min_count=min_count,
        max_count=max_count, description=body.get("description"),
        tags=body.get("tags", []), networks=networks, security_groups=groups or None,
        disk_config=body.get("OS-DCF:diskConfig", "MANUAL"), admin_pass=admin_pass,
        access_ip_v4=normal_ip(body.get("accessIPv4")),
        access_ip_v6=normal_ip(body.get("accessIPv6")),
        group=hints.get("group"), hostname=body.get("hostname"),
        block_devices=list(body.get("block_device_mapping_v2") or []))
    made = await req.runtime.compute.builder.create(caller(req), build)
    if str(body.get("return_reservation_id", "")).lower() == "true":
        return respond({"reservation_id": made[0].reservation_id}, status=202)
    first = made[0]
    server: dict[str, Any] = {"id": first.uuid, "links": links(req, "servers", first.uuid),
                              "OS-DCF:diskConfig": first.disk_config,
                              "security_groups": [{"name": g} for g in groups or
                                                  ["default"]],
                              "adminPass": admin_pass}
    return respond({"server": server}, status=202,
                   headers={"Location": req.url(f"/v2.1/servers/{first.uuid}")})


# --- list and show -------------------------------------------------------------------------
def _tag_list(req: ApiRequest, name: str) -> list[str]:
    raw = one(req, name)
    return [t for t in raw.split(",") if t] if raw else []


def _query(req: ApiRequest) -> ServerQuery:
    admin = is_admin(req)
    q = ServerQuery(name=one(req, "name"), status=one(req, "status"), image=one(req, "image"),
                    flavor=one(req, "flavor"), ip=one(req, "ip"), ip6=one(req, "ip6"),
                    reservation_id=one(req, "reservation_id"), key_name=one(req, "key_name"),
                    availability_zone=one(req, "availability_zone"),
                    limit=limit_param(req, default=MAX_LIMIT), marker=one(req, "marker"))
    if q.status is not None and q.status.upper() not in _KNOWN_STATUSES and not admin \
            and since(req, 2, 38):
        raise BadRequest(f"Invalid status value: {q.status}")
    if (changes := one(req, "changes-since")) is not None:
        q.changes_since = parse_time(changes, "changes-since")
    if since(req, 2, 66) and (before := one(req, "changes-before")) is not None:
        q.changes_before = parse_time(before, "changes-before")
    if since(req, 2, 26):
        q.tags, q.tags_any = _tag_list(req, "tags"), _tag_list(req, "tags-any")
        q.not_tags, q.not_tags_any = _tag_list(req, "not-tags"), _tag_list(req, "not-tags-any")
    if since(req, 2, 73) and (locked := bool_param(req, "locked")) is not None:
        q.locked = locked
    if admin:
        all_tenants = one(req, "all_tenants")
        q.all_tenants = all_tenants is not None and all_tenants.lower() not in (
            "0", "false", "off", "no")
        q.project_id = one(req, "project_id") or one(req, "tenant_id")
        q.user_id, q.host, q.node = one(req, "user_id"), one(req, "host"), one(req, "node")
        q.deleted = bool_param(req, "deleted")
    elif one(req, "all_tenants") is not None:
        req.runtime.policy.enforce("os_compute_api:servers:index:get_all_tenants", req.ctx, {})
    keys, dirs = req.query.getlist("sort_key"), req.query.getlist("sort_dir")
    for i, key in enumerate(keys):
        if key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort_key {key}.")
        direction = dirs[i] if i < len(dirs) else "desc"
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort_dir {direction}.")
        q.sort.append((key, direction))
    return q


# Nova's [api] max_limit: a page without ``limit`` holds this many servers, then a next link.
MAX_LIMIT = 1000

_KNOWN_STATUSES = {"ACTIVE", "BUILD", "DELETED", "ERROR", "HARD_REBOOT", "MIGRATING",
                   "PASSWORD", "PAUSED", "REBOOT", "REBUILD", "RESCUE", "RESIZE",
                   "REVERT_RESIZE", "SHELVED", "SHELVED_OFFLOADED", "SHUTOFF",
                   "SOFT_DELETED", "SUSPENDED", "UNKNOWN", "VERIFY_RESIZE"}


async def _listing(req: ApiRequest, collection: str, render: Any) -> Response:
    q = _query(req)
    recs, more = await req.runtime.compute.servers.listing(caller(req), q)
    body: dict[str, Any] = {"servers": [render(req, r) for r in recs]}
    if more and recs:
        body["servers_links"] = next_link(req, collection, recs[-1].instance.uuid)
    return respond(body)


async def list_servers(req: ApiRequest) -> Response:
    return await _listing(req, "servers",
                          lambda r, rec: server_views.summary(r, rec.instance))


async def list_details(req: ApiRequest) -> Response:
    view = server_views.ServerView(req)
    return await _listing(req, "servers/detail", lambda _r, rec: view.detail(rec))


async def show(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return respond({"server": server_views.detail(req, rec, show=True)})


async def update(req: ApiRequest) -> Response:
    body = (await req.json(schemas.server_update))["server"]
    if "description" in body and not since(req, 2, 19):
        raise BadRequest("Invalid input for field/attribute server. Additional properties are "
                         "not allowed ('description' was unexpected)")
    names = {"name": "name", "description": "description", "accessIPv4": "access_ip_v4",
             "accessIPv6": "access_ip_v6", "OS-DCF:diskConfig": "disk_config",
             "hostname": "hostname"}
    changes = {names[k]: normal_ip(v) if k.startswith("accessIP") else v
               for k, v in body.items()}
    rec = await req.runtime.compute.servers.update(caller(req), req.params["server_id"],
                                                   changes)
    return respond({"server": server_views.updated(req, rec)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.compute.servers.delete(caller(req), req.params["server_id"])
    return Response(status_code=204)


# --- tags ----------------------------------------------------------------------------------
def _need_tags(req: ApiRequest) -> None:
    if not since(req, 2, 26):
        raise NotFound("The resource could not be found: server tags need microversion "
                       "2.26 or later.")


async def list_tags(req: ApiRequest) -> Response:
    _need_tags(req)
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return respond({"tags": rec.tags})


async def replace_tags(req: ApiRequest) -> Response:
    _need_tags(req)
    body = await req.json(schemas.tags)
    tags = await req.runtime.compute.servers.set_tags(caller(req), req.params["server_id"],
                                                      body["tags"])
    return respond({"tags": tags})


async def delete_tags(req: ApiRequest) -> Response:
    _need_tags(req)
    await req.runtime.compute.servers.remove_tag(caller(req), req.params["server_id"], None)
    return Response(status_code=204)


async def check_tag(req: ApiRequest) -> Response:
    _need_tags(req)
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    if req.params["tag"] not in rec.tags:
        raise NotFound(f"Tag {req.params['tag']} could not be found for instance "
                       f"{req.params['server_id']}.")
    return Response(status_code=204)


async def add_tag(req: ApiRequest) -> Response:
    _need_tags(req)
    validate(req.params["tag"], schemas.tag)
    server_id, tag = req.params["server_id"], req.params["tag"]
    created = await req.runtime.compute.servers.add_tag(caller(req), server_id, tag)
    if not created:
        return Response(status_code=204)
    return Response(status_code=201, headers={
        "Location": req.url(f"/v2.1/servers/{server_id}/tags/{tag}")})


async def delete_tag(req: ApiRequest) -> Response:
    _need_tags(req)
    await req.runtime.compute.servers.remove_tag(caller(req), req.params["server_id"],
                                                 req.params["tag"])
    return Response(status_code=204)


# --- metadata ------------------------------------------------------------------------------
async def list_metadata(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return respond({"metadata": dict(rec.instance.metadata_)})


async def set_metadata(req: ApiRequest) -> Response:
    body = await req.json(schemas.metadata_body)
    replace = req.method == "PUT"
    out = await req.runtime.compute.servers.set_metadata(caller(req), req.params["server_id"],
                                                         body["metadata"], replace)
    return respond({"metadata": out})


async def show_metadata_item(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    key = req.params["key"]
    if key not in rec.instance.metadata_:
        raise NotFound("Metadata item was not found")
    return respond({"meta": {key: rec.instance.metadata_[key]}})


async def set_metadata_item(req: ApiRequest) -> Response:
    body = await req.json(schemas.meta_item)
    if req.params["key"] not in body["meta"]:
        raise BadRequest("Request body and URI mismatch")
    await req.runtime.compute.servers.set_metadata(caller(req), req.params["server_id"],
                                                   body["meta"], False)
    return respond({"meta": body["meta"]})


async def delete_metadata_item(req: ApiRequest) -> Response:
    await req.runtime.compute.servers.delete_metadata(caller(req), req.params["server_id"],
                                                      req.params["key"])
    return Response(status_code=204)
