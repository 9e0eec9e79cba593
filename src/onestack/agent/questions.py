"""Questions the controller asks a compute agent with its work poll, answered over the link:
a guest's console output, an in-use volume extend in the running guest, or an interactive
console to carry (``console_relay``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from onestack.agent import console_relay
from onestack.core.compute.base import EXTENDED
from onestack.drivers.virt.base import VirtError

if TYPE_CHECKING:
    from onestack.agent.compute import ComputeAgent

log = logging.getLogger("onestack.agent.compute")


async def answer(agent: ComputeAgent, ask: dict[str, Any]) -> None:
    """Answer one question; a failure is the answer's error, never the agent's."""
    kind = ask.get("kind")
    if kind == console_relay.STREAM_KIND:  # an interactive console, carried
        await console_relay.carry(agent, ask)
        return
    uuid, output, error = str(ask.get("uuid")), None, None
    try:
        if kind == "extend_volume":
            grown = await agent.extend_volume(uuid, str(ask.get("volume_id")),
                                              int(ask.get("size_bytes") or 0))
            output = EXTENDED if grown else "offline"
        elif kind == "console":
            length = ask.get("length")
            output = await agent.console_output(uuid, None if length is None else int(length))
        else:
            raise VirtError(f"unknown question {kind!r}")
    except (VirtError, OSError, ValueError) as exc:
        error = (f"The console of instance {uuid} cannot be read on host {agent.host}: {exc}"
                 if kind == "console" else f"Instance {uuid} on host {agent.host}: {exc}")
    try:
        await agent.link.answer(agent.host, uuid, str(ask.get("id")), output, error)
    except Exception as exc:
        log.info("answer to %s not delivered: %s", ask.get("id"), exc)
