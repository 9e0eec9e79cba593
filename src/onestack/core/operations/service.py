"""One object per API process: the request metrics, the audit trail, and the scrape."""

from __future__ import annotations

from collections.abc import Iterable

from onestack.config import Settings
from onestack.context import RequestContext
from onestack.core.events import make_bus
from onestack.core.operations import collect
from onestack.core.operations.audit import AuditTrail
from onestack.core.operations.dbtime import TransactionTimes
from onestack.core.operations.metrics import RequestMetrics, exposition
from onestack.db.engine import Database
from onestack.drivers.virt.base import VirtDriver

UNMATCHED = "unmatched"  # the route label of a path no route matches (404/405)


class Operations:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.instances = settings.instances_path
        self.token = settings.metrics.token
        self.requests = RequestMetrics()
        self.audit = AuditTrail(db, settings.metrics.audit_days)
        self.transactions = TransactionTimes(db)
        self.events = make_bus(db)  # resource state changes, for /operator/v1/events

    def observe(self, ctx: RequestContext, service: str, method: str,
                matched: tuple[str | None, dict[str, str]], status: int, seconds: float
                ) -> None:
        """The middleware's one call per answered API request; ``matched`` is the route
        template and path parameters dispatch found."""
        route, params = matched
        template = route if route is not None else UNMATCHED
        self.requests.observe(service, method, template, status, seconds)
        self.audit.record(ctx, service, method, template, params, status)

    async def render(self, loops: Iterable[collect.HostLoop], driver: VirtDriver | None
                     ) -> str:
        families = [*self.requests.families(), self.transactions.histogram.family()]
        families += await collect.scrape(self.db, loops, driver, self.instances)
        return exposition(families)

    async def start(self) -> None:
        await self.audit.start()
        await self.events.start()

    async def stop(self) -> None:
        await self.audit.stop()
        await self.events.stop()
