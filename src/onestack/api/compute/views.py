"""Response shapes of flavors, key pairs, quotas, limits, services, hypervisors, usage,
server groups and instance actions, with their microversion branches."""

from __future__ import annotations

import json
from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import is_admin, iso, iso_micro, links, since
from onestack.core.compute.events import ActionRecord
from onestack.core.compute.flavors import FlavorRecord
from onestack.core.compute.groups import GroupRecord
from onestack.core.compute.hosts import ServiceView
from onestack.core.compute.quotas import (
    DEFAULTS,
    FILE_RESOURCES,
    NETWORK_RESOURCES,
    Detail,
)
from onestack.core.compute.usage import TenantUsage
from onestack.db.models.compute import ComputeNode, InstanceAction, KeyPair


# --- flavors -----------------------------------------------------------------------------
def flavor_summary(req: ApiRequest, rec: FlavorRecord) -> dict[str, Any]:
    f = rec.flavor
    out: dict[str, Any] = {"id": f.id, "name": f.name, "links": links(req, "flavors", f.id)}
    if since(req, 2, 55):
        out["description"] = f.description
    return out


def flavor(req: ApiRequest, rec: FlavorRecord) -> dict[str, Any]:
    f = rec.flavor
    out = flavor_summary(req, rec)
    out.update({"ram": f.memory_mb, "vcpus": f.vcpus, "disk": f.root_gb,
                "swap": f.swap or "", "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
                "OS-FLV-DISABLED:disabled": f.disabled, "rxtx_factor": f.rxtx_factor,
                "os-flavor-access:is_public": f.is_public})
    if since(req, 2, 61):
        out["extra_specs"] = dict(rec.extra_specs)
    if since(req, 2, 75) and out["swap"] == "":
        out["swap"] = 0
    return out


def flavor_access(flavor_id: str, projects: list[str]) -> dict[str, Any]:
    return {"flavor_access": [{"flavor_id": flavor_id, "tenant_id": p} for p in projects]}


# --- key pairs ---------------------------------------------------------------------------
def keypair(req: ApiRequest, kp: KeyPair, *, full: bool = False,
            private_key: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": kp.name, "public_key": kp.public_key,
                           "fingerprint": kp.fingerprint}
    if since(req, 2, 2):
        out["type"] = kp.type
    if full:
        out.update({"user_id": kp.user_id, "created_at": iso_micro(kp.created_at),
                    "updated_at": None, "deleted_at": None, "deleted": False, "id": kp.id})
    return out


def keypair_created(req: ApiRequest, kp: KeyPair, private_key: str | None) -> dict[str, Any]:
    out = keypair(req, kp)
    out["user_id"] = kp.user_id
    if private_key is not None:
        out["private_key"] = private_key
    return out


# --- quotas and limits -------------------------------------------------------------------
def _shown(req: ApiRequest) -> list[str]:
    hidden: set[str] = set()
    if since(req, 2, 36):
        hidden.update(NETWORK_RESOURCES)
    if since(req, 2, 57):
        hidden.update(FILE_RESOURCES)
    return [r for r in DEFAULTS if r not in hidden]


