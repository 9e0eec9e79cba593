"""onestack up's networks: public, the demo project's private network behind router1, and
SSH/ICMP in its default group; a second run adds nothing."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from onestack.api.app import Runtime
from onestack.api.network.routes import bootstrap
from onestack.config import load_settings
from onestack.core.identity.bootstrap import bootstrap as identity_bootstrap
from onestack.db import migrate
from onestack.db.models.network import Network, Port, Router, SecurityGroupRule, Subnet
from onestack.drivers.virt.fake import FakeVirtDriver


async def test_bootstrap_networks_idempotent(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    settings.identity.password_hash_rounds = 4
    settings.network.dataplane = "linux"  # bootstrap only; the agent is not started here
    migrate.upgrade(settings.database_url)
    runtime = Runtime(settings, virt_driver=FakeVirtDriver())
    try:
        accounts = await identity_bootstrap(runtime.identity, runtime.catalog_entries())
        counts = []
        for _ in range(2):
            await bootstrap(runtime, lambda _m: None)
            async with runtime.db.read() as s:
                counts.append([int((await s.execute(select(func.count()).select_from(m)))
                                   .scalar_one()) for m in (Network, Subnet, Router, Port,
                                                            SecurityGroupRule)])
        assert counts[0] == counts[1]
        async with runtime.db.read() as s:
            public = (await s.execute(select(Network).where(Network.name == "public"))
                      ).scalar_one()
            assert public.external and public.network_type == "flat"
            assert public.physical_network == "public"
            assert public.project_id == accounts["admin"].project_id
            sub = (await s.execute(select(Subnet).where(Subnet.network_id == public.id))
                   ).scalar_one()
            assert (sub.cidr, sub.gateway_ip, sub.enable_dhcp) == ("172.24.4.0/24",
                                                                   "172.24.4.1", False)
            private = (await s.execute(select(Network).where(Network.name == "private"))
                       ).scalar_one()
            assert private.project_id == accounts["demo"].project_id
            psub = (await s.execute(select(Subnet).where(Subnet.network_id == private.id))
                    ).scalar_one()
            assert psub.cidr == "10.0.0.0/24" and psub.dns_nameservers == []
            router = (await s.execute(select(Router).where(Router.name == "router1"))
                      ).scalar_one()
            assert router.gw_network_id == public.id
            rules = (await s.execute(select(SecurityGroupRule).where(
                SecurityGroupRule.project_id == accounts["demo"].project_id,
                SecurityGroupRule.direction == "ingress"))).scalars().all()
            assert {(r.protocol, r.port_range_min) for r in rules} >= {("tcp", 22),
                                                                       ("icmp", None)}
    finally:
        await runtime.db.close()
