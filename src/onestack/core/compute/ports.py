"""The Nova side of networking: an instance's ports.

Server create resolves ``networks`` (none, auto, or a list of network/port/fixed IP
requests) and ``security_groups`` before it writes anything (``Ports.plan``), then creates
or claims the ports in the same transaction as the instances (``attach_in``): a request that
fails leaves no port behind. The ports Nova made carry ``device_id`` = the server's uuid and
``device_owner`` = ``compute:<zone>``; scheduling sets ``binding:host_id``; delete removes
them and unbinds the ports the user passed in (``release_in``).

``cmp_instance_port`` is Nova's network info cache: the instance's ports in attach order and
which of them to keep. Addresses for server views come from one query for a whole page.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.compute.base import DEFAULT_AZ, Caller
from onestack.core.network import errors as net_errors
from onestack.core.network.ports import create_port_in, delete_port_in
from onestack.core.network.service import NetworkService
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.compute import InstancePort
from onestack.db.models.network import (
    FloatingIP,
    IPAllocation,
    Network,
    Port,
    PortSecurityGroup,
    SecurityGroup,
    Subnet,
)
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound, OnestackError

CHUNK = 500  # ids per IN (...) query


@dataclass
class NicRequest:
    """One NIC to give each instance: an existing port, or a new port on a network."""

    network_id: str
    port_id: str | None = None
    fixed_ip: str | None = None
    tag: str | None = None


@dataclass
class NetworkPlan:
    nics: list[NicRequest] = field(default_factory=list)
    security_groups: list[str] = field(default_factory=list)  # ids, for new ports
    group_names: list[str] = field(default_factory=list)  # as the create response shows


def context_of(caller: Caller) -> RequestContext:
    roles = ["admin", "member", "reader"] if caller.is_admin else ["member", "reader"]
    return RequestContext(request_id=caller.request_id or "req-compute",
                          user_id=caller.user_id, project_id=caller.project_id, roles=roles)


def owner_for(zone: str | None) -> str:
    return f"compute:{zone or DEFAULT_AZ}"


def tap_name(port_id: str) -> str:
    """Neutron's tap name for a port (the network agent plugs this device)."""
    return "tap" + port_id[:11]


def _port_in_use(port_id: str) -> Conflict:
    return Conflict(f"Port {port_id} is still in use.")


