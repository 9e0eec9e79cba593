"""Version documents, availability zones, limits, quota sets, services, hypervisors and
simple tenant usage."""

from __future__ import annotations

import datetime as dt
import fnmatch
from typing import Any

from starlette.responses import Response

from onestack.api.common.microversions import fmt
from onestack.api.common.request import ApiRequest
from onestack.api.compute import schemas, views
from onestack.api.compute.common import (
    bool_param,
    is_admin,
    iso_micro,
    one,
    parse_time,
    respond,
    since,
)
from onestack.core.compute.aggregates import INTERNAL_AZ
from onestack.core.compute.base import DEFAULT_AZ
from onestack.core.compute.quotas import DEFAULT_CLASS, DEFAULTS
from onestack.db.models.base import utcnow
from onestack.errors import BadRequest, Forbidden, NotFound

MIN_VERSION, MAX_VERSION = (2, 1), (2, 79)


# --- versions ------------------------------------------------------------------------------
def _v21(req: ApiRequest) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": fmt(MAX_VERSION),
            "min_version": fmt(MIN_VERSION), "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": req.base_url() + "/v2.1/"}]}


def _v20(req: ApiRequest) -> dict[str, Any]:
    return {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": req.base_url() + "/v2/"}]}


async def versions(req: ApiRequest) -> Response:
    return respond({"versions": [_v20(req), _v21(req)]})


async def version(req: ApiRequest) -> Response:
    """The version document of /v2.1, or of /v2 (the legacy v2.0 the version list names;
    its API is v2.1's without microversions)."""
    legacy = req.http.url.path.rstrip("/").endswith("/v2")
    v = _v20(req) if legacy else _v21(req)
    v["links"].append({"rel": "describedby", "type": "text/html",
                       "href": "http://docs.openstack.org/"})
    v["media-types"] = [{"base": "application/json",
                         "type": "application/vnd.openstack.compute+json;version="
                         + ("2" if legacy else "2.1")}]
    return respond({"version": v})


# --- availability zones ------------------------------------------------------------------
# A host's zone is the one its aggregates make (the default zone when none does). As in
# Nova, a zone is available while one of its services is enabled; the list leaves out the
# internal zone of the control services, the detail (admins) shows it with every service.
async def _zones(req: ApiRequest, internal: bool) -> list[dict[str, Any]]:
    by_zone: dict[str, dict[str, Any]] = {}
    enabled: set[str] = set()
    for svc in await req.runtime.compute.hosts.services():
        if svc.zone == INTERNAL_AZ and not internal:
            continue
        zone = by_zone.setdefault(svc.zone, {})
        zone.setdefault(svc.host, {})[svc.binary] = {
            "available": svc.state == "up", "active": svc.status == "enabled",
            "updated_at": iso_micro(svc.updated_at)}
        if svc.status == "enabled":
            enabled.add(svc.zone)
    if set(by_zone) <= {INTERNAL_AZ}:  # no compute host yet: the default zone
        by_zone[DEFAULT_AZ] = {}
        enabled.add(DEFAULT_AZ)
    return [{"zoneName": name, "zoneState": {"available": name in enabled},
             "hosts": (hosts_ or None) if internal else None}
            for name, hosts_ in sorted(by_zone.items())]


async def zones(req: ApiRequest) -> Response:
    return respond({"availabilityZoneInfo": await _zones(req, internal=False)})


async def zones_detail(req: ApiRequest) -> Response:
    return respond({"availabilityZoneInfo": await _zones(req, internal=True)})


# --- limits and quotas -------------------------------------------------------------------
async def limits(req: ApiRequest) -> Response:
    project = req.ctx.project_id or ""
    wanted = one(req, "tenant_id")
    if wanted and wanted != project:
        if not is_admin(req):
            raise Forbidden("Only administrators may see another project's limits.")
        project = wanted
    quotas = req.runtime.compute.quotas
    lim = await quotas.limits(project)
    used = await quotas.usage(project)
    return respond({"limits": {"rate": [], "absolute": views.absolute_limits(req, lim,
                                                                             used)}})


def _project(req: ApiRequest) -> str:
    project = req.params["project_id"]
    if project != req.ctx.project_id and not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-quota-sets:show to be "
                        "performed for another project.")
    return project


async def quota_show(req: ApiRequest) -> Response:
    project = _project(req)
    lim = await req.runtime.compute.quotas.limits(project)
    return respond({"quota_set": views.quota_set(req, lim, project)})


