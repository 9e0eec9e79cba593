"""Nova's networking resources: server ips, the os-security-groups, os-networks and
os-tenant-networks proxies (up to 2.35),
os-security-group-rules, a server's security groups and the add/removeSecurityGroup
actions, and os-interface. The security groups are the network service's."""

from __future__ import annotations

import ipaddress
import uuid
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute import schemas, server_views
from onestack.api.compute.common import accepted, bool_param, caller, is_admin, respond, since
from onestack.core.network.listing import ListQuery
from onestack.db.models.network import Port, SecurityGroup, SecurityGroupRule
from onestack.errors import BadRequest, Conflict, NotFound

DEPRECATED_AFTER = (2, 35)  # os-security-groups and os-security-group-rules: 404 from 2.36


# --- server ips ----------------------------------------------------------------------------
async def ips(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return respond({"addresses": server_views.addresses(rec, extended=False)})


async def ips_network(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    label = req.params["network"]
    found = server_views.addresses(rec, extended=False).get(label)
    if found is None:
        raise NotFound("Instance is not a member of specified network")
    return respond({label: found})


# --- os-security-groups --------------------------------------------------------------------
def _deprecated(req: ApiRequest) -> None:
    if since(req, DEPRECATED_AFTER[0], DEPRECATED_AFTER[1] + 1):
        raise NotFound("The resource could not be found.")


def _neutron(req: ApiRequest, rule: str, project_id: str | None) -> None:
    """The proxy answers for Neutron: Neutron's own rule (create_security_group...) on the
    group's project decides, as when Nova calls Neutron with the user's token."""
    req.runtime.policy.enforce(rule, req.ctx, {"project_id": project_id,
                                               "tenant_id": project_id})


def _sg_missing(sg_id: str) -> NotFound:
    return NotFound(f"Security group {sg_id} not found.")


def rule_view(rule: SecurityGroupRule, groups: dict[str, SecurityGroup]) -> dict[str, Any]:
    """A Neutron ingress rule as Nova shows it."""
    low, high = rule.port_range_min, rule.port_range_max
    if rule.protocol and low is None and high is None:
        low, high = (1, 65535) if rule.protocol.lower() in ("tcp", "udp") else (-1, -1)
    out: dict[str, Any] = {"id": rule.id, "parent_group_id": rule.security_group_id,
                           "ip_protocol": rule.protocol, "from_port": low, "to_port": high,
                           "group": {}, "ip_range": {}}
    if rule.remote_group_id:
        remote = groups.get(rule.remote_group_id)
        out["group"] = {"name": remote.name if remote else "",
                        "tenant_id": remote.project_id if remote else ""}
    else:
        zero = "::/0" if rule.ethertype == "IPv6" else "0.0.0.0/0"
        out["ip_range"] = {"cidr": rule.remote_ip_prefix or zero}
    return out


def group_view(sg: SecurityGroup, groups: dict[str, SecurityGroup]) -> dict[str, Any]:
    return {"id": sg.id, "name": sg.name, "description": sg.description,
            "tenant_id": sg.project_id,
            "rules": [rule_view(r, groups) for r in sg.rules if r.direction == "ingress"]}


async def _render(req: ApiRequest, sgs: list[SecurityGroup]) -> list[dict[str, Any]]:
    groups = {g.id: g for g in sgs}
    remote = {r.remote_group_id for g in sgs for r in g.rules
              if r.remote_group_id and r.remote_group_id not in groups}
    if remote:
        for g in await req.runtime.compute.network.security_groups.get_many(list(remote)):
            groups[g.id] = g
    return [group_view(g, groups) for g in sgs]


async def list_groups(req: ApiRequest) -> Response:
    _deprecated(req)
    sgs = await req.runtime.compute.networking.project_groups(
        caller(req), bool(bool_param(req, "all_tenants")))
    return respond({"security_groups": await _render(req, sgs)})


def _check_text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequest(f"Security group {what} is not a string or unicode")
    if not value.strip():
        raise BadRequest(f"Security group {what} cannot be empty.")
    if len(value.strip()) > 255:
        raise BadRequest(f"Security group {what} should not be greater than 255 characters.")
    return value


async def _group_body(req: ApiRequest) -> dict[str, str]:
    body = await req.json(schemas.security_group)
    sg = body["security_group"]
    return {"name": _check_text(sg.get("name"), "name"),
            "description": _check_text(sg.get("description"), "description")}


async def create_group(req: ApiRequest) -> Response:
    _deprecated(req)
    data = await _group_body(req)
    _neutron(req, "create_security_group", req.ctx.project_id)
    groups = req.runtime.compute.network.security_groups
    try:
        made = (await groups.create(req.ctx, [data]))[0]
    except Conflict as exc:
        raise BadRequest(exc.message) from exc
    return respond({"security_group": (await _render(req, [made]))[0]})


async def _get_group(req: ApiRequest, sg_id: str) -> SecurityGroup:
    try:
        return await req.runtime.compute.network.security_groups.get(req.ctx, sg_id)
    except NotFound as exc:
        raise _sg_missing(sg_id) from exc


async def show_group(req: ApiRequest) -> Response:
    _deprecated(req)
    sg = await _get_group(req, req.params["group_id"])
    return respond({"security_group": (await _render(req, [sg]))[0]})


async def update_group(req: ApiRequest) -> Response:
    _deprecated(req)
    sg_id = req.params["group_id"]
    _neutron(req, "update_security_group", (await _get_group(req, sg_id)).project_id)
    data = await _group_body(req)
    try:
        sg = await req.runtime.compute.network.security_groups.update(req.ctx, sg_id, data)
    except Conflict as exc:
        raise BadRequest(exc.message) from exc
    return respond({"security_group": (await _render(req, [sg]))[0]})


async def delete_group(req: ApiRequest) -> Response:
    _deprecated(req)
    sg_id = req.params["group_id"]
    _neutron(req, "delete_security_group", (await _get_group(req, sg_id)).project_id)
    try:
        await req.runtime.compute.network.security_groups.delete(req.ctx, sg_id)
    except Conflict as exc:
        raise BadRequest(exc.message) from exc
    return accepted()


async def delete_without_id(req: ApiRequest) -> Response:
    """DELETE /os-security-groups/ (no id): Nova's 404."""
    raise NotFound("The resource could not be found.")


def _int(value: Any, what: str) -> int:
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} must be an integer.") from None


def neutron_rule(args: dict[str, Any]) -> dict[str, Any]:
    """A Nova rule request as a Neutron ingress rule, with Nova's checks and messages."""
    protocol = args.get("ip_protocol")
    low, high = args.get("from_port"), args.get("to_port")
    if protocol is None or low is None or high is None:
        raise BadRequest("Not enough parameters to build a valid rule.")
    protocol = str(protocol).lower()
    if protocol not in ("tcp", "udp", "icmp"):
        raise BadRequest(f"Invalid IP protocol {protocol}.")
    low, high = _int(low, "from_port"), _int(high, "to_port")
    if protocol == "icmp":
        if not (-1 <= low <= 255 and -1 <= high <= 255):
            raise BadRequest(f"Invalid port range {low}:{high}. For ICMP, the type:code must "
                             "be valid")
        rng = (None if low == -1 else low, None if high == -1 else high)
    else:
        if not (1 <= low <= 65535 and 1 <= high <= 65535) or low > high:
            raise BadRequest(f"Invalid port range {low}:{high}. Valid TCP ports should be "
                             "between 1-65535")
        rng = (low, high)
    out: dict[str, Any] = {"direction": "ingress", "protocol": protocol,
                           "port_range_min": rng[0], "port_range_max": rng[1],
                           "ethertype": "IPv4"}
    if args.get("group_id"):
        out["remote_group_id"] = str(args["group_id"])
    else:
        cidr = args.get("cidr") or "0.0.0.0/0"
        try:
            net = ipaddress.ip_network(str(cidr), strict=False)
        except ValueError:
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        out["remote_ip_prefix"] = str(cidr)  # as given: Nova passes it on to Neutron
        out["ethertype"] = f"IPv{net.version}"
    return out


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


async def create_rule(req: ApiRequest) -> Response:
    _deprecated(req)
    args = (await req.json(schemas.security_group_rule))["security_group_rule"]
    parent = str(args.get("parent_group_id") or "")
    for group_id in (parent, args.get("group_id")):
        if group_id is not None and not _is_uuid(str(group_id)):  # Nova's validate_id
            raise BadRequest("Security group id should be uuid")
    sg = await _get_group(req, parent)
    _neutron(req, "create_security_group_rule", sg.project_id)
    data = {"security_group_id": sg.id, **neutron_rule(args)}
    if "remote_group_id" in data:
        await _get_group(req, data["remote_group_id"])
    try:
        rule = (await req.runtime.compute.network.security_groups.create_rules(
            req.ctx, [data]))[0]
    except Conflict as exc:
        raise BadRequest(f"This rule already exists in group {sg.id}") from exc
    groups = {sg.id: sg}
    if rule.remote_group_id and rule.remote_group_id not in groups:
        groups[rule.remote_group_id] = await _get_group(req, rule.remote_group_id)
    return respond({"security_group_rule": rule_view(rule, groups)})


async def delete_rule(req: ApiRequest) -> Response:
    _deprecated(req)
    rule_id = req.params["rule_id"]
    groups = req.runtime.compute.network.security_groups
    try:
        rule = await groups.get_rule(req.ctx, rule_id)
        _neutron(req, "delete_security_group_rule", rule.project_id)
        await groups.delete_rule(req.ctx, rule_id)
    except NotFound as exc:
        raise NotFound(f"Rule ({rule_id}) not found") from exc
    return accepted()


async def server_groups(req: ApiRequest) -> Response:
    sgs = await req.runtime.compute.networking.groups_of(caller(req), req.params["server_id"])
    return respond({"security_groups": await _render(req, sgs)})


async def add_group_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.security_group_action)
    await req.runtime.compute.networking.add_group(caller(req), server_id, args["name"])
    return accepted()


