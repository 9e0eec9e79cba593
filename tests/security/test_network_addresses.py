"""Every address a tenant gives is canonical or refused (security review finding 6): an IPv6
scope id (``addr%<text>``) passes Python's ``ipaddress`` with any text after it, newlines and
braces included, and reached the host-wide nft script and dnsmasq's files. Each input is
refused with Neutron's 400 naming the value; what is stored is the canonical text."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import cloud, pg_server  # noqa: F401  (the API suite's clouds)
from tests.security.test_network_ports import Net, make_net, neutron, refused
from tests.support.server import RunningCloud

ATTACK = "2001:db8::1%x }\n}\nflush ruleset\n#/128"
ATTACK_IP = "2001:db8::1%x }\n}\nflush ruleset\n#"
ATTACK_NET = "2001:db8::%x\n}/64"


def _bad(r: httpx.Response, value: str) -> None:
    refused(r, 400, "InvalidInput", f"'{value}' is not a valid")


def _v6(c: RunningCloud, token: str) -> Net:
    return make_net(c, token, "2001:db8::/64")


def test_scope_ids_are_refused_on_every_address_input(cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    net = _v6(cloud, demo)
    port = neutron(cloud, "POST", "/ports", demo, {"port": {"network_id": net.id}})
    assert port.status_code == 201, port.text
    port_id = port.json()["port"]["id"]
    attempts: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/ports", {"port": {"network_id": net.id, "fixed_ips": [
            {"subnet_id": net.subnet_id, "ip_address": ATTACK_IP}]}}, ATTACK_IP),
        ("POST", "/ports", {"port": {"network_id": net.id, "fixed_ips": [
            {"ip_address": "2001:db8::7%eth0"}]}}, "2001:db8::7%eth0"),
        ("POST", "/ports", {"port": {"network_id": net.id, "allowed_address_pairs": [
            {"ip_address": ATTACK}]}}, ATTACK),
        ("PUT", f"/ports/{port_id}", {"port": {"allowed_address_pairs": [
            {"ip_address": ATTACK_IP}]}}, ATTACK_IP),
        ("PUT", f"/ports/{port_id}", {"port": {"fixed_ips": [
            {"subnet_id": net.subnet_id, "ip_address": ATTACK_IP}]}}, ATTACK_IP),
        ("POST", "/subnets", {"subnet": {"network_id": net.id, "ip_version": 6,
                                         "cidr": ATTACK_NET}}, ATTACK_NET),
        ("PUT", f"/subnets/{net.subnet_id}", {"subnet": {"dns_nameservers": [ATTACK_IP]}},
         ATTACK_IP),
        ("PUT", f"/subnets/{net.subnet_id}", {"subnet": {"gateway_ip": ATTACK_IP}},
         ATTACK_IP),
        ("PUT", f"/subnets/{net.subnet_id}", {"subnet": {"host_routes": [
            {"destination": ATTACK, "nexthop": "2001:db8::9"}]}}, ATTACK),
        ("PUT", f"/subnets/{net.subnet_id}", {"subnet": {"host_routes": [
            {"destination": "2001:db8:5::/64", "nexthop": ATTACK_IP}]}}, ATTACK_IP),
        ("PUT", f"/subnets/{net.subnet_id}", {"subnet": {"allocation_pools": [
            {"start": "2001:db8::10%x", "end": "2001:db8::20"}]}}, "2001:db8::10%x"),
        ("POST", "/subnetpools", {"subnetpool": {"name": "p", "prefixes": [ATTACK_NET]}},
         ATTACK_NET),
    ]
    for method, path, body, value in attempts:
        _bad(neutron(cloud, method, path, demo, body), value)
    # a dns server with a scope on an IPv4 subnet too (the version was never checked)
    v4 = make_net(cloud, demo, "10.161.0.0/24")
    _bad(neutron(cloud, "PUT", f"/subnets/{v4.subnet_id}", demo, {"subnet": {
        "dns_nameservers": ["fe80::1%eth0"]}}), "fe80::1%eth0")
    # security group rules
    sg = neutron(cloud, "POST", "/security-groups", demo, {"security_group": {"name": "g"}})
    assert sg.status_code == 201, sg.text
    r = neutron(cloud, "POST", "/security-group-rules", demo, {"security_group_rule": {
        "security_group_id": sg.json()["security_group"]["id"], "direction": "ingress",
        "ethertype": "IPv6", "remote_ip_prefix": ATTACK}})
    refused(r, 400, "InvalidInput", "is not a valid IP subnet")
    # a router's extra routes
    router = neutron(cloud, "POST", "/routers", demo, {"router": {"name": "r"}})
    router_id = router.json()["router"]["id"]
    r = neutron(cloud, "PUT", f"/routers/{router_id}/add_router_interface", demo,
                {"subnet_id": net.subnet_id})
    assert r.status_code == 200, r.text
    r = neutron(cloud, "PUT", f"/routers/{router_id}", demo, {"router": {"routes": [
        {"destination": "2001:db8:9::/64", "nexthop": ATTACK_IP}]}})
    _bad(r, ATTACK_IP)
    # a MAC with a trailing newline ($ matched before it)
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": net.id, "mac_address": "fa:16:3e:00:00:99\n"}})
    refused(r, 400, "InvalidInput", "is not a valid MAC address")
    # nothing of it was stored
    ports = neutron(cloud, "GET", f"/ports?network_id={net.id}", demo).json()["ports"]
    assert "%" not in repr(ports)
    sub = neutron(cloud, "GET", f"/subnets/{net.subnet_id}", demo).json()["subnet"]
    assert "%" not in repr(sub)


def test_what_is_stored_is_canonical(cloud: RunningCloud) -> None:  # noqa: F811
    demo = cloud.token("demo")
    net = _v6(cloud, demo)
    r = neutron(cloud, "POST", "/ports", demo, {"port": {
        "network_id": net.id, "allowed_address_pairs": [
            {"ip_address": "2001:DB8:0::AB"}, {"ip_address": "2001:DB8::/80"}]}})
    assert r.status_code == 201, r.text
    pairs = [p["ip_address"] for p in r.json()["port"]["allowed_address_pairs"]]
    assert pairs == ["2001:db8::ab", "2001:db8::/80"]
    r = neutron(cloud, "PUT", f"/subnets/{net.subnet_id}", demo, {"subnet": {
        "dns_nameservers": ["2001:4860:4860:0:0:0:0:8888"],
        "host_routes": [{"destination": "2001:DB8:7::/64", "nexthop": "2001:DB8::9"}]}})
    assert r.status_code == 200, r.text
    sub = r.json()["subnet"]
    assert sub["dns_nameservers"] == ["2001:4860:4860::8888"]
    assert sub["host_routes"] == [{"destination": "2001:db8:7::/64",
                                   "nexthop": "2001:db8::9"}]
