"""Nova's floating IP proxy over the network service: ``/os-floating-ips`` (to 2.35, 404
from 2.36) and the ``addFloatingIp``/``removeFloatingIp`` server actions (to 2.43), with
Nova's shapes, codes and messages (nova/api/openstack/compute/floating_ips.py). A pool is
an external network, named by name or id; the default is the one named ``public`` (as
DevStack sets ``[neutron] default_floating_pool``), else the only external network."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import accepted, caller, policy_target, respond, since
from onestack.core.network.listing import ListQuery
from onestack.db.models.network import FloatingIP, Network
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

DEFAULT_POOL = "public"
P = "os_compute_api:os-floating-ips:"
# nova/policies/floating_ips.py: readers list and show, members change
READ_RULES = (P + "list", P + "show")
WRITE_RULES = (P + "create", P + "delete", P + "add", P + "remove")

# Nova reads a top-level "pool" (tempest sends {"pool": "..."}); nothing else
CREATE = {"type": ["object", "null"], "properties": {"pool": {"type": ["string", "null"]}}}
ADDRESS = {"type": "string", "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]}
ADD = {"type": "object", "required": ["address"], "additionalProperties": False,
       "properties": {"address": ADDRESS, "fixed_address": ADDRESS}}
REMOVE = {"type": "object", "required": ["address"], "additionalProperties": False,
          "properties": {"address": ADDRESS}}


def _check_version(req: ApiRequest, last: tuple[int, int] = (2, 35)) -> None:
    if since(req, last[0], last[1] + 1):
        raise NotFound("The resource could not be found.")


async def _external(req: ApiRequest) -> list[Network]:
    page = await req.runtime.compute.network.networks.search(req.ctx, ListQuery())
    return [n for n in page.items if n.external]


async def _view(req: ApiRequest, fips: list[FloatingIP]) -> list[dict[str, Any]]:
    net = req.runtime.compute.network
    pools = {n.id: n.name for n in await _external(req)}
    ports = {p.id: p for p in await net.ports.get_many([f.port_id for f in fips
                                                         if f.port_id])}
    out = []
    for fip in fips:
        port = ports.get(fip.port_id) if fip.port_id else None
        out.append({"id": fip.id, "ip": fip.floating_ip_address,
                    "pool": pools.get(fip.floating_network_id),
                    "fixed_ip": fip.fixed_ip_address,
                    "instance_id": port.device_id if port is not None and
                    port.device_owner.startswith("compute:") else None})
    return out


async def _by_id(req: ApiRequest, fip_id: str) -> FloatingIP:
    try:
        return await req.runtime.compute.network.floatingips.get(req.ctx, fip_id)
    except NotFound as exc:
        raise NotFound(f"Floating IP not found for ID {fip_id}") from exc


async def _by_address(req: ApiRequest, address: str) -> FloatingIP:
    page = await req.runtime.compute.network.floatingips.search(
        req.ctx, ListQuery(filters={"floating_ip_address": [address]}))
    if not page.items:
        raise NotFound(f"floating IP not found for address {address}")
    fip: FloatingIP = page.items[0]
    return fip


async def listing(req: ApiRequest) -> Response:
    _check_version(req)
    page = await req.runtime.compute.network.floatingips.search(req.ctx, ListQuery())
    return respond({"floating_ips": await _view(req, list(page.items))})


async def show(req: ApiRequest) -> Response:
    _check_version(req)
    fip = await _by_id(req, req.params["fip_id"])
    return respond({"floating_ip": (await _view(req, [fip]))[0]})


async def create(req: ApiRequest) -> Response:
    _check_version(req)
    body = await req.json(CREATE) if await req.http.body() else None
    pool = (body or {}).get("pool")
    nets = await _external(req)
    if pool is None:
        chosen = [n for n in nets if n.name == DEFAULT_POOL] or (nets if len(nets) == 1
                                                                 else [])
    else:
        chosen = [n for n in nets if pool in (n.id, n.name)]
    if not chosen:
        raise NotFound(f"Floating IP pool not found: {pool or DEFAULT_POOL}")
    try:
        made = await req.runtime.compute.network.floatingips.create(
            req.ctx, [{"floating_network_id": chosen[0].id}])
    except Conflict as exc:  # the pool is full
        raise NotFound(f"No more floating IPs in pool {chosen[0].name}.") from exc
    except Forbidden as exc:  # the network quota
        raise Forbidden("Maximum number of floating IPs exceeded") from exc
    return respond({"floating_ip": (await _view(req, made))[0]})


async def delete(req: ApiRequest) -> Response:
    _check_version(req)
    fip = await _by_id(req, req.params["fip_id"])
    await req.runtime.compute.network.floatingips.delete(req.ctx, fip.id)
    return accepted()


async def _enforce(req: ApiRequest, rule: str) -> None:
    req.runtime.policy.enforce(rule, req.ctx, await policy_target(req))


async def add_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    _check_version(req, (2, 43))
    await _enforce(req, P + "add")
    validate({"addFloatingIp": args}, {"type": "object", "properties": {
        "addFloatingIp": ADD}})
    ports = [p for p, _t in await req.runtime.compute.networking.interfaces(
        caller(req), server_id)]
    fip = await _by_address(req, args["address"])
    fixed = args.get("fixed_address")
    for port in ports:
        ips = [a.ip_address for a in sorted(port.fixed_ips, key=lambda a: a.position)]
        v4 = [ip for ip in ips if ":" not in ip]
        if fixed is None and v4:
            fixed = v4[0]
        if fixed in ips:
            break
    else:
        if not ports:
            raise BadRequest(f"No nw_info cache associated with instance {server_id}")
        raise BadRequest(f"Specified fixed address {fixed} not assigned to instance")
    try:
        await req.runtime.compute.network.floatingips.update(
            req.ctx, fip.id, {"port_id": port.id, "fixed_ip_address": fixed})
    except (Conflict, BadRequest) as exc:
        raise BadRequest(f"Unable to associate floating IP {args['address']} to fixed IP "
                         f"{fixed} for instance {server_id}. {exc.message}") from exc
    return accepted()


async def remove_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    _check_version(req, (2, 43))
    await _enforce(req, P + "remove")
    validate({"removeFloatingIp": args}, {"type": "object", "properties": {
        "removeFloatingIp": REMOVE}})
    ports = {p.id for p, _t in await req.runtime.compute.networking.interfaces(
        caller(req), server_id)}
    fip = await _by_address(req, args["address"])
    if fip.port_id not in ports:
        raise Conflict(f"Floating IP {args['address']} is not associated with instance "
                       f"{server_id}.")
    await req.runtime.compute.network.floatingips.update(req.ctx, fip.id, {"port_id": None})
    return accepted()


ACTIONS = {"addFloatingIp": add_action, "removeFloatingIp": remove_action}
