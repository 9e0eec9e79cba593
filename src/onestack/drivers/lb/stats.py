"""haproxy's ``show stat`` CSV, and the operating statuses Octavia derives from it.

Rows: type 0 frontend (a listener), 1 backend (a pool), 2 server (a member). Server
status: ``UP`` (also ``UP 1/3``, going down) → ONLINE, ``DOWN`` (also ``DOWN 1/2``, going
up) → ERROR, ``MAINT`` → OFFLINE, ``DRAIN``/``NOLB`` → DRAINING, ``no check`` →
NO_MONITOR. A pool is ERROR when every member that is not OFFLINE is ERROR, DEGRADED when
some are, ONLINE otherwise (as amphora's health manager rolls it up).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from onestack.drivers.lb.base import LbStatus, LoadBalancerSpec, ObjectStatus
from onestack.drivers.lb.haproxy_config import BACKEND_PREFIX, FRONTEND_PREFIX


@dataclass
class Row:
    proxy: str
    server: str
    kind: int  # 0 frontend, 1 backend, 2 server
    status: str
    bin: int = 0
    bout: int = 0
    scur: int = 0
    stot: int = 0
    ereq: int = 0


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0


def parse(text: str) -> list[Row]:
    """Rows of ``show stat`` (the header line starts with ``# ``)."""
    text = text.lstrip()
    if text.startswith("#"):
        text = text[1:].lstrip()
    rows = []
    for rec in csv.DictReader(io.StringIO(text)):
        if not rec.get("pxname") or rec.get("type") in (None, ""):
            continue
        rows.append(Row(proxy=rec["pxname"], server=rec.get("svname") or "",
                        kind=_int(rec.get("type")), status=(rec.get("status") or "").strip(),
                        bin=_int(rec.get("bin")), bout=_int(rec.get("bout")),
                        scur=_int(rec.get("scur")), stot=_int(rec.get("stot")),
                        ereq=_int(rec.get("ereq"))))
    return rows


def member_state(status: str) -> str:
    word = status.split(" ")[0].upper()
    if status.lower() == "no check":
        return "NO_MONITOR"
    return {"UP": "ONLINE", "DOWN": "ERROR", "MAINT": "OFFLINE", "DRAIN": "DRAINING",
            "NOLB": "DRAINING"}.get(word, "ERROR")


def rollup(states: list[str], admin_up: bool = True) -> str:
    if not admin_up:
        return "OFFLINE"
    live = [s for s in states if s != "OFFLINE"]
    if live and all(s == "ERROR" for s in live):
        return "ERROR"
    if "ERROR" in live:
        return "DEGRADED"
    return "ONLINE"


def _counters(row: Row, state: str) -> ObjectStatus:
    return ObjectStatus(state, bytes_in=row.bin, bytes_out=row.bout,
                        active_connections=row.scur, total_connections=row.stot,
                        request_errors=row.ereq)


def to_status(spec: LoadBalancerSpec | None, rows: list[Row]) -> LbStatus:
    """What the stats say of each object; objects of ``spec`` missing from them (UDP ones,
    disabled listeners) get the status their configuration implies."""
    out = LbStatus(running=True)
    frontends = {r.proxy: r for r in rows if r.kind == 0}
    backends = {r.proxy: r for r in rows if r.kind == 1}
    servers = {(r.proxy, r.server): r for r in rows if r.kind == 2}
    if spec is None:  # adopted without a spec: report what haproxy has
        for r in frontends.values():
            out.listeners[r.proxy.removeprefix(FRONTEND_PREFIX)] = _counters(
                r, "OFFLINE" if r.status == "STOP" else "ONLINE")
        for (_proxy, server), r in servers.items():
            out.members[server] = _counters(r, member_state(r.status))
        for proxy, r in backends.items():
            states = [out.members[s].operating_status for (p, s) in servers if p == proxy]
            out.pools[proxy.removeprefix(BACKEND_PREFIX)] = _counters(r, rollup(states))
        return out
    for pool in spec.pools:
        proxy = BACKEND_PREFIX + pool.id
        states = []
        for m in pool.members:
            srow = servers.get((proxy, m.id))
            if not (pool.admin_state_up and m.admin_state_up):
                state = "OFFLINE"
            elif srow is None:
                state = "NO_MONITOR"  # UDP members: not health checked
            else:
                state = member_state(srow.status)
            out.members[m.id] = _counters(srow, state) if srow else ObjectStatus(state)
            states.append(state)
        state = rollup(states, pool.admin_state_up)
        brow = backends.get(proxy)
        out.pools[pool.id] = _counters(brow, state) if brow else ObjectStatus(state)
    for lis in spec.listeners:
        frow = frontends.get(FRONTEND_PREFIX + lis.id)
        if not (spec.admin_state_up and lis.admin_state_up):
            out.listeners[lis.id] = ObjectStatus("OFFLINE")
        elif frow is not None:
            out.listeners[lis.id] = _counters(
                frow, "OFFLINE" if frow.status == "STOP" else "ONLINE")
        else:
            out.listeners[lis.id] = ObjectStatus("ONLINE")  # UDP: the nft table carries it
    return out
