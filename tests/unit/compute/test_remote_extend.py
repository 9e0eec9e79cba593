"""Growing an attached volume in a remote host's running guest: the question goes to the
agent with its next poll, its answer says whether the guest has the new size; no answer in
time leaves it to the volume backend."""

from __future__ import annotations

import asyncio

import pytest

from onestack.core.compute import base
from onestack.core.compute.base import EXTENDED, RemoteHost
from onestack.errors import Conflict


async def _answered(host: RemoteHost, output: str | None, error: str | None = None) -> bool:
    asking = asyncio.create_task(host.extend_volume("u1", "v1", 2 * 1024**3))
    await asyncio.sleep(0)
    (ask,) = host.take_asks()
    assert ask["kind"] == "extend_volume" and ask["uuid"] == "u1"
    assert (ask["volume_id"], ask["size_bytes"]) == ("v1", 2 * 1024**3)
    assert host.answer(ask["id"], output, error)
    return await asking


async def test_the_agents_answer_says_whether_the_guest_grew() -> None:
    assert await _answered(RemoteHost("h1"), EXTENDED) is True
    assert await _answered(RemoteHost("h1"), "offline") is False


async def test_an_agent_error_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="block_resize failed"):
        await _answered(RemoteHost("h1"), None, "block_resize failed")


async def test_no_answer_in_time_leaves_it_to_the_backend(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(base, "ASK_TIMEOUT", 0.05)
    host = RemoteHost("h1")
    assert await host.extend_volume("u1", "v1", 1) is False
    assert host.take_asks() == []  # the question is withdrawn
