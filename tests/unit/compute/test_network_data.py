"""network_data.json from an instance's NICs: DHCP, SLAAC and static subnets."""

from __future__ import annotations

from typing import Any

from onestack.core.compute.ports import network_data_json
from onestack.db.models.network import Subnet


def subnet(sid: str, cidr: str, version: int = 4, dhcp: bool = True,
           mode: str | None = None, **kw: Any) -> Subnet:
    return Subnet(id=sid, network_id="net", cidr=cidr, ip_version=version, enable_dhcp=dhcp,
                  ipv6_address_mode=mode, ipv6_ra_mode=mode, gateway_ip=kw.get("gateway"),
                  dns_nameservers=kw.get("dns", []), host_routes=kw.get("routes", []))


def nic(ips: list[tuple[str, str]]) -> dict[str, Any]:
    return {"port_id": "p1", "mac": "fa:16:3e:00:00:01", "network_id": "net", "mtu": 1450,
            "tap": "tapp1", "fixed_ips": [{"ip_address": a, "subnet_id": s} for a, s in ips]}


def test_dhcp_and_slaac_subnets_are_typed_not_addressed() -> None:
    subs = {"s4": subnet("s4", "10.0.0.0/24"),
            "s6": subnet("s6", "fd00::/64", 6, mode="slaac")}
    data = network_data_json([nic([("10.0.0.5", "s4"), ("fd00::5", "s6")])], subs)
    assert data["links"] == [{"id": "tapp1", "vif_id": "p1", "type": "bridge",
                              "ethernet_mac_address": "fa:16:3e:00:00:01", "mtu": 1450}]
    assert [(n["id"], n["type"]) for n in data["networks"]] == [
        ("network0", "ipv4_dhcp"), ("network1", "ipv6_slaac")]
    assert all(n["link"] == "tapp1" and n["network_id"] == "net" for n in data["networks"])


def test_static_subnet_gives_address_routes_and_dns() -> None:
    subs = {"s": subnet("s", "192.168.5.0/24", dhcp=False, gateway="192.168.5.1",
                        dns=["9.9.9.9"], routes=[{"destination": "10.9.0.0/16",
                                                  "nexthop": "192.168.5.254"}])}
    data = network_data_json([nic([("192.168.5.7", "s")])], subs)
    net = data["networks"][0]
    assert net["type"] == "ipv4" and net["ip_address"] == "192.168.5.7"
    assert net["netmask"] == "255.255.255.0"
    assert net["routes"] == [
        {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "192.168.5.1"},
        {"network": "10.9.0.0", "netmask": "255.255.0.0", "gateway": "192.168.5.254"}]
    assert net["services"] == data["services"] == [{"type": "dns", "address": "9.9.9.9"}]


def test_no_nics_no_networks() -> None:
    assert network_data_json([], {}) == {"links": [], "networks": [], "services": []}