async def remove_group_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.security_group_action)
    await req.runtime.compute.networking.remove_group(caller(req), server_id, args["name"])
    return accepted()


# --- os-interface --------------------------------------------------------------------------
def interface_view(req: ApiRequest, port: Port, tag: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "port_state": port.status, "port_id": port.id, "net_id": port.network_id,
        "mac_addr": port.mac_address,
        "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                      for a in sorted(port.fixed_ips, key=lambda a: a.position)]}
    if since(req, 2, 70):
        out["tag"] = tag
    return out


async def list_interfaces(req: ApiRequest) -> Response:
    rows = await req.runtime.compute.networking.interfaces(caller(req),
                                                           req.params["server_id"])
    return respond({"interfaceAttachments": [interface_view(req, p, t) for p, t in rows]})


async def show_interface(req: ApiRequest) -> Response:
    port, tag = await req.runtime.compute.networking.interface(
        caller(req), req.params["server_id"], req.params["port_id"])
    return respond({"interfaceAttachment": interface_view(req, port, tag)})


async def attach_interface(req: ApiRequest) -> Response:
    body = (await req.json(schemas.interface_attach)).get("interfaceAttachment") or {}
    if "tag" in body and not since(req, 2, 49):
        raise BadRequest("Invalid input for field/attribute interfaceAttachment. Additional "
                         "properties are not allowed ('tag' was unexpected)")
    port_id, net_id = body.get("port_id"), body.get("net_id")
    if port_id and net_id:
        raise BadRequest("Must not input both network_id and port_id")
    fixed = [ip.get("ip_address") for ip in body.get("fixed_ips") or []]
    if fixed and not net_id:
        raise BadRequest("Must input network_id when request IP address")
    networking = req.runtime.compute.networking
    server_id = req.params["server_id"]
    new = await networking.attach(caller(req), server_id, net_id, port_id,
                                  fixed[0] if fixed else None, body.get("tag"))
    port, tag = await networking.interface(caller(req), server_id, new)
    return respond({"interfaceAttachment": interface_view(req, port, tag)})


async def detach_interface(req: ApiRequest) -> Response:
    await req.runtime.compute.networking.detach(caller(req), req.params["server_id"],
                                                req.params["port_id"])
    return accepted()


# --- os-networks and os-tenant-networks (Neutron's networks, up to 2.35) --------------------
_NET_FIELDS = ("id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6",
               "gateway_v6", "label", "netmask_v6")
_NET_ADMIN_FIELDS = (
    "created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge", "vlan",
    "vpn_public_address", "vpn_public_port", "vpn_private_address", "dhcp_start",
    "project_id", "host", "bridge_interface", "multi_host", "priority", "rxtx_base", "mtu",
    "dhcp_server", "enable_dhcp", "share_address")


def network_view(req: ApiRequest, net: Any) -> dict[str, Any]:
    """Nova's network_dict over Neutron: the id and the name as ``label``; the fields of
    nova-network are there and null (admins see more of them)."""
    fields = _NET_FIELDS + (_NET_ADMIN_FIELDS if is_admin(req) else ())
    out: dict[str, Any] = dict.fromkeys(fields)
    out.update(id=net.id, label=net.name)
    return out


def tenant_network_view(net: Any) -> dict[str, Any]:
    # Nova writes str() of a cidr Neutron does not give it: "None"
    return {"id": net.id, "label": net.name, "cidr": "None"}


async def _networks(req: ApiRequest) -> list[Any]:
    _deprecated(req)
    page = await req.runtime.compute.network.networks.search(req.ctx, ListQuery())
    return list(page.items)


async def _network(req: ApiRequest) -> Any:
    _deprecated(req)
    try:
        return await req.runtime.compute.network.networks.get(req.ctx, req.params["network_id"])
    except NotFound as exc:
        raise NotFound("Network could not be found.") from exc


async def list_networks(req: ApiRequest) -> Response:
    return respond({"networks": [network_view(req, n) for n in await _networks(req)]})


async def show_network(req: ApiRequest) -> Response:
    return respond({"network": network_view(req, await _network(req))})


async def list_tenant_networks(req: ApiRequest) -> Response:
    return respond({"networks": [tenant_network_view(n) for n in await _networks(req)]})


async def show_tenant_network(req: ApiRequest) -> Response:
    return respond({"network": tenant_network_view(await _network(req))})
