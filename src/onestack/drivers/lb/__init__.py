"""Load balancer data plane drivers: ``haproxy`` (a namespace per load balancer, haproxy for
TCP/HTTP, nftables for UDP) and an in-memory fake."""

from onestack.drivers.lb.base import LbDriver, LbError
from onestack.drivers.lb.fake import FakeLbDriver

__all__ = ["FakeLbDriver", "LbDriver", "LbError"]
