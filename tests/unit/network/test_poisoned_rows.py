"""Defence in depth (security review finding 6): a row holding a non-canonical address (an
IPv6 scope id carrying nft or dnsmasq syntax, a MAC with a trailing newline) costs its own
port the value, never the host-wide tables of every other tenant: the rule builders and the
dnsmasq file writers skip it with a warning and emit everything else."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from onestack.agent.network_plan import PlanConfig, plan
from onestack.agent.network_rules import filter_table, l2_table, nat_table, port_addresses
from onestack.agent.network_state import (
    FloatingIPInfo,
    NetworkInfo,
    PortInfo,
    RouterInfo,
    RuleInfo,
    Snapshot,
    SubnetInfo,
)
from onestack.drivers.network import names
from onestack.drivers.network.addresses import is_address, is_mac, is_prefix
from onestack.drivers.network.base import DhcpConfig, DhcpHost, DhcpSubnet
from onestack.drivers.network.linux.dnsmasq import hosts_file, opts_file
from onestack.drivers.network.linux.nft import script

ATTACK = "2001:db8::1%x }\n}\nflush ruleset\n#/128"
GROUP = "11111111-aaaa-bbbb-cccc-000000000001"


def _port(n: int, pairs: list[dict[str, str]], fixed: list[tuple[str, str]] | None = None,
          mac: str | None = None) -> PortInfo:
    return PortInfo(
        id=f"3333333{n}-aaaa-bbbb-cccc-00000000000{n}", network_id="n", project_id="p",
        mac=mac or f"fa:16:3e:00:02:0{n}", device_owner="compute:nova", device_id="d",
        host="h", status="DOWN", admin_state_up=True, port_security=True,
        fixed_ips=fixed or [("s", f"10.0.0.{n + 2}"), ("s6", f"2001:db8::{n + 2}")],
        allowed_address_pairs=pairs, security_groups=[GROUP])


def _tables() -> tuple[str, list[PortInfo]]:
    poisoned = [
        _port(0, [{"ip_address": ATTACK, "mac_address": "fa:16:3e:00:02:00"},
                  {"ip_address": "10.0.9.0/24", "mac_address": "fa:16:3e:00:09:09\n"}],
              fixed=[("s", "10.0.0.2"), ("s6", "2001:db8::2%eth0\n}")]),
        _port(1, [], mac="fa:16:3e:00:02:01\n"),
    ]
    good = _port(2, [{"ip_address": "10.0.8.0/24", "mac_address": "fa:16:3e:00:08:08"}])
    ports = [*poisoned, good]
    rules = [RuleInfo("ingress", "IPv6", "tcp", 22, 22, ATTACK, None),
             RuleInfo("ingress", "IPv4", "tcp", 80, 80, "10.5.0.0/16", None),
             RuleInfo("ingress", "IPv4", None, None, None, None, GROUP)]
    snap = Snapshot(groups={GROUP: rules}, ports={p.id: p for p in ports})
    index = {p.id: i + 1 for i, p in enumerate(ports)}
    text = script("bridge", "onestack-check-l2", l2_table(ports, index))
    text += script("inet", "onestack-check-filter",
                   filter_table(snap, ports, index, {"n": "onb-check"}))
    text += script("ip", "onestack-check-nat", nat_table(
        "qg-check", "172.24.4.10%x", ["10.0.0.0/24", ATTACK],
        [("172.24.4.20", "10.0.0.2"), ("172.24.4.21%x\n", "10.0.0.3")]))
    return text, ports


def test_the_validators_take_canonical_text_only() -> None:
    assert is_address("2001:db8::1") and is_address("10.0.0.1")
    for bad in (ATTACK, "2001:db8::1%x", "2001:DB8::1", "10.0.0.1\n", " 10.0.0.1", 5, None):
        assert not is_address(bad), bad
    assert is_prefix("10.0.0.0/24") and is_prefix("10.0.0.5/24")
    assert not is_prefix(ATTACK) and not is_prefix("10.0.0.1") and not is_prefix("10.0/8")
    assert is_mac("fa:16:3e:00:00:01") and not is_mac("fa:16:3e:00:00:01\n")


def test_poisoned_rows_are_skipped_and_the_others_emitted(
        caplog: pytest.LogCaptureFixture) -> None:
    text, ports = _tables()
    assert "%" not in text and "flush ruleset" not in text
    # the good port keeps its anti-spoofing and its security group chains
    good = ports[2]
    macs, v4, v6 = port_addresses(good)
    assert macs == ["fa:16:3e:00:02:02", "fa:16:3e:00:08:08"]
    assert v4 == ["10.0.0.4", "10.0.8.0/24"] and "2001:db8::4" in v6
    assert "ip saddr != { 10.0.0.4, 10.0.8.0/24 } drop" in text
    assert "ip saddr 10.5.0.0/16 meta l4proto 6 th dport 80 accept" in text
    assert "elements = { 10.0.0.2, 10.0.0.4, 10.0.8.0/24 }" in text  # remote group members
    # the poisoned port keeps what was valid; the port with a bad MAC sends nothing
    assert port_addresses(ports[0])[1] == ["10.0.0.2"]
    assert "2001:db8::2" not in port_addresses(ports[0])[2]
    assert port_addresses(ports[1]) == ([], [], [])
    assert "ip daddr 172.24.4.20 dnat to 10.0.0.2" in text and "snat to 172.24.4.10" not in text
    assert "skipping address pair" in caplog.text


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None,
                    reason="nft --check needs root and nftables")
def test_the_tables_with_poisoned_rows_are_valid_nftables() -> None:
    text, _ports = _tables()
    proc = subprocess.run(["nft", "--check", "-f", "-"], input=text, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr + "\n" + text


def test_dnsmasq_files_take_no_injected_lines() -> None:
    cfg = DhcpConfig(
        "net", "ns", "ns-1", 1450,
        [DhcpSubnet("s4", "10.0.0.0/24", 4, "10.0.0.1",
                    ["8.8.8.8", "1.1.1.1\ndhcp-host=fa:16:3e:00:00:09,ignore"],
                    [("10.9.0.0/16", "10.0.0.9"), ("10.8.0.0/16", ATTACK)]),
         DhcpSubnet("s6", "2001:db8::/64", 6, "2001:db8::1%x\n", [ATTACK, "2001:4860::8888"])],
        [DhcpHost("fa:16:3e:00:00:05", "10.0.0.5", "host-10-0-0-5"),
         DhcpHost("fa:16:3e:00:00:06", ATTACK, "host-x"),
         DhcpHost("fa:16:3e:00:00:07\nfa:16:3e:00:00:09,ignore", "10.0.0.7", "host-10-0-0-7"),
         DhcpHost("fa:16:3e:00:00:08", "10.0.0.8", "host\n8")])
    hosts = hosts_file(cfg)
    assert hosts == "fa:16:3e:00:00:05,host-10-0-0-5,10.0.0.5\n"
    opts = opts_file(cfg)
    assert "ignore" not in opts and "%" not in opts and "flush" not in opts
    assert "tag:s0,option:dns-server,8.8.8.8\n" in opts
    assert "tag:s0,option:classless-static-route,10.9.0.0/16,10.0.0.9,0.0.0.0/0,10.0.0.1" \
        in opts
    assert "tag:s1,option6:dns-server,[2001:4860::8888]" in opts


def _public_router(gw_ip: str, fip: str) -> Snapshot:
    pub = NetworkInfo("pub", "admin", 1500, True, True, "flat", "public", [SubnetInfo(
        "pub-s", "pub", "172.24.4.0/24", 4, "172.24.4.1", False, [], [])])
    gw = PortInfo("gw-port", "pub", "", "fa:16:3e:00:0a:01", "network:router_gateway", "r1",
                  "", "DOWN", True, False, [("pub-s", gw_ip)], [], [])
    return Snapshot(networks={"pub": pub}, ports={"gw-port": gw},
                    routers={"r1": RouterInfo("r1", "p", True, "gw-port", "pub", True, [])},
                    floatingips=[FloatingIPInfo("f1", fip, "10.0.0.5", "x", "r1", "DOWN")])


def test_nothing_is_plugged_with_the_hosts_own_address_on_the_external_bridge() -> None:
    cfg = PlanConfig(host="h", host_cidr="172.24.4.1/24")
    ok = plan(_public_router("172.24.4.10", "172.24.4.20"), cfg)
    assert any(v.host_name == names.veth_host("gw-port") for v in ok.veths)
    assert ok.active_fips == ["f1"]
    bad = plan(_public_router("172.24.4.1", "172.24.4.20"), cfg)
    assert not any(v.host_name == names.veth_host("gw-port") for v in bad.veths)
    fip = plan(_public_router("172.24.4.10", "172.24.4.1"), cfg)
    assert fip.active_fips == [] and "172.24.4.1/32" not in repr(fip.addresses)
