"""Resource state changes as events: captured where the database commits them
(``capture``), fanned out to subscribers in this process and the others (``bus``, ``pg``)."""

from __future__ import annotations

from onestack.core.events.bus import EventBus, Transport
from onestack.core.events.capture import attach
from onestack.db.engine import Database


def make_bus(db: Database) -> EventBus:
    """The bus of this API process, listening on ``db``'s commits; on PostgreSQL it also
    reaches the cloud's other API processes through LISTEN/NOTIFY."""
    transport: Transport | None = None
    if not db.is_sqlite:
        from onestack.core.events.pg import PgNotifyTransport

        transport = PgNotifyTransport(db.url)
    bus = EventBus(transport)
    attach(db, bus)
    return bus
