"""The event bus: filters, the resume ring, slow subscribers dropped (never waited for),
publishing from a worker thread, fan-out between processes (the fake channel), the NOTIFY
payload split, and the per-transaction merge of the capture hook."""

from __future__ import annotations

import asyncio
import threading

from onestack.core.events import bus as bus_mod
from onestack.core.events.bus import Event, EventBus, FakeChannel, Filter
from onestack.core.events.capture import _merge
from onestack.core.events.pg import MAX_PAYLOAD, parse, payloads


def ev(rid: str = "r1", project: str = "p1", kind: str = "server", action: str = "update",
       old: str | None = "BUILD", new: str | None = "ACTIVE") -> Event:
    return Event(kind, rid, project, action, old, new, "n", "2026-12-07T00:00:00.000000Z",
                 None)


def test_filters_and_resume() -> None:
    async def main() -> None:
        bus = EventBus(ring_size=3)
        await bus.start()
        mine, _ = bus.subscribe(Filter("p1", frozenset({"server"})))
        one, _ = bus.subscribe(Filter(None, resource_id="r2"))
        bus.publish([ev("r1"), ev("r2", project="p2"), ev("r3", kind="volume")])
        got = await mine.next(1)
        assert got is not None and got.resource_id == "r1"
        assert await mine.next(0.01) is None  # p2's and the volume are not for it
        got = await one.next(1)
        assert got is not None and got.resource_id == "r2"
        first = bus.event_id(bus.ring[0])
        again, resumed = bus.subscribe(Filter(None), first)
        replayed = [await again.next(1) for _ in range(2)]
        assert resumed and [e.resource_id for e in replayed if e] == ["r2", "r3"]
        bus.publish([ev("r4"), ev("r5")])  # the ring (3) forgets r1 and r2
        _, resumed = bus.subscribe(Filter(None), first)
        assert not resumed
        _, resumed = bus.subscribe(Filter(None), "another-process-7")
        assert not resumed
        await bus.stop()

    asyncio.run(main())


def test_a_slow_subscriber_is_dropped_and_writers_go_on() -> None:
    async def main() -> None:
        bus = EventBus()
        await bus.start()
        slow, _ = bus.subscribe(Filter(None))
        for i in range(bus_mod.QUEUE_SIZE + 5):
            bus.publish([ev(f"r{i}")])
        assert slow.dropped.is_set() and bus.subscribers == 0
        assert len(bus.ring) == bus_mod.QUEUE_SIZE + 5
        await bus.stop()

    asyncio.run(main())


def test_publish_from_a_worker_thread_reaches_the_loop() -> None:
    async def main() -> None:
        bus = EventBus()
        await bus.start()
        sub, _ = bus.subscribe(Filter(None))
        t = threading.Thread(target=bus.publish, args=([ev("threaded")],))
        t.start()
        t.join()
        got = await sub.next(1)
        assert got is not None and got.resource_id == "threaded"

    asyncio.run(main())


def test_the_fake_channel_carries_events_to_the_other_processes_once() -> None:
    async def main() -> None:
        channel = FakeChannel()
        a, b = EventBus(channel.transport()), EventBus(channel.transport())
        await a.start()
        await b.start()
        on_a, _ = a.subscribe(Filter(None))
        on_b, _ = b.subscribe(Filter(None))
        a.publish([ev("x")])
        got_a, got_b = await on_a.next(1), await on_b.next(1)
        assert got_a is not None and got_b is not None and got_b.resource_id == "x"
        assert await on_a.next(0.05) is None  # not echoed back to its sender
        await b.stop()
        assert len(channel.members) == 1

    asyncio.run(main())


def test_notify_payloads_stay_under_the_limit_and_parse_back() -> None:
    events = [ev(f"r{i}" * 20) for i in range(100)]
    out = payloads("origin1", events)
    assert len(out) > 1 and all(len(p.encode()) <= MAX_PAYLOAD for p in out)
    back = [e for p in out for e in parse(p)[1]]
    assert back == events and parse(out[0])[0] == "origin1"


def test_merge_keeps_one_event_per_resource_and_transaction() -> None:
    merged = _merge([ev("a", action="create", old=None, new="BUILD"),
                     ev("a", old="BUILD", new="ACTIVE"),
                     ev("b", old="ACTIVE", new="DELETED", action="delete"),
                     ev("b", old="DELETED", new="DELETED"),
                     ev("c", action="create"), ev("c", action="delete")], "T")
    assert [(e.resource_id, e.action, e.old_status, e.new_status, e.timestamp)
            for e in merged] == [("a", "create", None, "ACTIVE", "T"),
                                 ("b", "delete", "ACTIVE", "DELETED", "T")]
