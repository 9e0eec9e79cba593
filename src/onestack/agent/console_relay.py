"""A guest's interactive console (serial or VNC) as a byte stream, from the agent that runs
it: directly for the agent in this process; a remote agent is asked to open it and carry it
over a websocket of its own to the control side (``RemoteConsoles``)."""

from __future__ import annotations

import asyncio

from onestack.agent.compute import ComputeAgent
from onestack.drivers.virt.qemu import console
from onestack.drivers.virt.qemu.cmdline import GuestFiles

Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def open_local(agent: ComputeAgent, uuid: str, protocol: str) -> Stream:
    """The console of a guest of this agent; VirtError when it has none (not running, or a
    driver without consoles)."""
    return await console.open_console(GuestFiles(agent.instance_dir(uuid)), protocol)