def quota_set(req: ApiRequest, limits: dict[str, int], ident: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {r: limits[r] for r in _shown(req)}
    if ident is not None:
        out["id"] = ident
    return out


def quota_class_set(req: ApiRequest, limits: dict[str, int], ident: str | None
                    ) -> dict[str, Any]:
    """A quota class: the network resources until 2.50, the server group ones from 2.50,
    the file injection ones until 2.57."""
    hidden = set(NETWORK_RESOURCES) if since(req, 2, 50) else {
        "server_groups", "server_group_members"}
    if since(req, 2, 57):
        hidden.update(FILE_RESOURCES)
    out: dict[str, Any] = {r: limits[r] for r in DEFAULTS if r not in hidden}
    if ident is not None:
        out["id"] = ident
    return out


def quota_detail(req: ApiRequest, details: dict[str, Detail], ident: str) -> dict[str, Any]:
    out: dict[str, Any] = {r: {"limit": details[r].limit, "in_use": details[r].in_use,
                               "reserved": 0} for r in _shown(req)}
    out["id"] = ident
    return out


def absolute_limits(req: ApiRequest, limits: dict[str, int], used: dict[str, int]
                    ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "maxTotalRAMSize": limits["ram"], "maxTotalCores": limits["cores"],
        "maxTotalInstances": limits["instances"], "maxServerMeta": limits["metadata_items"],
        "maxImageMeta": limits["metadata_items"], "maxTotalKeypairs": limits["key_pairs"],
        "maxServerGroups": limits["server_groups"],
        "maxServerGroupMembers": limits["server_group_members"],
        "totalRAMUsed": used["ram"], "totalCoresUsed": used["cores"],
        "totalInstancesUsed": used["instances"],
        "totalServerGroupsUsed": used["server_groups"],
    }
    if not since(req, 2, 36):
        out.update({"maxTotalFloatingIps": limits["floating_ips"],
                    "maxSecurityGroups": limits["security_groups"],
                    "maxSecurityGroupRules": limits["security_group_rules"],
                    "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0})
    if not since(req, 2, 57):
        out.update({"maxPersonality": limits["injected_files"],
                    "maxPersonalitySize": limits["injected_file_content_bytes"]})
    if since(req, 2, 39):
        out.pop("maxImageMeta")
    return out


# --- services and hypervisors ------------------------------------------------------------
def service(req: ApiRequest, svc: ServiceView) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": svc.uuid if since(req, 2, 53) else svc.id, "binary": svc.binary,
        "host": svc.host, "zone": svc.zone, "status": svc.status, "state": svc.state,
        "updated_at": iso_micro(svc.updated_at), "disabled_reason": svc.disabled_reason}
    if since(req, 2, 11):
        out["forced_down"] = svc.forced_down
    return out


def hypervisor(req: ApiRequest, node: ComputeNode, up: bool, *, full: bool,
               used: dict[str, int] | None = None, servers: list[dict[str, str]] | None = None
               ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": node.uuid if since(req, 2, 53) else node.id,
        "hypervisor_hostname": node.hypervisor_hostname,
        "state": "up" if up else "down", "status": "disabled" if node.disabled else "enabled"}
    if servers is not None:
        out["servers"] = servers
    if not full:
        return out
    svc_id: Any = node.service_uuid if since(req, 2, 53) else 100 + node.id
    out.update({"host_ip": node.host_ip, "hypervisor_type": node.hypervisor_type,
                "hypervisor_version": node.hypervisor_version,
                "service": {"host": node.host, "id": svc_id, "disabled_reason":
                            node.disabled_reason}})
    if since(req, 2, 88):
        out["uptime"] = None
        return out
    u = used or {}
    ram, vcpus, disk = u.get("MEMORY_MB", 0), u.get("VCPU", 0), u.get("DISK_GB", 0)
    out.update({
        "vcpus": node.vcpus, "memory_mb": node.memory_mb, "local_gb": node.local_gb,
        "vcpus_used": vcpus, "memory_mb_used": ram, "local_gb_used": disk,
        "free_ram_mb": node.memory_mb - ram, "free_disk_gb": node.local_gb - disk,
        "current_workload": 0, "running_vms": u.get("running_vms", 0),
        "disk_available_least": node.local_gb - disk,
        "cpu_info": dict(node.cpu_info) if since(req, 2, 28) else json.dumps(node.cpu_info)})
    return out


# --- usage -------------------------------------------------------------------------------
def tenant_usage(usage: TenantUsage, detailed: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"tenant_id": usage.project_id, "start": iso_micro(usage.start),
                           "stop": iso_micro(usage.stop), **usage.totals()}
    if detailed:
        out["server_usages"] = [{
            "instance_id": u.instance.uuid, "name": u.instance.name,
            "tenant_id": u.instance.project_id, "flavor": u.instance.flavor.get("name", ""),
            "hours": u.hours, "vcpus": u.instance.vcpus, "memory_mb": u.instance.memory_mb,
            "local_gb": u.local_gb, "started_at": iso_micro(u.started_at),
            "ended_at": iso_micro(u.ended_at), "state": u.state,
            "uptime": int(u.hours * 3600)} for u in usage.servers]
    return out


# --- server groups and instance actions --------------------------------------------------
def server_group(req: ApiRequest, rec: GroupRecord) -> dict[str, Any]:
    g = rec.group
    out: dict[str, Any] = {"id": g.uuid, "name": g.name, "members": list(rec.members),
                           "metadata": {}}
    if since(req, 2, 64):
        out.pop("metadata")
        out["policy"] = g.policy
        out["rules"] = dict(g.rules)
    else:
        out["policies"] = [g.policy]
    if since(req, 2, 13):
        out["project_id"] = g.project_id
        out["user_id"] = g.user_id
    return out


def instance_action(req: ApiRequest, a: InstanceAction) -> dict[str, Any]:
    out: dict[str, Any] = {"action": a.action, "instance_uuid": a.instance_uuid,
                           "request_id": a.request_id, "user_id": a.user_id,
                           "project_id": a.project_id, "start_time": iso_micro(a.start_time),
                           "message": a.message}
    if since(req, 2, 58):
        out["updated_at"] = iso_micro(a.updated_at or a.start_time)
    return out


def instance_action_detail(req: ApiRequest, rec: ActionRecord) -> dict[str, Any]:
    out = instance_action(req, rec.action)
    admin = is_admin(req)
    events = []
    for e in rec.events:
        event: dict[str, Any] = {"event": e.event, "start_time": iso_micro(e.start_time),
                                 "finish_time": iso_micro(e.finish_time), "result": e.result}
        if admin:
            event["traceback"] = e.traceback
            if since(req, 2, 62):
                event["host"] = e.host or ""
        if since(req, 2, 62):
            event["hostId"] = ""
        events.append(event)
    if admin or since(req, 2, 51):
        out["events"] = events
    return out


def server_time(t: Any) -> str | None:
    return iso(t)
