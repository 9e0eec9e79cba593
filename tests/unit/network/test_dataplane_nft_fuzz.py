"""Hypothesis-generated security groups and ports: the tables the agent builds are always
valid nftables (checked with ``nft --check``, which changes nothing; needs root and nft)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.agent.network_plan import PlanConfig, uplink_table
from onestack.agent.network_rules import filter_table, l2_table, nat_table
from onestack.agent.network_state import PortInfo, RuleInfo, Snapshot
from onestack.drivers.network.linux.nft import script

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None,
                                reason="nft --check needs root and nftables")

GROUPS = ["11111111-aaaa-bbbb-cccc-000000000001", "11111111-aaaa-bbbb-cccc-000000000002"]
ports_range = st.integers(0, 65535)
rules = st.builds(
    RuleInfo,
    direction=st.sampled_from(["ingress", "egress"]),
    ethertype=st.sampled_from(["IPv4", "IPv6"]),
    protocol=st.sampled_from([None, "tcp", "udp", "icmp", "icmpv6", "ipv6-icmp", "sctp",
                              "gre", "112", "0", "any", "udplite", "dccp"]),
    port_range_min=st.one_of(st.none(), st.integers(0, 255)),
    port_range_max=st.one_of(st.none(), st.integers(0, 255)),
    remote_ip_prefix=st.sampled_from([None, "0.0.0.0/0", "10.1.0.0/16", "192.168.1.7/32",
                                      "::/0", "2001:db8::/64"]),
    remote_group_id=st.sampled_from([None, *GROUPS]))
macs = st.sampled_from(["fa:16:3e:00:00:01", "fa:16:3e:12:34:56"])
pairs = st.lists(st.fixed_dictionaries({
    "ip_address": st.sampled_from(["10.0.0.100", "10.9.0.0/24", "2001:db8::9"]),
    "mac_address": macs}), max_size=2)


def _valid(rule: RuleInfo) -> RuleInfo:
    # What the API accepts: port ranges min <= max, only with port protocols or ICMP.
    if rule.port_range_min is not None and rule.port_range_max is not None and \
            rule.port_range_max < rule.port_range_min:
        rule.port_range_max = rule.port_range_min
    return rule


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(group_rules=st.lists(rules, max_size=6), pair_lists=st.lists(pairs, min_size=1,
                                                                      max_size=3),
       v6=st.booleans())
def test_generated_tables_are_valid_nftables(group_rules: list[RuleInfo],
                                             pair_lists: list[list[dict[str, str]]],
                                             v6: bool) -> None:
    snap = Snapshot(groups={GROUPS[0]: [_valid(r) for r in group_rules], GROUPS[1]: []})
    ports = []
    for i, pl in enumerate(pair_lists):
        fixed = [("s", f"10.0.0.{i + 2}")] + ([("s6", f"2001:db8::{i + 2}")] if v6 else [])
        ports.append(PortInfo(
            id=f"2222222{i}-aaaa-bbbb-cccc-00000000000{i}", network_id="n", project_id="p",
            mac=f"fa:16:3e:00:01:0{i}", device_owner="compute:nova", device_id="d", host="h",
            status="DOWN", admin_state_up=True, port_security=True, fixed_ips=fixed,
            allowed_address_pairs=pl, security_groups=[GROUPS[i % 2]]))
        snap.ports[ports[-1].id] = ports[-1]
    index = {p.id: i + 1 for i, p in enumerate(ports)}
    text = script("bridge", "onestack-check-l2", l2_table(ports, index))
    text += script("inet", "onestack-check-filter",
                   filter_table(snap, ports, index, {"n": "onb-check"}))
    text += script("ip", "onestack-check-nat", nat_table(
        "qg-check", "172.24.4.10", ["10.0.0.0/24"], [("172.24.4.20", "10.0.0.2")]))
    for masquerade in (False, True):
        cfg = PlanConfig(host="h", masquerade_uplink=masquerade)
        text += script("inet", f"onestack-check-uplink{int(masquerade)}", uplink_table(cfg))
    proc = subprocess.run(["nft", "--check", "-f", "-"], input=text, capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr + "\n" + text
