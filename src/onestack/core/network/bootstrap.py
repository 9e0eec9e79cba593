"""What ``onestack up`` gives a new cloud's networking (idempotent, like devstack's):

- ``public``: a flat external network on the host bridge with subnet ``public-subnet``
  (172.24.4.0/24, gateway 172.24.4.1 = the host's address), owned by the admin project;
- for the demo project: ``private`` with ``private-subnet`` (10.0.0.0/24, no DNS servers) and
  ``router1`` with its gateway on public and an interface on private-subnet;
- the demo project's ``default`` security group lets SSH (tcp 22) and ICMP in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from onestack.context import RequestContext
from onestack.core.network.service import NetworkService
from onestack.db.models.network import IPAllocation, Network, Port, Router, Subnet


@dataclass
class BootstrapNetworks:
    admin_project: str
    demo_project: str | None
    physnet: str = "public"
    public_cidr: str = "172.24.4.0/24"
    public_gateway: str = "172.24.4.1"
    private_cidr: str = "10.0.0.0/24"


async def _network(net: NetworkService, project: str, name: str) -> Network | None:
    async with net.networks.read() as s:
        return (await s.execute(select(Network).where(
            Network.project_id == project, Network.name == name))).scalars().first()


async def _subnet(net: NetworkService, network_id: str) -> Subnet | None:
    async with net.networks.read() as s:
        return (await s.execute(select(Subnet).where(
            Subnet.network_id == network_id))).scalars().first()


async def ensure(net: NetworkService, b: BootstrapNetworks,
                 progress: Callable[[str], None] = lambda _m: None) -> None:
    admin = RequestContext(is_admin=True, project_id=b.admin_project, roles=["admin"])
    progress(f"network: external network public ({b.public_cidr})")
    async with net.networks.read() as s:
        public = (await s.execute(select(Network).where(
            Network.external.is_(True), Network.name == "public"))).scalars().first()
    if public is None:
        public = (await net.networks.create(admin, [{
            "name": "public", "router:external": True, "provider:network_type": "flat",
            "provider:physical_network": b.physnet, "project_id": b.admin_project}]))[0]
    if await _subnet(net, public.id) is None:
        await net.subnets.create(admin, [{
            "network_id": public.id, "name": "public-subnet", "cidr": b.public_cidr,
            "ip_version": 4, "gateway_ip": b.public_gateway, "enable_dhcp": False,
            "project_id": b.admin_project}])
    if not b.demo_project:
        return
    demo = RequestContext(project_id=b.demo_project, roles=["member"])
    progress(f"network: demo network private ({b.private_cidr}) behind router1")
    private = await _network(net, b.demo_project, "private")
    if private is None:
        private = (await net.networks.create(demo, [{"name": "private"}]))[0]
    subnet = await _subnet(net, private.id)
    if subnet is None:
        subnet = (await net.subnets.create(demo, [{
            "network_id": private.id, "name": "private-subnet", "cidr": b.private_cidr,
            "ip_version": 4}]))[0]
    async with net.routers.read() as s:
        router = (await s.execute(select(Router).where(
            Router.project_id == b.demo_project, Router.name == "router1"))).scalars().first()
        attached = router is not None and (await s.execute(
            select(Port.id).join(IPAllocation, IPAllocation.port_id == Port.id).where(
                Port.device_id == router.id, IPAllocation.subnet_id == subnet.id))).first()
    if router is None:
        router = (await net.routers.create(demo, [{
            "name": "router1", "external_gateway_info": {"network_id": public.id}}]))[0]
    if not attached:
        await net.routers.add_interface(demo, router.id, subnet.id, None)
    progress("network: demo default security group allows SSH and ICMP in")
    sg_id = await net.security_groups.ensure_default(b.demo_project)
    if sg_id is None:
        return
    have = {(r.protocol, r.port_range_min, r.remote_ip_prefix)
            for r in (await net.security_groups.get_many([sg_id]))[0].rules
            if r.direction == "ingress" and r.ethertype == "IPv4"}
    wanted = [("tcp", 22), ("icmp", None)]
    rules = [{"security_group_id": sg_id, "direction": "ingress", "ethertype": "IPv4",
              "protocol": proto, "port_range_min": port, "port_range_max": port,
              "remote_ip_prefix": "0.0.0.0/0"}
             for proto, port in wanted if (proto, port, "0.0.0.0/0") not in have]
    if rules:
        await net.security_groups.create_rules(demo, rules)
