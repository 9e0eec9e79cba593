"""Across API processes: work and questions for a remote agent (two processes' ``Links``) and
identity cache invalidation (two ``Coherence``), joined by the event bus's fake channel (what
PostgreSQL LISTEN/NOTIFY carries between real ones). The agent long-polls process A;
process B writes its work or asks it a question."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from onestack.core.compute.base import Links, RemoteHost
from onestack.core.events.bus import EventBus, FakeChannel
from onestack.core.identity.cache import Coherence
from onestack.db.engine import Database
from onestack.errors import Conflict


async def two_processes() -> tuple[Links, Links, list[EventBus]]:
    channel = FakeChannel()
    buses = [EventBus(channel.transport()), EventBus(channel.transport())]
    a, b = Links(), Links()
    for links, bus in zip((a, b), buses, strict=True):
        await bus.start()
        links.connect(bus)
    return a, b, buses


def polled(links: Links, host: str) -> RemoteHost:
    remote = links.remote(host)
    assert remote is not None
    return remote


def test_work_written_by_another_process_wakes_the_poll() -> None:
    async def main() -> float:
        a, b, _ = await two_processes()
        poll = asyncio.create_task(polled(a, "h1").wait(5))
        await asyncio.sleep(0.01)
        start = time.monotonic()
        b.wake("h1")  # B has never seen h1's agent
        assert await poll
        took = time.monotonic() - start
        assert not await polled(a, "h2").wait(0.05)  # another host's poll stays asleep
        return took

    assert asyncio.run(main()) < 0.5


def test_question_asked_by_one_process_is_answered_through_the_other() -> None:
    async def main() -> None:
        a, b, _ = await two_processes()
        agent_side = polled(a, "h1")
        asked = asyncio.create_task(polled(b, "h1").console_output("u1", 10))
        assert await agent_side.wait(2)  # A's poll woke with B's question
        asks = agent_side.take_asks()
        assert [x["uuid"] for x in asks] == ["u1"]
        await asyncio.sleep(0.01)
        assert polled(b, "h1").take_asks() == []  # taken: not handed out twice
        assert agent_side.answer(asks[0]["id"], "login:", None)  # posted to A, waited on B
        assert await asyncio.wait_for(asked, 2) == "login:"

    asyncio.run(main())


def test_an_error_answer_reaches_the_asker() -> None:
    async def main() -> None:
        a, b, _ = await two_processes()
        asked = asyncio.create_task(polled(b, "h1").console_output("u1", None))
        assert await polled(a, "h1").wait(2)
        ask = polled(a, "h1").take_asks()[0]
        polled(a, "h1").answer(ask["id"], None, "no such guest")
        with pytest.raises(Conflict, match="no such guest"):
            await asyncio.wait_for(asked, 2)

    asyncio.run(main())


def test_one_process_alone_tells_nobody() -> None:
    async def main() -> None:
        bus = EventBus()
        await bus.start()
        links = Links()
        links.connect(bus)  # the local transport: nothing to connect
        assert links.bus is None
        assert not polled(links, "h1").answer("nobody", "x", None)

    asyncio.run(main())


def test_an_identity_write_empties_the_other_process_caches_at_once(tmp_path: Path) -> None:
    async def main() -> None:
        channel = FakeChannel()
        caches = []
        for _ in range(2):
            bus = EventBus(channel.transport())
            await bus.start()
            cache = Coherence(Database(f"sqlite:///{tmp_path / 'c.db'}"), sync_interval=3600)
            cache.connect(bus)
            caches.append(cache)
        a, b = caches
        b.put_token("tok", "validated")
        assert b.get_token("tok") == "validated"
        a.local_change()  # a token revoked through process A
        await asyncio.sleep(0.01)
        assert b.get_token("tok") is None
        assert a.generation == b.generation == 1

    asyncio.run(main())


def test_an_answer_nobody_waits_for_is_refused_in_every_process() -> None:
    async def main() -> None:
        a, b, _ = await two_processes()
        assert not polled(a, "h1").answer("never-asked", "x", None)
        asked = asyncio.create_task(polled(b, "h1").console_output("u1", None))
        assert await polled(a, "h1").wait(2)
        ask = polled(a, "h1").take_asks()[0]
        asked.cancel()  # the asker gives up before the agent answers
        with contextlib.suppress(asyncio.CancelledError):
            await asked
        await asyncio.sleep(0.01)
        assert not polled(a, "h1").answer(ask["id"], "late", None)

    asyncio.run(main())
