"""Load balancer data plane drivers, chosen by name from ``DRIVERS``: ``haproxy`` (a
namespace per load balancer, haproxy for TCP/HTTP, nftables for UDP) and an in-memory
fake."""

from onestack.drivers.lb.base import LbDriver, LbError
from onestack.drivers.lb.fake import FakeLbDriver
from onestack.drivers.lb.haproxy import HaproxyLbDriver

DRIVERS: dict[str, type[LbDriver]] = {"fake": FakeLbDriver, "haproxy": HaproxyLbDriver}

__all__ = ["DRIVERS", "FakeLbDriver", "HaproxyLbDriver", "LbDriver", "LbError"]
