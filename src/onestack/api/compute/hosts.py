"""``os-hosts`` (deprecated by Nova at 2.43: served up to 2.42): the hosts of the cloud's
services with their zones, one compute host's resources (total, used now, used by its
instances, per project), and enabling or disabling a host's compute service; and a
hypervisor's uptime (``os-hypervisors/{id}/uptime``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import one, respond, since
from onestack.db.models.base import utcnow
from onestack.db.models.compute import ComputeNode
from onestack.errors import NotFound, NotImplementedYet

UPDATE = {"type": "object", "properties": {
    "status": {"type": "string", "enum": ["enable", "disable", "Enable", "Disable",
                                          "ENABLE", "DISABLE"]},
    "maintenance_mode": {"type": "string", "enum": ["enable", "disable", "Enable",
                                                    "Disable", "ENABLE", "DISABLE"]}},
    "minProperties": 1, "additionalProperties": False}


def _served(req: ApiRequest) -> None:
    if since(req, 2, 43):
        raise NotFound("The resource could not be found.")


async def _node(req: ApiRequest, host: str) -> ComputeNode:
    for node in await req.runtime.compute.hosts.nodes():
        if node.host == host:
            return node
    raise NotFound(f"Compute host {host} could not be found.")


async def listing(req: ApiRequest) -> Response:
    _served(req)
    zone = one(req, "zone")
    out = [{"host_name": s.host, "service": s.binary.removeprefix("nova-"), "zone": s.zone}
           for s in await req.runtime.compute.hosts.services()
           if not zone or s.zone == zone]  # a blank zone lists every host, as Nova
    return respond({"hosts": out})


def _resource(host: str, project: str, cpu: int, memory_mb: int, disk_gb: int
              ) -> dict[str, Any]:
    return {"resource": {"host": host, "project": project, "cpu": cpu,
                         "memory_mb": memory_mb, "disk_gb": disk_gb}}


async def show(req: ApiRequest) -> Response:
    _served(req)
    node = await _node(req, req.params["host_name"])
    _rp, used = await req.runtime.placement.inventories.usages(node.uuid)
    host = node.host
    out = [_resource(host, "(total)", node.vcpus, node.memory_mb, node.local_gb),
           _resource(host, "(used_now)", used.get("VCPU", 0), used.get("MEMORY_MB", 0),
                     used.get("DISK_GB", 0))]
    per_project: dict[str, list[int]] = {}
    for inst in await req.runtime.compute.work.instances(host):
        f = inst.flavor
        sums = per_project.setdefault(inst.project_id, [0, 0, 0])
        sums[0] += int(f.get("vcpus", 0))
        sums[1] += int(f.get("memory_mb", 0))
        sums[2] += int(f.get("root_gb", 0)) + int(f.get("ephemeral_gb", 0))
    total = [sum(v[i] for v in per_project.values()) for i in range(3)]
    out.append(_resource(host, "(used_max)", *total))
    out.extend(_resource(host, project, *sums) for project, sums in sorted(per_project.items()))
    return respond({"host": out})


async def update(req: ApiRequest) -> Response:
    _served(req)
    body = await req.json(UPDATE)
    node = await _node(req, req.params["host_name"])
    if "maintenance_mode" in body:
        raise NotImplementedYet("Virt driver does not implement host maintenance mode.")
    enable = body["status"].lower() == "enable"
    await req.runtime.compute.hosts.set_service(node.host, disabled=not enable)
    return respond({"host": node.host, "status": "enabled" if enable else "disabled"})


def uptime_text(since_: dt.datetime, now: dt.datetime) -> str:
    """``uptime``'s line, as Nova's libvirt driver returns it: how long the host's compute
    service has been registered (Onestack asks no host for its boot time)."""
    up = int((now - since_).total_seconds())
    days, rest = divmod(max(up, 0), 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    return (f" {now:%H:%M:%S} up {days} days, {hours:2d}:{minutes:02d},  0 users,  "
            "load average: 0.00, 0.00, 0.00")


async def hypervisor_uptime(req: ApiRequest) -> Response:
    ident = req.params["hypervisor_id"]
    if not since(req, 2, 53) and not ident.isdigit():  # Nova's _validate_id: 404
        raise NotFound(f"Hypervisor with ID '{ident}' could not be found.")
    compute = req.runtime.compute
    node = await compute.hosts.node(ident)
    return respond({"hypervisor": {
        "id": node.uuid if since(req, 2, 53) else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if compute.hosts.is_up(node) else "down",
        "status": "disabled" if node.disabled else "enabled",
        "uptime": uptime_text(node.created_at, utcnow())}})


async def power_action(req: ApiRequest) -> Response:
    """GET /os-hosts/{host}/reboot|shutdown|startup: Nova's libvirt driver implements none
    (501); Onestack neither powers hosts off nor on."""
    _served(req)
    await _node(req, req.params["host_name"])
    raise NotImplementedYet("Virt driver does not implement host power management.")
