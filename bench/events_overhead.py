"""The CPU cost of the event capture hook (core/events/capture.py) per write transaction.

    .venv/bin/python bench/events_overhead.py

Timed in process, without the database (whose time the machine's load would drown): what
the hook does for a transaction that changes one network's status (after the flush: the
changed rows with their status history; after the commit: one event per resource, stamped,
into the bus's ring and a subscriber's queue), and the same for 20 ports at once. A bulk
UPDATE costs one more SELECT of the rows it matches (a database round trip, not timed here).
"""

from __future__ import annotations

import asyncio
import functools
import timeit
import uuid

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from onestack.core.events.bus import EventBus, Filter
from onestack.core.events.capture import _merge, _now, changes
from onestack.db.models import Base
from onestack.db.models.network import Network, Port

N = 2000


def _session(rows: list[object]) -> Session:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine, tables=[Base.metadata.tables["net_network"],
                                             Base.metadata.tables["net_port"]])
    session = Session(engine, expire_on_commit=False)
    session.add_all(rows)
    session.commit()
    return session


async def main() -> None:
    bus = EventBus()
    await bus.start()
    sub, _ = bus.subscribe(Filter(None))
    net = Network(id=str(uuid.uuid4()), project_id="p" * 32, name="bench", status="ACTIVE")
    ports = [Port(id=str(uuid.uuid4()), project_id="p" * 32, name=f"p{i}", network_id=net.id,
                  mac_address=f"fa:16:3e:00:00:{i:02x}", status="DOWN") for i in range(20)]
    session = _session([net, *ports])

    def transaction(objs: list[Network | Port]) -> None:
        for obj in objs:
            obj.status = "DOWN" if obj.status == "ACTIVE" else "ACTIVE"
        found = changes(session)  # after_flush
        bus.publish(_merge(found, _now()))  # after_commit
        while not sub.queue.empty():
            sub.queue.get_nowait()

    cases: list[tuple[str, list[Network | Port]]] = [("1 network", [net]),
                                                     ("20 ports", list(ports))]
    for label, objs in cases:
        best = min(timeit.repeat(functools.partial(transaction, objs), number=N, repeat=5)) / N
        print(f"hook per transaction changing {label}: {best * 1e6:.0f} us")
    session.close()


if __name__ == "__main__":
    asyncio.run(main())
