"""Many fake compute hosts beside a running Onestack, on the same database.

    .venv/bin/python bench/compute_farm.py --config onestack.toml --data-dir DIR
        --hosts 999 [--prefix bench-host] [--interval 20] --state STATE.json

Each host is Onestack's own compute agent (``ComputeAgent``) with its own in-memory
``FakeVirtDriver``: it registers its host the way every agent does (service, hypervisor,
resource provider with inventories), heartbeats, and builds and deletes the servers
scheduled onto it, all through the compute core. They run in this process, not in the
server's, so that the server's CPU can be measured alone; the server's scheduler reaches
them through the database only (its in-process wake-ups do not cross processes), so they
pick up new work at their next pass (every ``--interval`` seconds).

Control, for the bench: SIGUSR1 pauses every agent's passes (no heartbeats, no work),
SIGUSR2 resumes them; the state file (JSON) says how many hosts are registered, whether the
farm is paused, and after a resume when every agent has completed a pass again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from onestack.agent.compute import ComputeAgent
from onestack.agent.link import LocalLink
from onestack.config import load_settings
from onestack.core.compute.service import Compute
from onestack.core.image.service import ImageService
from onestack.core.network.service import NetworkService
from onestack.db.engine import Database
from onestack.drivers.virt.fake import FakeVirtDriver
from onestack.scheduler.service import Placement


class Farm:
    def __init__(self, args: argparse.Namespace) -> None:
        settings = load_settings(args.config, data_dir=args.data_dir)
        self.db = Database(settings.database_url, pool_size=settings.database.pool_size)
        placement = Placement(self.db)
        image = ImageService(settings, self.db)
        self.compute = Compute(settings, self.db, placement, image, NetworkService(self.db))
        link = LocalLink(self.compute, image)
        self.agents = [
            ComputeAgent(
                link,
                FakeVirtDriver(hostname=f"{args.prefix}-{i:04d}"),
                settings.instances_path,
                args.interval,
            )
            for i in range(args.hosts)
        ]
        self.state_path: Path = args.state
        self.paused = False
        self.passes = [0] * len(self.agents)
        self.registered = 0
        self.resumed_at = 0.0
        self.all_passed_at = 0.0
        self.baseline = list(self.passes)
        for i, agent in enumerate(self.agents):
            agent.loop.run_pass = self._gated(i, agent.reconcile)

    def _gated(self, i: int, run: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run_pass() -> None:
            if self.paused:
                return
            await run()
            self.passes[i] += 1

        return run_pass

    def write_state(self, **extra: object) -> None:
        state = {
            "hosts": len(self.agents),
            "registered": self.registered,
            "paused": self.paused,
            "resumed_at": self.resumed_at,
            "all_passed_at": self.all_passed_at,
            "time": time.time(),
            **extra,
        }
        tmp = self.state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self.state_path)

    async def run(self) -> None:
        started = time.monotonic()
        for agent in self.agents:
            await agent.start()  # registers the host and starts its reconcile loop
            self.registered += 1
            if self.registered % 100 == 0:
                self.write_state()
        self.write_state(register_s=round(time.monotonic() - started, 1))
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGUSR1, self.pause)
        loop.add_signal_handler(signal.SIGUSR2, self.resume)
        waiter = asyncio.create_task(stop.wait())
        while not stop.is_set():
            await asyncio.wait([waiter], timeout=1.0)
            if (
                self.resumed_at
                and not self.all_passed_at
                and all(n > b for n, b in zip(self.passes, self.baseline, strict=True))
            ):
                self.all_passed_at = time.time()
                self.write_state()
        for agent in self.agents:
            await agent.stop()
        await self.db.close()

    def pause(self) -> None:
        self.paused = True
        self.resumed_at = self.all_passed_at = 0.0
        self.write_state()

    def resume(self) -> None:
        self.paused = False
        self.baseline = list(self.passes)
        self.resumed_at = time.time()
        self.all_passed_at = 0.0
        for agent in self.agents:
            agent.wake()
        self.write_state()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--hosts", type=int, required=True)
    p.add_argument("--prefix", default="bench-host")
    p.add_argument("--interval", type=float, default=20.0)
    p.add_argument("--state", type=Path, required=True)
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(Farm(args).run())


if __name__ == "__main__":
    main()
