"""Servers as Nova renders them, microversion by microversion (2.1 to 2.79)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import API, is_admin, iso, iso_micro, links, since
from onestack.core.compute import states
from onestack.core.compute.servers import ServerRecord
from onestack.db.models.compute import Instance

PROGRESS_STATUSES = ("ACTIVE", "BUILD", "REBUILD", "RESIZE", "VERIFY_RESIZE", "MIGRATING")


def host_id(inst: Instance) -> str:
    if not inst.host:
        return ""
    return hashlib.sha224((inst.project_id + inst.host).encode()).hexdigest()


def instance_name(inst: Instance) -> str:
    return f"instance-{inst.uuid[:8]}"


def summary(req: ApiRequest, inst: Instance) -> dict[str, Any]:
    return {"id": inst.uuid, "name": inst.name, "links": links(req, "servers", inst.uuid)}


def addresses(rec: ServerRecord, extended: bool) -> dict[str, list[dict[str, Any]]]:
    """By network name; ``extended`` adds OS-EXT-IPS:type and the MAC (show, list detail)."""
    if extended:
        return rec.addresses
    return {net: [{"version": a["version"], "addr": a["addr"]} for a in items]
            for net, items in rec.addresses.items()}


class ServerView:
    """Full server bodies for one request: what depends on the request alone (microversion,
    admin, link prefixes) is worked out once, then each server of a page costs its fields."""

    def __init__(self, req: ApiRequest) -> None:
        v = req_version(req)
        self.admin = is_admin(req)
        base = req.base_url()
        self.self_href, self.bookmark_href = f"{base}{API}/servers/", f"{base}/servers/"
        self.flavor_href, self.image_href = f"{base}/flavors/", f"{base}/images/"
        self.v2_3, self.v2_9, self.v2_16 = v >= (2, 3), v >= (2, 9), v >= (2, 16)
        self.v2_19, self.v2_26, self.v2_47 = v >= (2, 19), v >= (2, 26), v >= (2, 47)
        self.v2_63, self.v2_71, self.v2_73 = v >= (2, 63), v >= (2, 71), v >= (2, 73)
        self._host_ids: dict[tuple[str, str], str] = {}

    def host_id(self, inst: Instance) -> str:
        if not inst.host:
            return ""
        key = (inst.project_id, inst.host)
        found = self._host_ids.get(key)
        if found is None:
            found = self._host_ids[key] = host_id(inst)
        return found

    def flavor(self, inst: Instance) -> dict[str, Any]:
        if self.v2_47:
            f = inst.flavor
            out = {"vcpus": f["vcpus"], "ram": f["memory_mb"], "disk": f["root_gb"],
                   "ephemeral": f["ephemeral_gb"], "swap": f["swap"],
                   "original_name": f["name"]}
            if self.admin:
                out["extra_specs"] = dict(f.get("extra_specs", {}))
            return out
        return {"id": inst.flavor_id, "links": [
            {"rel": "bookmark", "href": self.flavor_href + inst.flavor_id}]}

    def image(self, inst: Instance) -> dict[str, Any] | str:
        ref = inst.image_ref
        if not ref:
            return ""
        return {"id": ref, "links": [{"rel": "bookmark", "href": self.image_href + ref}]}

    def base(self, rec: ServerRecord, extended: bool = False) -> dict[str, Any]:
        """The fields every full server body has (update and rebuild before 2.75 stop
        here)."""
        inst = rec.instance
        uuid = inst.uuid
        status = states.status(inst.vm_state, inst.task_state)
        body: dict[str, Any] = {
            "id": uuid, "name": inst.name, "status": status, "tenant_id": inst.project_id,
            "user_id": inst.user_id, "metadata": dict(inst.metadata_),
            "hostId": self.host_id(inst), "image": self.image(inst),
            "flavor": self.flavor(inst), "created": iso(inst.created_at),
            "updated": iso(inst.updated_at), "addresses": addresses(rec, extended),
            "accessIPv4": inst.access_ip_v4 or "", "accessIPv6": inst.access_ip_v6 or "",
            "links": [{"rel": "self", "href": self.self_href + uuid},
                      {"rel": "bookmark", "href": self.bookmark_href + uuid}],
            "OS-DCF:diskConfig": inst.disk_config,
        }
        if status in PROGRESS_STATUSES:
            body["progress"] = inst.progress if status != "BUILD" else 0
        if inst.fault and status in ("ERROR", "DELETED"):
            fault = dict(inst.fault)
            if not self.admin:
                fault.pop("details", None)
            body["fault"] = fault
        if self.v2_9:
            body["locked"] = inst.locked
        if self.v2_19:
            body["description"] = inst.description
        if self.v2_26:
            body["tags"] = list(rec.tags)
        if self.v2_73:
            body["locked_reason"] = inst.locked_reason
        return body

    def detail(self, rec: ServerRecord, *, show: bool = False) -> dict[str, Any]:
        inst = rec.instance
        body = self.base(rec, extended=True)
        body["key_name"] = inst.key_name
        body["OS-SRV-USG:launched_at"] = iso_micro(inst.launched_at)
        body["OS-SRV-USG:terminated_at"] = iso_micro(inst.terminated_at)
        body["OS-EXT-AZ:availability_zone"] = inst.availability_zone or ""
        body["OS-EXT-STS:task_state"] = inst.task_state
        body["OS-EXT-STS:vm_state"] = inst.vm_state
        body["OS-EXT-STS:power_state"] = inst.power_state
        body["os-extended-volumes:volumes_attached"] = [
            {"id": v, "delete_on_termination": d} if self.v2_3 else {"id": v}
            for v, d in rec.volumes]
        body["config_drive"] = inst.config_drive
        if rec.security_groups:
            body["security_groups"] = [{"name": n} for n in rec.security_groups]
        if self.admin:
            body["OS-EXT-SRV-ATTR:host"] = inst.host
            body["OS-EXT-SRV-ATTR:instance_name"] = instance_name(inst)
            body["OS-EXT-SRV-ATTR:hypervisor_hostname"] = inst.node
            if self.v2_3:
                body.update({
                    "OS-EXT-SRV-ATTR:reservation_id": inst.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": inst.launch_index,
                    "OS-EXT-SRV-ATTR:kernel_id": "", "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:hostname": inst.hostname,
                    "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
                    "OS-EXT-SRV-ATTR:user_data": inst.user_data,
                })
            if self.v2_16:
                body["host_status"] = rec.host_status
        if self.v2_63:
            body["trusted_image_certificates"] = None
        if show and self.v2_71:
            body["server_groups"] = list(rec.groups)
        return body


def _base(req: ApiRequest, rec: ServerRecord, extended: bool = False) -> dict[str, Any]:
    return ServerView(req).base(rec, extended)


def detail(req: ApiRequest, rec: ServerRecord, *, show: bool = False) -> dict[str, Any]:
    return ServerView(req).detail(rec, show=show)


def updated(req: ApiRequest, rec: ServerRecord) -> dict[str, Any]:
    """The answer to an update (PUT): the full show shape from 2.75."""
    if since(req, 2, 75):
        return detail(req, rec, show=True)
    body = _base(req, rec)
    if since(req, 2, 71):
        body["server_groups"] = list(rec.groups)
    return body


def rebuilt(req: ApiRequest, rec: ServerRecord, admin_pass: str | None) -> dict[str, Any]:
    inst = rec.instance
    if since(req, 2, 75):
        body = detail(req, rec, show=True)
        body.pop("OS-EXT-SRV-ATTR:user_data", None)
        body["user_data"] = inst.user_data
    else:
        body = _base(req, rec)
        if since(req, 2, 54):
            body["key_name"] = inst.key_name
        if since(req, 2, 57):
            body["user_data"] = inst.user_data
        if since(req, 2, 71):
            body["server_groups"] = list(rec.groups)
    if admin_pass is not None:
        body["adminPass"] = admin_pass
    return body


def decode_user_data(text: str | None) -> str | None:
    if text is None:
        return None
    return base64.b64decode(text).decode("utf-8", "replace")