class Ports:
    def __init__(self, db: Database, network: NetworkService) -> None:
        self.db = db
        self.network = network

    def changed(self) -> None:
        """Ports changed in a compute transaction: wake the network service's listeners
        (the data plane), as its own writes do."""
        self.network.changed()

    # --- create: check the request, then attach inside the build transaction ---------------
    async def plan(self, caller: Caller, networks: Any, count: int,
                   security_groups: list[str] | None) -> NetworkPlan:
        """Resolve ``networks`` and ``security_groups``; every 4xx of a bad request here."""
        out = NetworkPlan(group_names=list(dict.fromkeys(security_groups or ["default"])))
        if networks == "none":
            return out
        async with self.db.read() as s:
            if networks == "auto" or networks is None or networks == []:
                net = await self._auto(s, caller)
                if net is not None:
                    out.nics.append(NicRequest(net))
            else:
                for item in networks:
                    out.nics.append(await self._nic(s, caller, item, count))
                seen = [n.port_id for n in out.nics if n.port_id]
                if len(seen) != len(set(seen)):
                    raise _port_in_use(next(p for p in seen if seen.count(p) > 1))
        if out.nics:
            out.security_groups = await self._groups(caller, out.group_names)
        return out

    async def _auto(self, s: AsyncSession, caller: Caller) -> str | None:
        """The project's only usable network (own or shared, not external), as Nova."""
        rows = (await s.execute(select(Network.id).where(
            or_(Network.project_id == caller.project_id, Network.shared.is_(True)),
            Network.external.is_(False)).order_by(Network.created_at))).scalars().all()
        if len(rows) > 1:
            raise Conflict("Multiple possible networks found, use a Network ID to be more "
                           "specific.")
        return rows[0] if rows else None

    async def _nic(self, s: AsyncSession, caller: Caller, item: dict[str, Any],
                   count: int) -> NicRequest:
        port_id, net_id, fixed = item.get("port"), item.get("uuid"), item.get("fixed_ip")
        tag = item.get("tag")
        if port_id:
            if count > 1:
                raise BadRequest("Unable to launch multiple instances with a single configured "
                                 "port ID. Please launch your instance one by one with "
                                 "different ports.")
            port = await s.get(Port, port_id)
            if port is None:
                raise BadRequest(f"Port id {port_id} could not be found.")
            if port.project_id != caller.project_id and not caller.is_admin:
                raise BadRequest(f"Port {port_id} not usable for instance.")
            if port.device_id or port.device_owner:
                raise _port_in_use(port_id)
            has_ip = (await s.execute(select(IPAllocation.ip_address).where(
                IPAllocation.port_id == port_id))).first()
            if has_ip is None:
                raise BadRequest(f"Port {port_id} requires a FixedIP in order to be used.")
            return NicRequest(port.network_id, port_id=port_id, tag=tag)
        if not net_id:
            raise BadRequest("Bad networks format: network uuid is not in proper format "
                             "(None)")
        net = await s.get(Network, net_id)
        if net is None or not (caller.is_admin or net.shared or net.external or
                               net.project_id == caller.project_id):
            raise BadRequest(f"Network {net_id} could not be found.")
        if net.external and not net.shared and not caller.is_admin and \
                net.project_id != caller.project_id:
            raise Forbidden(f"It is not allowed to create an interface on external network "
                            f"{net_id}")
        subnets = list((await s.execute(select(Subnet).where(
            Subnet.network_id == net_id))).scalars())
        if not subnets:
            raise BadRequest(f"Network {net_id} requires a subnet in order to boot instances "
                             "on.")
        if fixed is not None:
            if not caller.is_admin and net.project_id != caller.project_id:
                # Neutron's create_port:fixed_ips:ip_address: the network owner's choice
                raise Forbidden(f"Policy doesn't allow choosing fixed IP {fixed} on network "
                                f"{net_id}: only its owner or an admin may; leave fixed_ip out "
                                "to get an address the network picks.")
            if count > 1:
                raise BadRequest("Failed to launch instances: max_count cannot be greater than "
                                 "1 if an fixed_ip is specified.")
            addr = ipaddress.ip_address(fixed)
            if not any(addr in ipaddress.ip_network(sub.cidr) for sub in subnets):
                raise BadRequest(f"Invalid input received: Fixed IP {fixed} is not a valid ip "
                                 f"address for network {net_id}.")
            holder = (await s.execute(select(Port.device_id).join(
                IPAllocation, IPAllocation.port_id == Port.id).where(
                IPAllocation.network_id == net_id,
                IPAllocation.ip_address == str(addr)))).first()
            if holder is not None:
                raise BadRequest(f"Fixed IP address {fixed} is already in use on instance "
                                 f"{holder[0] or 'another port'}.")
        return NicRequest(net_id, fixed_ip=fixed, tag=tag)

    async def _groups(self, caller: Caller, names: list[str]) -> list[str]:
        """Security group names or ids of the caller's project -> ids."""
        await self.network.security_groups.ensure_default(caller.project_id)
        async with self.db.read() as s:
            rows = (await s.execute(select(SecurityGroup.id, SecurityGroup.name).where(
                SecurityGroup.project_id == caller.project_id))).all()
        out: list[str] = []
        for wanted in names:
            ids = [i for i, _n in rows if i == wanted] or [i for i, n in rows if n == wanted]
            if not ids:
                raise BadRequest(f"Security group {wanted} not found.")
            if len(ids) > 1:
                raise Conflict(f"Multiple security groups found matching '{wanted}'. Use an "
                               "ID to be more specific.")
            if ids[0] not in out:
                out.append(ids[0])
        return out

    @staticmethod
    async def attach_in(s: AsyncSession, caller: Caller, instance_uuid: str, zone: str | None,
                        plan: NetworkPlan, start: int = 0) -> None:
        """Create or claim the instance's ports in the build transaction."""
        ctx = context_of(caller)
        for position, nic in enumerate(plan.nics, start):
            if nic.port_id is not None:
                port = await s.scalar(select(Port).where(Port.id == nic.port_id)
                                      .with_for_update())
                if port is None or port.device_id or port.device_owner:
                    raise _port_in_use(nic.port_id)
                port.device_id, port.device_owner = instance_uuid, owner_for(zone)
                _bump(port)
                s.add(InstancePort(instance_uuid=instance_uuid, port_id=port.id,
                                   position=position, preserve=True, tag=nic.tag))
                continue
            network = await s.get(Network, nic.network_id)
            data: dict[str, Any] = {
                "network_id": nic.network_id, "project_id": caller.project_id,
                "device_id": instance_uuid, "device_owner": owner_for(zone)}
            if network is not None and network.port_security_enabled:
                data["security_groups"] = plan.security_groups
            if nic.fixed_ip is not None:
                data["fixed_ips"] = [{"ip_address": nic.fixed_ip}]
            try:
                port = await create_port_in(s, ctx, data)
            except net_errors.OverQuota as exc:
                raise Forbidden("Maximum number of ports exceeded") from exc
            except net_errors.IpAddressAlreadyAllocated as exc:
                raise BadRequest(f"Fixed IP address {nic.fixed_ip} is already in use on "
                                 "instance another port.") from exc
            except net_errors.IpAddressGenerationFailure as exc:
                raise Conflict(f"No more IP addresses available on network "
                               f"{nic.network_id}.") from exc
            except OnestackError as exc:
                if isinstance(exc, NotFound):
                    raise BadRequest(str(exc.message)) from exc
                raise
            s.add(InstancePort(instance_uuid=instance_uuid, port_id=port.id,
                               position=position, preserve=False, tag=nic.tag))
        await s.flush()

    # --- scheduling and delete -------------------------------------------------------------
    @staticmethod
    async def bind_in(s: AsyncSession, instance_uuid: str, host: str, zone: str) -> None:
        """The instance has a host: its ports are to be plugged there."""
        ids = await port_ids(s, instance_uuid)
        if ids:
            await s.execute(update(Port).where(Port.id.in_(ids)).values(
                binding_host_id=host, device_owner=owner_for(zone), updated_at=utcnow(),
                revision_number=Port.revision_number + 1))

    @staticmethod
    async def release_in(s: AsyncSession, instance_uuid: str) -> None:
        """Delete the ports Nova made for the instance; unbind the ones the user passed."""
        rows = (await s.execute(select(InstancePort).where(
            InstancePort.instance_uuid == instance_uuid))).scalars().all()
        for row in rows:
            if row.preserve:
                await unbind_in(s, row.port_id, instance_uuid)
            else:
                await delete_port_in(s, row.port_id)
        await s.execute(delete(InstancePort).where(InstancePort.instance_uuid == instance_uuid))

    # --- what views and the agent read -----------------------------------------------------
    async def nics_for(self, instance_uuid: str) -> list[dict[str, Any]]:
        """The instance's NICs in attach order, for the compute agent (QEMU -netdev)."""
        async with self.db.read() as s:
            rows = (await s.execute(select(InstancePort, Port, Network).join(
                Port, Port.id == InstancePort.port_id).join(
                Network, Network.id == Port.network_id).where(
                InstancePort.instance_uuid == instance_uuid).order_by(
                InstancePort.position))).all()
            ips = await _fixed_ips(s, [p.id for _r, p, _n in rows])
        return [{"port_id": port.id, "mac": port.mac_address, "network_id": net.id,
                 "network_name": net.name, "mtu": net.mtu, "tap": tap_name(port.id),
                 "tag": link.tag, "fixed_ips": ips.get(port.id, [])}
                for link, port, net in rows]

    async def network_data(self, instance_uuid: str) -> dict[str, Any]:
        """OpenStack's ``network_data.json`` for the instance (config drive, metadata)."""
        nics = await self.nics_for(instance_uuid)
        subnet_ids = {ip["subnet_id"] for nic in nics for ip in nic["fixed_ips"]}
        async with self.db.read() as s:
            subnets = {x.id: x for x in (await s.execute(select(Subnet).where(
                Subnet.id.in_(subnet_ids)))).scalars()}
        return network_data_json(nics, subnets)


