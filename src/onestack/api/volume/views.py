"""Response shapes: volumes, snapshots, types, attachments (with their microversion
branches) and Cinder's fault body."""

from __future__ import annotations

from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import is_admin, iso, links, since
from onestack.core.volume.base import SnapshotRecord, VolumeRecord
from onestack.core.volume.types import TypeRecord
from onestack.db.models.volume import VolumeAttachment


def _metadata(rec: VolumeRecord) -> dict[str, str]:
    meta = dict(rec.metadata)
    if rec.volume.readonly is not None:
        meta["readonly"] = str(bool(rec.volume.readonly))
    return meta


def _attachments(rec: VolumeRecord) -> list[dict[str, Any]]:
    return [{"server_id": a.instance_uuid, "attachment_id": a.id,
             "attached_at": iso(a.attached_at), "host_name": a.attached_host,
             "volume_id": a.volume_id, "device": a.mountpoint, "id": a.volume_id}
            for a in rec.attachments if a.attach_status == "attached"]


def volume(req: ApiRequest, rec: VolumeRecord, *, extended: bool = True) -> dict[str, Any]:
    """A volume; ``extended`` adds the attributes show and detail carry (not create or
    update)."""
    v = rec.volume
    admin = is_admin(req)
    out: dict[str, Any] = {
        "id": v.id, "name": v.name, "description": v.description, "size": v.size,
        "status": v.status, "availability_zone": v.availability_zone,
        "created_at": iso(v.created_at), "updated_at": iso(v.updated_at),
        "attachments": _attachments(rec), "links": links(req, "volumes", v.id),
        "metadata": _metadata(rec), "bootable": "true" if v.bootable else "false",
        "encrypted": bool(v.encryption_key_id), "replication_status": None,
        "consistencygroup_id": None,
        "multiattach": bool(v.multiattach), "source_volid": v.source_volid,
        "snapshot_id": v.snapshot_id, "user_id": v.user_id, "volume_type": rec.type_name,
        "migration_status": None,
    }
    if since(req, 3, 13):
        out["group_id"] = None
    if since(req, 3, 21) and admin:
        out["provider_id"] = None
    if since(req, 3, 48):
        out["shared_targets"] = False
        out["service_uuid"] = None
    if since(req, 3, 61) and admin:
        out["cluster_name"] = None
    if since(req, 3, 63):
        out["volume_type_id"] = v.type_id
    if since(req, 3, 64):
        out["encryption_key_id"] = v.encryption_key_id
    if since(req, 3, 65):
        out["consumes_quota"] = True
    if extended:
        out["os-vol-tenant-attr:tenant_id"] = v.project_id
        if v.image_metadata:
            out["volume_image_metadata"] = {k: str(x) for k, x in v.image_metadata.items()}
        if admin:
            out["os-vol-host-attr:host"] = v.host
            out["os-vol-mig-status-attr:migstat"] = None
            out["os-vol-mig-status-attr:name_id"] = None
    return out


def volume_summary(req: ApiRequest, rec: VolumeRecord) -> dict[str, Any]:
    return {"id": rec.volume.id, "name": rec.volume.name,
            "links": links(req, "volumes", rec.volume.id)}


def snapshot(req: ApiRequest, rec: SnapshotRecord, *, extended: bool = True
             ) -> dict[str, Any]:
    x = rec.snapshot
    out: dict[str, Any] = {
        "id": x.id, "name": x.name, "description": x.description, "size": x.size,
        "status": x.status, "volume_id": x.volume_id, "created_at": iso(x.created_at),
        "updated_at": iso(x.updated_at), "metadata": dict(rec.metadata),
    }
    if since(req, 3, 14):
        out["group_snapshot_id"] = None
    if since(req, 3, 41):
        out["user_id"] = x.user_id
    if since(req, 3, 65):
        out["consumes_quota"] = True
    if extended:
        out["os-extended-snapshot-attributes:progress"] = x.progress
        out["os-extended-snapshot-attributes:project_id"] = x.project_id
    return out


def volume_type(req: ApiRequest, rec: TypeRecord, answer: str = "show") -> dict[str, Any]:
    """A volume type as show and list give it; Cinder's create answer has no qos_specs_id,
    its update answer neither that nor the type-access extension's is_public."""
    t = rec.type
    out: dict[str, Any] = {"id": t.id, "name": t.name, "description": t.description,
                           "is_public": t.is_public}
    if answer != "update":
        out["os-volume-type-access:is_public"] = t.is_public
    if answer == "show":
        out["qos_specs_id"] = rec.qos_specs_id
    if is_admin(req):
        out["extra_specs"] = dict(rec.extra_specs)
    return out


def attachment(req: ApiRequest, att: VolumeAttachment, *, detail: bool = True
               ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": att.id, "status": att.attach_status,
                           "instance": att.instance_uuid, "volume_id": att.volume_id}
    if detail:
        out.update({"attached_at": iso(att.attached_at), "detached_at": iso(att.detached_at),
                    "attach_mode": att.attach_mode,
                    "connection_info": connection_info(req, att.connection_info or {})})
    return out


# What a connection's ``data`` may show to a project: how to attach, never where the bytes
# live on a host (file paths, pools, monitors, keys). The hypervisor side reads the full
# record from the database, not from this API; admins see it all.
PUBLIC_CONNECTION_DATA = ("volume_id", "access_mode", "format", "encrypted", "discard",
                          "qos_specs", "cacheable", "multiattach")


def connection_info(req: ApiRequest, info: dict[str, Any]) -> dict[str, Any]:
    if not info or is_admin(req):
        return info
    data = info.get("data") or {}
    return {**{k: v for k, v in info.items() if k != "data"},
            "data": {k: v for k, v in data.items() if k in PUBLIC_CONNECTION_DATA}}
