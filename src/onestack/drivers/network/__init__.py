"""Network data plane drivers: the Linux one (ip, nft, dnsmasq) and an in-memory fake."""

from onestack.drivers.network.base import NetDriver, NetError
from onestack.drivers.network.fake import FakeNetDriver

__all__ = ["FakeNetDriver", "NetDriver", "NetError"]
