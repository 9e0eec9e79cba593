"""Nova's operator APIs: the instance usage audit log (``os-instance_usage_audit_log``),
server external events (``os-server-external-events``) and server diagnostics, admin only.

Onestack runs no periodic usage audit (Nova's ``instance_usage_audit`` is off by default
too), so every compute host is listed as not run for the period, as Nova shows it then.
External events are checked and answered per event as Nova does (200 for a server on a
host, 404 unknown, 422 not on a host, 400 volume-extended without a tag; 207 when mixed,
404 when none is accepted); Onestack's own agents need none of them, so nothing else
follows from an accepted event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import caller, respond, since
from onestack.db.models.base import utcnow
from onestack.errors import BadRequest, Conflict, NotFound


# --- instance usage audit log --------------------------------------------------------------
def audit_period(before: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Nova's last completed audit period (unit: month) before ``before``."""
    end = dt.datetime(before.year, before.month, 1)
    begin = dt.datetime(end.year - 1, 12, 1) if end.month == 1 else \
        dt.datetime(end.year, end.month - 1, 1)
    return begin, end


async def _audit(req: ApiRequest, before: dt.datetime) -> dict[str, Any]:
    begin, end = audit_period(before)
    hosts = sorted({s.host for s in await req.runtime.compute.hosts.services()
                    if s.binary == "nova-compute"})
    done = "ALL" if not hosts else f"0 of {len(hosts)}"
    return {"period_beginning": str(begin), "period_ending": str(end),
            "num_hosts": len(hosts), "num_hosts_done": 0, "num_hosts_running": 0,
            "num_hosts_not_run": len(hosts), "hosts_not_run": hosts, "total_instances": 0,
            "total_errors": 0, "overall_status": f"{done} hosts done. 0 errors.", "log": {}}


async def audit_logs(req: ApiRequest) -> Response:
    return respond({"instance_usage_audit_logs": await _audit(req, utcnow())})


async def audit_log(req: ApiRequest) -> Response:
    raw = req.params["before_timestamp"]
    fmt = "%Y-%m-%d %H:%M:%S.%f" if "." in raw else "%Y-%m-%d %H:%M:%S"
    try:
        before = dt.datetime.strptime(raw, fmt)
    except ValueError as exc:
        raise BadRequest(f"Invalid timestamp for date {raw}") from exc
    return respond({"instance_usage_audit_log": await _audit(req, before)})


# --- server external events ----------------------------------------------------------------
_NAMES = ["network-changed", "network-vif-plugged", "network-vif-unplugged",
          "network-vif-deleted"]


def events_schema(req: ApiRequest) -> dict[str, Any]:
    names = list(_NAMES)
    if since(req, 2, 51):
        names.append("volume-extended")
    if since(req, 2, 76):
        names.append("power-update")
    event = {"type": "object", "properties": {
        "server_uuid": {"type": "string", "format": "uuid"},
        "name": {"type": "string", "enum": names},
        "status": {"type": "string", "enum": ["failed", "completed", "in-progress"]},
        "tag": {"type": "string", "maxLength": 255}},
        "required": ["server_uuid", "name"], "additionalProperties": False}
    return {"type": "object", "properties": {"events": {
        "type": "array", "minItems": 1, "items": event}},
        "required": ["events"], "additionalProperties": False}


async def external_events(req: ApiRequest) -> Response:
    events = (await req.json(events_schema(req)))["events"]
    known = await req.runtime.compute.work.known(sorted({e["server_uuid"] for e in events}))
    status, accepted = 200, 0
    for event in events:
        inst = known.get(event["server_uuid"])
        if inst is None or inst.deleted:
            event.update(status="failed", code=404)
        elif event["name"] == "volume-extended" and "tag" not in event:
            event.update(status="failed", code=400)
        elif inst.host:
            event.update(status="completed", code=200)
            accepted += 1
            continue
        else:
            event.update(status="failed", code=422)
        status = 207
    if not accepted:
        raise NotFound("No instances found for any event")
    return respond({"events": events}, status)


# --- server diagnostics --------------------------------------------------------------------
_POWER = {1: "running", 3: "paused", 4: "shutdown", 6: "crashed", 7: "suspended"}
_NIC_COUNTERS = ("rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate", "tx_octets",
                 "tx_errors", "tx_drop", "tx_packets", "tx_rate")
_DISK_COUNTERS = ("read_bytes", "read_requests", "write_bytes", "write_requests",
                  "errors_count")


async def diagnostics(req: ApiRequest) -> Response:
    """What the database knows of a server, in Nova's standard shape (2.48): its state,
    CPUs, memory, NICs (MACs) and disks; the guest's counters are not sampled (null, as
    Nova's schema allows). ``driver`` is ``libvirt``, the nearest of the values Nova's
    schema admits: Onestack runs QEMU itself as libvirt would. Before 2.48 the
    driver-specific form holds the memory alone (KiB)."""
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    inst = rec.instance
    if not inst.host:
        raise Conflict(f"Instance {inst.uuid} is not ready yet: it has no host.")
    flavor = inst.flavor
    if not since(req, 2, 48):
        return respond({"memory": int(flavor["memory_mb"]) * 1024})
    node = next((n for n in await req.runtime.compute.hosts.nodes() if n.host == inst.host),
                None)
    macs = [a.get("OS-EXT-IPS-MAC:mac_addr") for items in rec.addresses.values()
            for a in items if a.get("OS-EXT-IPS:type", "fixed") == "fixed"]
    macs = list(dict.fromkeys(m for m in macs if m))
    disks = (1 if inst.image_ref else 0) + len(rec.volumes) + \
        (1 if flavor.get("ephemeral_gb") else 0) + (1 if flavor.get("swap") else 0)
    running = inst.power_state == 1 and inst.launched_at is not None
    return respond({
        "state": _POWER.get(inst.power_state, "pending"), "driver": "libvirt",
        "hypervisor": node.hypervisor_type.lower() if node else None,
        "hypervisor_os": "linux",
        "uptime": int((utcnow() - inst.launched_at).total_seconds())
        if running and inst.launched_at else None,
        "config_drive": bool(inst.config_drive), "num_cpus": int(flavor["vcpus"]),
        "num_nics": len(macs), "num_disks": disks,
        "memory_details": {"maximum": int(flavor["memory_mb"]) // 1024, "used": None},
        "cpu_details": [{"id": i, "time": None, "utilisation": None}
                        for i in range(int(flavor["vcpus"]))],
        "nic_details": [{"mac_address": mac, **dict.fromkeys(_NIC_COUNTERS)} for mac in macs],
        "disk_details": [dict.fromkeys(_DISK_COUNTERS) for _ in range(disks)]})