async def quota_detail(req: ApiRequest) -> Response:
    project = _project(req)
    user = one(req, "user_id") or req.ctx.user_id
    details = await req.runtime.compute.quotas.details(project, user)
    return respond({"quota_set": views.quota_detail(req, details, project)})


async def quota_defaults(req: ApiRequest) -> Response:
    lim = await req.runtime.compute.quotas.class_limits(DEFAULT_CLASS)
    return respond({"quota_set": views.quota_set(req, lim, req.params["project_id"])})


async def quota_update(req: ApiRequest) -> Response:
    body = (await req.json(schemas.quota_update))["quota_set"]
    force = str(body.pop("force", False)).lower() in ("true", "1", "yes")
    body.pop("networks", None)
    values = {k: int(v) for k, v in body.items()}
    for name in values:
        if since(req, 2, 36) and name in ("floating_ips", "fixed_ips", "security_groups",
                                          "security_group_rules"):
            raise BadRequest(f"Invalid input: '{name}' is not settable from 2.36.")
    lim = await req.runtime.compute.quotas.update(req.params["project_id"], values, force)
    return respond({"quota_set": views.quota_set(req, lim, None)})


async def quota_delete(req: ApiRequest) -> Response:
    await req.runtime.compute.quotas.reset(req.params["project_id"])
    return Response(status_code=202)


async def quota_class(req: ApiRequest) -> Response:
    lim = await req.runtime.compute.quotas.class_limits(req.params["name"])
    return respond({"quota_class_set": views.quota_class_set(req, lim, req.params["name"])})


async def quota_class_update(req: ApiRequest) -> Response:
    name = req.params["name"]
    if len(name) > 255:
        raise BadRequest("Invalid input for field/attribute id: at most 255 characters.")
    body = (await req.json(schemas.quota_class_update))["quota_class_set"]
    allowed = set(views.quota_class_set(req, dict(DEFAULTS), None)) | {
        "server_groups", "server_group_members"}
    for key in body:
        if key not in allowed:
            raise BadRequest(f"Invalid input for field/attribute quota_class_set. "
                             f"Additional properties are not allowed ('{key}' was unexpected)")
    lim = await req.runtime.compute.quotas.update_class(
        name, {k: int(v) for k, v in body.items()})
    return respond({"quota_class_set": views.quota_class_set(req, lim, None)})


# --- services ------------------------------------------------------------------------------
async def services(req: ApiRequest) -> Response:
    out = await req.runtime.compute.hosts.services()
    host, binary = one(req, "host"), one(req, "binary")
    out = [s for s in out if (host is None or s.host == host) and
           (binary is None or s.binary == binary)]
    return respond({"services": [views.service(req, s) for s in out]})


async def service_update(req: ApiRequest) -> Response:
    hosts = req.runtime.compute.hosts
    ident = req.params["service_id"]
    if since(req, 2, 53):
        body = await req.json(schemas.service_update)
        status = body.get("status")
        if "disabled_reason" in body and status != "disabled":
            raise BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.")
        svc = await hosts.set_service(
            ident, disabled=None if status is None else status == "disabled",
            reason=body.get("disabled_reason"), forced_down=body.get("forced_down"))
        return respond({"service": views.service(req, svc)})
    body = await req.json(schemas.service_action)
    if ident not in ("enable", "disable", "disable-log-reason", "force-down"):
        raise NotFound(f"Unknown action {ident}.")
    if ident == "force-down":
        svc = await hosts.set_service(body["host"], forced_down=body.get("forced_down", True))
        return respond({"service": {"host": svc.host, "binary": svc.binary,
                                    "forced_down": svc.forced_down}})
    svc = await hosts.set_service(body["host"], disabled=ident != "enable",
                                  reason=body.get("disabled_reason"))
    out = {"host": svc.host, "binary": svc.binary, "status": svc.status}
    if ident == "disable-log-reason":
        out["disabled_reason"] = svc.disabled_reason or ""
    return respond({"service": out})


