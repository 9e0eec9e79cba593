"""Version documents, extensions, availability zones, limits, quota sets and services."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.microversions import fmt
from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import (
    MAX_VERSION,
    MIN_VERSION,
    accepted,
    body_of,
    bool_param,
    caller,
    iso,
    one,
    respond,
)
from onestack.core.volume.base import DEFAULT_AZ
from onestack.errors import BadRequest, Forbidden

UPDATED = "2016-02-08T12:20:21Z"


# --- versions --------------------------------------------------------------------------------
def _v3(req: ApiRequest) -> dict[str, Any]:
    return {"id": "v3.0", "status": "CURRENT", "version": fmt(MAX_VERSION),
            "min_version": fmt(MIN_VERSION), "updated": UPDATED,
            "links": [{"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"},
                      {"rel": "self", "href": req.base_url() + "/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


async def versions(req: ApiRequest) -> Response:
    return respond({"versions": [_v3(req)]}, 300)


async def version(req: ApiRequest) -> Response:
    return respond({"versions": [_v3(req)]})


# --- extensions ------------------------------------------------------------------------------
EXTENSIONS = [
    ("AdminActions", "os-admin-actions", "Enable admin actions."),
    ("AvailabilityZones", "os-availability-zone", "Describe Availability Zones."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("ExtendedSnapshotAttributes", "os-extended-snapshot-attributes",
     "Extended SnapshotAttributes support."),
    ("Quotas", "os-quota-sets", "Quota management support."),
    ("Services", "os-services", "Services support."),
    ("SnapshotActions", "os-snapshot-actions", "Enable snapshot manager actions."),
    ("TypesExtraSpecs", "os-types-extra-specs", "Type extra specs support."),
    ("TypesManage", "os-types-manage", "Types manage support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being "
     "used."),
    ("VolumeActions", "os-volume-actions", "Enable volume actions."),
    ("VolumeHostAttribute", "os-vol-host-attr", "Expose host as an attribute of a volume."),
    ("VolumeImageMetadata", "os-vol-image-meta", "Show image metadata associated with the "
     "volume."),
    ("VolumeMigStatusAttribute", "os-vol-mig-status-attr", "Expose migration_status as an "
     "attribute of a volume."),
    ("VolumeTenantAttribute", "os-vol-tenant-attr", "Expose the internal project_id as an "
     "attribute of a volume."),
    ("VolumeTypeAccess", "os-volume-type-access", "Volume type access support."),
]


async def extensions(req: ApiRequest) -> Response:
    return respond({"extensions": [
        {"name": name, "alias": alias, "description": desc, "updated": UPDATED,
         "links": [], "namespace": ""} for name, alias, desc in EXTENSIONS]})


# --- zones, limits, quotas -------------------------------------------------------------------
async def zones(req: ApiRequest) -> Response:
    return respond({"availabilityZoneInfo": [
        {"zoneName": DEFAULT_AZ, "zoneState": {"available": True}}]})


async def limits(req: ApiRequest) -> Response:
    project = req.ctx.project_id or ""
    quotas = await req.runtime.volume.quotas.show(project, with_usage=True)

    def q(key: str, field: str = "limit") -> int:
        return int(quotas.get(key, {}).get(field, 0))

    return respond({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": q("volumes"), "maxTotalSnapshots": q("snapshots"),
        "maxTotalVolumeGigabytes": q("gigabytes"), "maxTotalBackups": q("backups"),
        "maxTotalBackupGigabytes": q("backup_gigabytes"),
        "totalVolumesUsed": q("volumes", "in_use"), "totalSnapshotsUsed":
        q("snapshots", "in_use"), "totalGigabytesUsed": q("gigabytes", "in_use"),
        "totalBackupsUsed": q("backups", "in_use"),
        "totalBackupGigabytesUsed": q("backup_gigabytes", "in_use")}}})


def _quota_target(req: ApiRequest) -> str:
    target = req.params["target_project"]
    who = caller(req)
    if target != who.project_id and not who.is_admin:
        raise Forbidden("Policy doesn't allow volume_extension:quotas:show to be performed "
                        "for another project.")
    return target


async def quota_show(req: ApiRequest) -> Response:
    target = _quota_target(req)
    usage = bool(bool_param(req, "usage"))
    quotas = await req.runtime.volume.quotas.show(target, with_usage=usage)
    return respond({"quota_set": {"id": target, **quotas}})


async def quota_defaults(req: ApiRequest) -> Response:
    target = req.params["target_project"]
    quotas = await req.runtime.volume.quotas.show("", with_usage=False)
    return respond({"quota_set": {"id": target, **quotas}})


async def quota_update(req: ApiRequest) -> Response:
    target = req.params["target_project"]
    body = await body_of(req, "quota_set")
    body.pop("tenant_id", None)
    body.pop("id", None)
    quotas = await req.runtime.volume.quotas.update(target, body)
    return respond({"quota_set": quotas})


async def quota_delete(req: ApiRequest) -> Response:
    await req.runtime.volume.quotas.reset(req.params["target_project"])
    return Response(status_code=200)


# --- scheduler stats -------------------------------------------------------------------------
async def pools(req: ApiRequest) -> Response:
    """scheduler-stats/get_pools (admin): each backend's pool, with ``detail`` its
    capabilities and capacity."""
    rows = await req.runtime.volume.pools()
    if not bool_param(req, "detail"):
        rows = [{"name": r["name"]} for r in rows]
    return respond({"pools": rows})


# --- services --------------------------------------------------------------------------------
async def services(req: ApiRequest) -> Response:
    rows = await req.runtime.volume.services(one(req, "binary"), one(req, "host"))
    for row in rows:
        row["updated_at"] = iso(row["updated_at"])
    return respond({"services": rows})


async def service_update(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict):
        body = {}
    action = req.params["action"]
    if action in ("freeze", "thaw"):
        return await _freeze_or_thaw(req, body.get("host"))
    if action not in ("enable", "disable", "disable-log-reason"):
        return accepted()
    reason = body.get("disabled_reason")
    if action == "disable-log-reason" and not (
            isinstance(reason, str) and reason.strip() and len(reason) <= 255):
        raise BadRequest("Disabled reason contains invalid characters or is too long")
    out = await req.runtime.volume.set_service(
        body.get("host"), body.get("binary"), action != "enable",
        body.get("disabled_reason") if action == "disable-log-reason" else None)
    if action == "disable":  # Cinder's answer names a reason only where one can be given
        out.pop("disabled_reason", None)
    return respond(out)


async def _freeze_or_thaw(req: ApiRequest, host: Any) -> Response:
    """os-services/freeze and /thaw: replication's freeze of a backend. Onestack has no
    replication, so a known volume host is a no-op 200; any other host is 400, as Cinder's
    'No service found'."""
    rows = await req.runtime.volume.services("cinder-volume") if isinstance(host, str) else []
    if not any(host in (r["host"], r["host"].split("@", 1)[0]) for r in rows):
        raise BadRequest(f"Invalid input received: No service found with host={host}.")
    return Response(status_code=200)


async def hosts(req: ApiRequest) -> Response:
    """os-hosts: the hosts that run volume services (admin)."""
    rows = await req.runtime.volume.services()
    return respond({"hosts": [
        {"host_name": r["host"], "service": r["binary"], "zone": r["zone"],
         "service-status": "available" if r["status"] == "enabled" else "unavailable",
         "service-state": r["status"], "last-update": iso(r["updated_at"])}
        for r in rows]})
