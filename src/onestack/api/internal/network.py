"""The internal agent API's network calls: what a remote compute host's network agent
reads (the declared state its own guests' ports need: their networks and those networks'
ports, their security groups and remote groups, the peers' tunnel addresses; nothing of
other networks, routers or floating IPs) and writes back (its ports' status)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.responses import JSONResponse, Response

from onestack.agent.link import LocalLink
from onestack.agent.network_state import (
    NetworkState,
    Snapshot,
    for_compute_host,
    is_dhcp_port,
    snapshot_to_json,
)
from onestack.api.common.request import ApiRequest
from onestack.errors import Forbidden

STATUSES = ("ACTIVE", "DOWN")
port_status = {"type": "object", "additionalProperties": False,
               "required": ["ports", "status"],
               "properties": {"ports": {"type": "array", "maxItems": 10000,
                                        "items": {"type": "string", "maxLength": 36}},
                              "status": {"enum": list(STATUSES)}}}


async def declared_state(req: ApiRequest) -> Snapshot:
    """The snapshot the network node works from: its own agent's when it runs in this
    process, else read here, with the network node being the host of the DHCP ports and its
    tunnel address ``[network] tunnel_ip`` of this server's settings."""
    agent: Any = req.runtime.network_agent
    if agent is not None and agent.started:
        snap: Snapshot = await agent.load()
        return snap
    snap = await NetworkState(req.runtime.db).load()
    hosts = Counter(p.host for p in snap.ports.values() if is_dhcp_port(p) and p.host)
    if hosts:
        snap.network_node = hosts.most_common(1)[0][0]
        tunnel_ip = req.runtime.settings.network.tunnel_ip
        if tunnel_ip:
            snap.vteps[snap.network_node] = tunnel_ip
    return snap


async def network(req: ApiRequest, link: LocalLink, host: str) -> Response:
    """The part of the declared state the host's own guests need (``for_compute_host``)."""
    return JSONResponse(snapshot_to_json(for_compute_host(await declared_state(req), host)))


async def set_port_status(req: ApiRequest, link: LocalLink, host: str) -> Response:
    body = await req.json(port_status)
    state = NetworkState(req.runtime.db)
    snap = await state.load()
    for port_id in body["ports"]:
        port = snap.ports.get(port_id)
        if port is None or port.host != host:
            raise Forbidden(f"Port {port_id} is not bound to host {host}.")
    await state.set_status(list(body["ports"]), body["status"])
    return JSONResponse({})