async def addresses(s: AsyncSession, uuids: list[str]
                    ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Nova's ``addresses`` of each instance: by network name, fixed then floating."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for i in range(0, len(uuids), CHUNK):
        out.update(await _addresses(s, uuids[i:i + CHUNK]))
    return out


async def group_names(s: AsyncSession, uuids: list[str]) -> dict[str, list[str]]:
    """The security group names on each instance's ports (one entry per name)."""
    out: dict[str, list[str]] = defaultdict(list)
    for i in range(0, len(uuids), CHUNK):
        rows = (await s.execute(select(InstancePort.instance_uuid, SecurityGroup.name).join(
            PortSecurityGroup, PortSecurityGroup.port_id == InstancePort.port_id).join(
            SecurityGroup, SecurityGroup.id == PortSecurityGroup.security_group_id).where(
            InstancePort.instance_uuid.in_(uuids[i:i + CHUNK])).order_by(
            InstancePort.instance_uuid, InstancePort.position,
            SecurityGroup.name))).all()
        for uuid, name in rows:
            if name not in out[uuid]:
                out[uuid].append(name)
    return out


async def port_ids(s: AsyncSession, instance_uuid: str) -> list[str]:
    return list((await s.execute(select(InstancePort.port_id).where(
        InstancePort.instance_uuid == instance_uuid).order_by(
        InstancePort.position))).scalars())


async def unbind_in(s: AsyncSession, port_id: str, instance_uuid: str) -> None:
    """A port the user passed goes back to them, as it was before the server took it."""
    await s.execute(update(Port).where(Port.id == port_id, Port.device_id == instance_uuid)
                    .values(device_id="", device_owner="", binding_host_id="",
                            binding_vif_type="unbound", binding_vif_details={},
                            status="DOWN", updated_at=utcnow(),
                            revision_number=Port.revision_number + 1))


def _bump(port: Port) -> None:
    port.revision_number = (port.revision_number or 0) + 1
    port.updated_at = utcnow()


async def _fixed_ips(s: AsyncSession, ids: list[str]) -> dict[str, list[dict[str, str]]]:
    out: dict[str, list[dict[str, str]]] = defaultdict(list)
    if ids:
        for row in (await s.execute(select(IPAllocation).where(
                IPAllocation.port_id.in_(ids)).order_by(IPAllocation.position))).scalars():
            out[row.port_id].append({"ip_address": row.ip_address,
                                     "subnet_id": row.subnet_id})
    return out


async def _addresses(s: AsyncSession, uuids: list[str]
                     ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    rows = (await s.execute(select(
        InstancePort.instance_uuid, Port.id, Port.mac_address, Network.name,
        IPAllocation.ip_address).join(Port, Port.id == InstancePort.port_id).join(
        Network, Network.id == Port.network_id).join(
        IPAllocation, IPAllocation.port_id == Port.id).where(
        InstancePort.instance_uuid.in_(uuids)).order_by(
        InstancePort.instance_uuid, InstancePort.position, IPAllocation.position))).all()
    floating: dict[tuple[str, str], list[str]] = defaultdict(list)
    pids = list({r[1] for r in rows})
    if pids:
        for port_id, fixed, addr in (await s.execute(select(
                FloatingIP.port_id, FloatingIP.fixed_ip_address,
                FloatingIP.floating_ip_address).where(FloatingIP.port_id.in_(pids)))).all():
            floating[(str(port_id), str(fixed))].append(addr)
    out: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(dict)
    for uuid, port_id, mac, net_name, ip in rows:
        items = out[uuid].setdefault(net_name, [])
        items.append(_address(ip, "fixed", mac))
        items.extend(_address(f, "floating", mac) for f in floating.get((port_id, ip), []))
    return out


def _address(ip: str, kind: str, mac: str) -> dict[str, Any]:
    return {"version": ipaddress.ip_address(ip).version, "addr": ip,
            "OS-EXT-IPS:type": kind, "OS-EXT-IPS-MAC:mac_addr": mac}


def network_data_json(nics: list[dict[str, Any]], subnets: dict[str, Subnet]
                      ) -> dict[str, Any]:
    """links (one per NIC), networks (one per fixed IP: DHCP or static), services (DNS)."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    for nic in nics:
        link_id = nic["tap"]
        links.append({"id": link_id, "vif_id": nic["port_id"], "type": "bridge",
                      "ethernet_mac_address": nic["mac"], "mtu": nic["mtu"]})
        for ip in nic["fixed_ips"]:
            sub = subnets.get(ip["subnet_id"])
            if sub is None:
                continue
            net: dict[str, Any] = {"id": f"network{len(networks)}", "link": link_id,
                                   "network_id": nic["network_id"]}
            dns = [{"type": "dns", "address": a} for a in sub.dns_nameservers or []]
            for svc in dns:
                if svc not in services:
                    services.append(svc)
            if sub.ip_version == 6 and sub.ipv6_address_mode:
                mode = sub.ipv6_address_mode
                net["type"] = {"slaac": "ipv6_slaac", "dhcpv6-stateful": "ipv6_dhcp"}.get(
                    mode, "ipv6_dhcpv6-stateless")
            elif sub.enable_dhcp and sub.ip_version == 4:
                net["type"] = "ipv4_dhcp"
            else:
                cidr = ipaddress.ip_network(sub.cidr)
                net.update({"type": f"ipv{sub.ip_version}", "ip_address": ip["ip_address"],
                            "netmask": str(cidr.netmask), "routes": _routes(sub),
                            "services": dns})
            networks.append(net)
    return {"links": links, "networks": networks, "services": services}


def _routes(sub: Subnet) -> list[dict[str, str]]:
    out = []
    if sub.gateway_ip:
        zero = "0.0.0.0" if sub.ip_version == 4 else "::"
        out.append({"network": zero, "netmask": zero, "gateway": sub.gateway_ip})
    for route in sub.host_routes or []:
        dest = ipaddress.ip_network(route["destination"], strict=False)
        out.append({"network": str(dest.network_address), "netmask": str(dest.netmask),
                    "gateway": route["nexthop"]})
    return out
