"""Neutron's agents API (``agent``, ``dhcp_agent_scheduler``, ``l3_agent_scheduler``): the
data plane's parts per host (see core/network/agents.py), admin only."""

from __future__ import annotations

import datetime as dt
import platform
import time
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.network import common, views
from onestack.core.network import errors
from onestack.core.network.agents import AgentView, HostPlane
from onestack.db.models.base import utcnow

AGENT_PUT = {"admin_state_up": common.a_bool, "description": common.opt(common.a_str)}


def _time(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else None


def _ago(monotonic: float | None) -> dt.datetime | None:
    if monotonic is None:
        return None
    return utcnow() - dt.timedelta(seconds=max(0.0, time.monotonic() - monotonic))


def local_planes(req: ApiRequest) -> list[HostPlane]:
    """What this process runs itself: the network node's agent (its last pass is its
    heartbeat) and the load balancer agent with a real driver."""
    rt: Any = req.runtime
    out = []
    net = rt.network_agent
    if net is not None and net.started and net.cfg.host:
        out.append(HostPlane(net.cfg.host, _ago(net.loop.last_end) or utcnow(),
                             network_node=True))
    lb = getattr(rt, "load_balancer_agent", None)
    lb_driver = getattr(getattr(lb, "driver", None), "name", "fake")
    if lb is not None and lb.loop is not None and lb_driver != "fake":
        host = rt.compute_agent.host or platform.node()
        out.append(HostPlane(host, utcnow(), lb_driver=lb_driver))
    return out


def agent(v: AgentView) -> dict[str, Any]:
    r = v.row
    return {"id": r.id, "agent_type": r.agent_type, "binary": r.binary, "topic": r.topic,
            "host": r.host, "admin_state_up": r.admin_state_up, "alive": v.alive,
            "availability_zone": r.availability_zone, "description": r.description,
            "configurations": v.configurations, "created_at": _time(r.created_at),
            "started_at": _time(r.started_at), "heartbeat_timestamp": _time(v.heartbeat),
            "resources_synced": None}


def _agents(req: ApiRequest) -> Any:
    return req.runtime.network.agents


async def list_agents(req: ApiRequest) -> Response:
    q, fields = common.list_query(req)
    page, found = await _agents(req).search(req.ctx, q, local_planes(req))
    return common.listing(req, "agents", [agent(v) for v in found], page, q, fields)


async def show_agent(req: ApiRequest) -> Response:
    _q, fields = common.list_query(req)
    found = await _agents(req).get(req.ctx, req.params["id"], local_planes(req))
    return common.respond({"agent": common.select_fields(agent(found), fields)})


async def update_agent(req: ApiRequest) -> Response:
    data = await common.body_update(req, "agent", AGENT_PUT)
    found = await _agents(req).update(req.ctx, req.params["id"], data, local_planes(req))
    return common.respond({"agent": agent(found)})


async def delete_agent(req: ApiRequest) -> Response:
    await _agents(req).delete(req.ctx, req.params["id"])
    return common.no_content()


# --- DHCP agent scheduler --------------------------------------------------------------------
async def list_dhcp_networks(req: ApiRequest) -> Response:
    nets = await _agents(req).networks_of(req.ctx, req.params["id"], local_planes(req))
    return common.respond({"networks": [views.network(req, n) for n in nets]})


async def add_dhcp_network(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or "network_id" not in body:
        raise errors.HTTPBadRequest(
            "Failed to parse request. Required attribute 'network_id' not specified")
    unknown = sorted(set(body) - {"network_id"})
    if unknown:
        raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")
    network_id = common.a_str(body["network_id"], "network_id")
    await _agents(req).add_network(req.ctx, req.params["id"], network_id, local_planes(req))
    return common.respond(None, status=201)


async def remove_dhcp_network(req: ApiRequest) -> Response:
    await _agents(req).remove_network(req.ctx, req.params["id"], req.params["network_id"],
                                      local_planes(req))
    return common.no_content()


async def list_network_dhcp_agents(req: ApiRequest) -> Response:
    found = await _agents(req).dhcp_agents_of(req.ctx, req.params["id"], local_planes(req))
    return common.respond({"agents": [agent(v) for v in found]})


# --- L3 agent scheduler (read only) ----------------------------------------------------------
async def list_l3_routers(req: ApiRequest) -> Response:
    routers = await _agents(req).routers_of(req.ctx, req.params["id"], local_planes(req))
    return common.respond({"routers": [views.router(req, r) for r in routers]})


async def list_router_l3_agents(req: ApiRequest) -> Response:
    found = await _agents(req).l3_agents_of(req.ctx, req.params["id"], local_planes(req))
    return common.respond({"agents": [agent(v) for v in found]})
