"""IPAM and rule validation, alone (no database)."""

from __future__ import annotations

import ipaddress

import pytest

from onestack.core.network import ipam
from onestack.core.network.rules import check_rule
from onestack.db.models.network import Subnet
from onestack.errors import BadRequest, Conflict


def test_default_pools_skip_network_broadcast_and_gateway() -> None:
    net = ipaddress.ip_network("10.0.0.0/24")
    assert ipam.default_pools(net, ipaddress.ip_address("10.0.0.1")) == [
        {"start": "10.0.0.2", "end": "10.0.0.254"}]
    assert ipam.default_pools(net, ipaddress.ip_address("10.0.0.100")) == [
        {"start": "10.0.0.1", "end": "10.0.0.99"}, {"start": "10.0.0.101", "end": "10.0.0.254"}]
    assert ipam.default_pools(net, None) == [{"start": "10.0.0.1", "end": "10.0.0.254"}]


def test_pool_validation() -> None:
    net = ipaddress.ip_network("10.0.0.0/24")
    gw = ipaddress.ip_address("10.0.0.1")
    with pytest.raises(BadRequest):
        ipam.validate_pools(net, [{"start": "10.0.0.5", "end": "10.0.1.5"}], gw)
    with pytest.raises(BadRequest):
        ipam.validate_pools(net, [{"start": "10.0.0.9", "end": "10.0.0.5"}], gw)
    with pytest.raises(Conflict):
        ipam.validate_pools(net, [{"start": "10.0.0.1", "end": "10.0.0.5"}], gw)
    with pytest.raises(Conflict):
        ipam.validate_pools(net, [{"start": "10.0.0.2", "end": "10.0.0.9"},
                                  {"start": "10.0.0.8", "end": "10.0.0.20"}], gw)


def test_pick_address_honours_pools_and_used() -> None:
    sub = Subnet(ip_version=4, cidr="10.0.0.0/29", gateway_ip="10.0.0.1",
                 allocation_pools=[{"start": "10.0.0.2", "end": "10.0.0.4"}])
    seen = set()
    for _ in range(3):
        ip = ipam.pick_address(sub, seen)
        assert ip is not None and ip not in seen
        seen.add(ip)
    assert seen == {"10.0.0.2", "10.0.0.3", "10.0.0.4"}
    assert ipam.pick_address(sub, seen) is None


def test_eui64_and_mac() -> None:
    assert ipam.eui64("2001:db8::/64", "fa:16:3e:00:11:22") == "2001:db8::f816:3eff:fe00:1122"
    mac = ipam.random_mac()
    assert mac.startswith("fa:16:3e:") and len(mac) == 17


@pytest.mark.parametrize(("low", "high", "message"), [
    (-16, 80, "Invalid value for port -16"), (80, 79, "port_range_min must be <="),
    (80, 65536, "Invalid value for port 65536"), (None, 6, "port_range_min must be <=")])
def test_rule_port_ranges(low: int | None, high: int | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_rule({"direction": "ingress", "protocol": "tcp", "port_range_min": low,
                    "port_range_max": high})


@pytest.mark.parametrize(("low", "high", "message"), [
    (1, 256, "Invalid value for ICMP code"), (None, 6, "ICMP type \\(port-range-min\\) is "
                                              "missing"), (300, 1, "Invalid value for ICMP type")])
def test_rule_icmp(low: int | None, high: int | None, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        check_rule({"direction": "ingress", "protocol": "icmp", "port_range_min": low,
                    "port_range_max": high})


def test_rule_protocols_and_prefixes() -> None:
    assert check_rule({"direction": "egress", "protocol": 17})["protocol"] == "17"
    for prefix in ("192.168.1./24", "192.168.1.1/33", "bad_prefix", "256"):
        with pytest.raises(BadRequest):
            check_rule({"direction": "ingress", "remote_ip_prefix": prefix})
    with pytest.raises(BadRequest):
        check_rule({"direction": "ingress", "protocol": "bad_protocol_name"})
    with pytest.raises(BadRequest):
        check_rule({"direction": "ingress", "ethertype": "IPv4", "remote_ip_prefix": "::/0"})
