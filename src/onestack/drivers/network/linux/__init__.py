"""The Linux data plane: iproute2 (namespaces, bridges, veth, taps), nftables, dnsmasq."""

from onestack.drivers.network.linux.driver import LinuxNetDriver, missing_tools

__all__ = ["LinuxNetDriver", "missing_tools"]