# --- hypervisors ---------------------------------------------------------------------------
async def _hypervisors(req: ApiRequest, full: bool, pattern: str | None = None,
                       with_servers: bool = False) -> list[dict[str, Any]]:
    compute = req.runtime.compute
    out = []
    for node in await compute.hosts.nodes():
        if pattern and not fnmatch.fnmatch(node.hypervisor_hostname, f"*{pattern}*"):
            continue
        used: dict[str, int] = {}
        if full:
            _rp, used = await req.runtime.placement.inventories.usages(node.uuid)
            used = dict(used)
            used["running_vms"] = len(await compute.work.instances(node.host))
        servers = None
        if with_servers:
            servers = [{"uuid": i.uuid, "name": i.name}
                       for i in await compute.work.instances(node.host)]
        out.append(views.hypervisor(req, node, compute.hosts.is_up(node), full=full,
                                    used=used, servers=servers))
    return out


async def _listed(req: ApiRequest, full: bool) -> Response:
    """From 2.53 ``hypervisor_hostname_pattern`` (no match: 404, as Nova) and
    ``with_servers``."""
    pattern = one(req, "hypervisor_hostname_pattern") if since(req, 2, 53) else None
    with_servers = bool(since(req, 2, 53) and bool_param(req, "with_servers"))
    found = await _hypervisors(req, full, pattern, with_servers)
    if pattern is not None and not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return respond({"hypervisors": found})


async def hypervisors(req: ApiRequest) -> Response:
    return await _listed(req, False)


async def hypervisors_detail(req: ApiRequest) -> Response:
    return await _listed(req, True)


async def hypervisor_show(req: ApiRequest) -> Response:
    node = await req.runtime.compute.hosts.node(req.params["hypervisor_id"])
    found = [h for h in await _hypervisors(req, True, with_servers=bool(
        since(req, 2, 53) and bool_param(req, "with_servers")))
             if str(h["id"]) == str(node.uuid if since(req, 2, 53) else node.id)]
    return respond({"hypervisor": found[0]})


def _before_253(req: ApiRequest) -> None:
    """/search and /servers: replaced by the query parameters at 2.53 (404 from then)."""
    if since(req, 2, 53):
        raise NotFound("The resource could not be found.")


async def hypervisor_search(req: ApiRequest) -> Response:
    _before_253(req)
    found = await _hypervisors(req, False, req.params["pattern"])
    if not found:
        raise NotFound(f"No hypervisor matching '{req.params['pattern']}' could be found.")
    return respond({"hypervisors": found})


async def hypervisor_servers(req: ApiRequest) -> Response:
    _before_253(req)
    found = await _hypervisors(req, False, req.params["pattern"], with_servers=True)
    if not found:
        raise NotFound(f"No hypervisor matching '{req.params['pattern']}' could be found.")
    return respond({"hypervisors": found})


async def hypervisor_statistics(req: ApiRequest) -> Response:
    stats = {k: 0 for k in ("count", "vcpus", "memory_mb", "local_gb", "vcpus_used",
                            "memory_mb_used", "local_gb_used", "free_ram_mb", "free_disk_gb",
                            "current_workload", "running_vms", "disk_available_least")}
    for h in await _hypervisors(req, True):
        stats["count"] += 1
        for key in stats:
            if key != "count":
                stats[key] += int(h.get(key, 0) or 0)
    return respond({"hypervisor_statistics": stats})


# --- simple tenant usage -------------------------------------------------------------------
def _period(req: ApiRequest) -> tuple[dt.datetime, dt.datetime]:
    now = utcnow()
    start_raw, end_raw = one(req, "start"), one(req, "end")
    start = parse_time(start_raw, "start") if start_raw else now - dt.timedelta(days=30)
    end = parse_time(end_raw, "end") if end_raw else now
    if start > end:
        raise BadRequest("Invalid start time. The start time cannot occur after the end "
                         "time.")
    return start, end


async def usage_list(req: ApiRequest) -> Response:
    if req.http.url.path.endswith("/"):  # a blank project id: no such route in Nova
        raise NotFound("The resource could not be found.")
    start, end = _period(req)
    detailed = bool(bool_param(req, "detailed"))
    usages = await req.runtime.compute.usage.report(start, end)
    return respond({"tenant_usages": [views.tenant_usage(u, detailed) for u in usages]})


async def usage_show(req: ApiRequest) -> Response:
    project = req.params["project_id"]
    if project != req.ctx.project_id and not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-simple-tenant-usage:show to "
                        "be performed.")
    start, end = _period(req)
    usages = await req.runtime.compute.usage.report(start, end, project)
    if not usages:
        return respond({"tenant_usage": {}})
    return respond({"tenant_usage": views.tenant_usage(usages[0], True)})

