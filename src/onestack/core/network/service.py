"""The network core, assembled: one object the API layer calls."""

from __future__ import annotations

from collections.abc import Callable

from onestack.core.network.agents import Agents
from onestack.core.network.floatingips import FloatingIPs
from onestack.core.network.metering import MeteringLabels, MeteringRules
from onestack.core.network.networks import Networks
from onestack.core.network.pools import SubnetPools
from onestack.core.network.ports import Ports
from onestack.core.network.quotas import Quotas
from onestack.core.network.routers import Routers
from onestack.core.network.security_groups import SecurityGroups
from onestack.core.network.subnets import Subnets
from onestack.core.network.tags import Tags
from onestack.db.engine import Database


class NetworkService:
    def __init__(self, db: Database) -> None:
        self.networks = Networks(db)
        self.subnets = Subnets(db)
        self.subnetpools = SubnetPools(db)
        self.ports = Ports(db)
        self.routers = Routers(db)
        self.floatingips = FloatingIPs(db)
        self.security_groups = SecurityGroups(db)
        self.quotas = Quotas(db)
        self.tags = Tags(db)
        self.agents = Agents(db)
        self.metering_labels = MeteringLabels(db)
        self.metering_rules = MeteringRules(db)
        self.listeners: list[Callable[[], None]] = []
        for store in (self.networks, self.subnets, self.subnetpools, self.ports, self.routers,
                      self.floatingips, self.security_groups, self.quotas, self.tags):
            store.on_commit = self.changed

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every committed change (e.g. to wake the data plane)."""
        self.listeners.append(listener)

    def changed(self) -> None:
        for listener in self.listeners:
            listener()
