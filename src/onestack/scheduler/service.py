"""Placement, assembled: one object the API layer (and later the compute scheduler) calls."""

from __future__ import annotations

from onestack.db.engine import Database
from onestack.scheduler.allocations import Allocations
from onestack.scheduler.candidates import Candidates
from onestack.scheduler.catalog import Catalog
from onestack.scheduler.hosts import HostRequest, HostSelection, select_hosts
from onestack.scheduler.inventory import Inventories
from onestack.scheduler.providers import Providers


class Placement:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.providers = Providers(db)
        self.inventories = Inventories(db)
        self.allocations = Allocations(db)
        self.catalog = Catalog(db)
        self.candidates = Candidates(db)

    async def select_hosts(self, request: HostRequest) -> HostSelection:
        return await select_hosts(self.candidates, request)
