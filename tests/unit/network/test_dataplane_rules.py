"""nft rule text for security group rules, anti-spoofing and router NAT; the metadata proxy."""

from __future__ import annotations

import asyncio
import socket

from onestack.agent.metadata_proxy import MetadataProxy
from onestack.agent.network_rules import (
    l2_table,
    link_local,
    nat_table,
    port_addresses,
    rule_text,
    zone,
)
from onestack.agent.network_state import PortInfo, RuleInfo


def _rule(direction: str = "ingress", ethertype: str = "IPv4", protocol: str | None = None,
          port_range_min: int | None = None, port_range_max: int | None = None,
          remote_ip_prefix: str | None = None, remote_group_id: str | None = None
          ) -> RuleInfo:
    return RuleInfo(direction, ethertype, protocol, port_range_min, port_range_max,
                    remote_ip_prefix, remote_group_id)


def test_rule_text() -> None:
    assert rule_text(_rule(protocol="tcp", port_range_min=22, port_range_max=22), "accept") \
        == "    meta nfproto ipv4 meta l4proto 6 th dport 22 accept"
    assert rule_text(_rule(protocol="udp", port_range_min=1000, port_range_max=2000,
                           remote_ip_prefix="10.1.0.0/16", direction="egress"), "return") \
        == "    meta nfproto ipv4 ip daddr 10.1.0.0/16 meta l4proto 17 th dport 1000-2000 return"
    assert rule_text(_rule(protocol="icmp", port_range_min=8, port_range_max=0), "accept") \
        == "    meta nfproto ipv4 meta l4proto 1 icmp type 8 icmp code 0 accept"
    # icmp on IPv6 is ICMPv6; a v4 prefix on an IPv6 rule cannot match anything
    assert "meta l4proto 58" in str(rule_text(_rule(ethertype="IPv6", protocol="icmp"),
                                              "accept"))
    assert rule_text(_rule(ethertype="IPv6", remote_ip_prefix="10.0.0.0/8"), "accept") is None
    assert rule_text(_rule(remote_group_id="ab-cd"), "accept") == \
        "    meta nfproto ipv4 ip saddr @rg4_abcd accept"
    assert rule_text(_rule(protocol="112"), "accept") == \
        "    meta nfproto ipv4 meta l4proto 112 accept"
    assert rule_text(_rule(protocol="nonsense"), "accept") is None
    assert rule_text(_rule(remote_ip_prefix="0.0.0.0/0"), "accept") == \
        "    meta nfproto ipv4 accept"


def _port(pairs: list[dict[str, str]]) -> PortInfo:
    return PortInfo(
        id="11111111-2222-3333-4444-555555555555", network_id="n", project_id="p",
        mac="fa:16:3e:00:00:01", device_owner="compute:nova", device_id="i", host="h",
        status="DOWN", admin_state_up=True, port_security=True,
        fixed_ips=[("s", "10.0.0.5"), ("s6", "2001:db8::5")], allowed_address_pairs=pairs,
        security_groups=[])


def test_anti_spoofing_addresses() -> None:
    assert link_local("fa:16:3e:00:00:01") == "fe80::f816:3eff:fe00:1"
    port = _port([
        {"ip_address": "10.0.0.100/32", "mac_address": "fa:16:3e:00:00:02"},
        {"ip_address": "192.168.0.0/24", "mac_address": "fa:16:3e:00:00:01"}])
    macs, v4, v6 = port_addresses(port)
    assert macs == ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"]
    assert v4 == ["10.0.0.100", "10.0.0.5", "192.168.0.0/24"]
    assert "2001:db8::5" in v6 and "fe80::f816:3eff:fe00:1" in v6
    table = l2_table([port], {port.id: 1})
    assert 'iifname "tap11111111-22" jump spoof_11111111222233334444555555555555' in table
    assert 'oifname "tap11111111-22" meta mark set meta mark | 0x10000' in table
    assert "ip saddr != { 10.0.0.100, 10.0.0.5, 192.168.0.0/24 } drop" in table


def test_nat_and_zones() -> None:
    text = nat_table("qg-1", "172.24.4.10", ["10.0.0.0/24"], [("172.24.4.20", "10.0.0.5")])
    assert "ip daddr 172.24.4.20 dnat to 10.0.0.5" in text
    assert 'oifname "qg-1" ip saddr 10.0.0.5 snat to 172.24.4.20' in text
    assert 'oifname "qg-1" ip saddr { 10.0.0.0/24 } snat to 172.24.4.10' in text
    assert "snat to 172.24.4.10" not in nat_table("qg-1", None, ["10.0.0.0/24"], [])
    assert 1 <= zone("a") <= 65000 and zone("a") == zone("a")


async def test_metadata_proxy_answers_for_the_caller() -> None:
    seen: list[tuple[str, str, str]] = []

    async def resolve(kind: str, ident: str, src: str) -> str | None:
        seen.append((kind, ident, src))
        return "inst-1" if src == "127.0.0.1" else None

    async def answer(inst: str, path: str, headers: dict[str, str]
                     ) -> tuple[int, str, bytes]:
        assert headers["x-instance-id"] == inst and headers["x-neutron-network-id"] == "net"
        return 200, "text/plain", f"{inst}:{path}".encode()

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    sock.setblocking(False)
    port = sock.getsockname()[1]
    proxy = MetadataProxy("network", "net", resolve, answer)
    await proxy.start(sock)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /latest/meta-data/instance-id HTTP/1.1\r\nHost: x\r\n\r\n")
        data = await reader.read()
        writer.close()
        assert data.startswith(b"HTTP/1.1 200 OK")
        assert data.endswith(b"inst-1:/latest/meta-data/instance-id")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST / HTTP/1.1\r\n\r\n")
        assert (await reader.read()).startswith(b"HTTP/1.1 405")
        writer.close()
        assert seen == [("network", "net", "127.0.0.1")]
    finally:
        await proxy.stop()
