"""A port's extra_dhcp_opts: from the declared state through the plan into dnsmasq's hosts
and options files (the files dnsmasq reads on SIGHUP)."""

from __future__ import annotations

from onestack.agent.network_plan import PlanConfig, plan
from onestack.agent.network_state import NetworkInfo, PortInfo, Snapshot, SubnetInfo
from onestack.drivers.network.linux.dnsmasq import hosts_file, opts_file

PORT = "0b7c2ad4-1d3e-4b6f-9a51-6b1f2c3d4e5f"


def _snapshot(opts: list[dict[str, object]]) -> Snapshot:
    net = NetworkInfo("n1", "p", 1450, False, True, "vxlan", None, [SubnetInfo(
        "s1", "n1", "10.0.0.0/24", 4, "10.0.0.1", True, [], [])], segmentation_id=7)
    dhcp = PortInfo("d1", "n1", "", "fa:16:3e:00:00:02", "network:dhcp", "dhcp-h", "h",
                    "ACTIVE", True, False, [("s1", "10.0.0.2")], [], [])
    vm = PortInfo(PORT, "n1", "p", "fa:16:3e:00:00:05", "compute:nova", "vm", "h", "ACTIVE",
                  True, True, [("s1", "10.0.0.5")], [], [], extra_dhcp_opts=opts)
    return Snapshot(networks={"n1": net}, ports={"d1": dhcp, PORT: vm})


def test_extra_dhcp_opts_reach_dnsmasq_files() -> None:
    want = plan(_snapshot([
        {"opt_name": "bootfile-name", "opt_value": "pxelinux.0", "ip_version": 4},
        {"opt_name": "tftp-server", "opt_value": "123.123.123.123", "ip_version": 4},
        {"opt_name": "66", "opt_value": "boot.example", "ip_version": 4},
        {"opt_name": "dns-server", "opt_value": "[2001:db8::53]", "ip_version": 6},
        {"opt_name": "bad name", "opt_value": "x", "ip_version": 4},
        {"opt_name": "domain-search", "opt_value": "a\ndhcp-host=ff,ignore", "ip_version": 4},
    ]), PlanConfig(host="h"))
    cfg = want.dhcp["n1"]
    assert hosts_file(cfg) == f"fa:16:3e:00:00:05,set:{PORT},host-10-0-0-5,10.0.0.5\n"
    opts = opts_file(cfg).splitlines()
    mine = [line for line in opts if line.startswith(f"tag:{PORT},")]
    assert mine == [f"tag:{PORT},option:bootfile-name,pxelinux.0",
                    f"tag:{PORT},option:tftp-server,123.123.123.123",
                    f"tag:{PORT},66,boot.example",
                    f"tag:{PORT},option6:dns-server,[2001:db8::53]"]
    assert not [line for line in opts if "ignore" in line or "bad name" in line]


def test_a_port_without_options_sets_no_tag() -> None:
    cfg = plan(_snapshot([]), PlanConfig(host="h")).dhcp["n1"]
    assert hosts_file(cfg) == "fa:16:3e:00:00:05,host-10-0-0-5,10.0.0.5\n"
    assert PORT not in opts_file(cfg)
