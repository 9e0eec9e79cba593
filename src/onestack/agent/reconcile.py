"""A small reconcile loop: run a pass when woken or every ``interval`` seconds, forever.

A pass that raises is logged and the loop goes on; ``stop`` cancels it and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class ReconcileLoop:
    def __init__(self, name: str, interval: float, run_pass: Callable[[], Awaitable[None]]
                 ) -> None:
        self.name = name
        self.interval = interval
        self.run_pass = run_pass
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        # For /metrics: failed passes, the last pass's duration and when it ended (monotonic).
        self.errors = 0
        self.last_duration = 0.0
        self.last_end: float | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._main(), name=f"reconcile-{self.name}")

    def wake(self) -> None:
        self._wake.set()

    async def _main(self) -> None:
        while True:
            self._wake.clear()
            started = time.monotonic()
            try:
                await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.errors += 1
                log.exception("%s: reconcile pass failed", self.name)
            self.passes += 1
            self.last_end = time.monotonic()
            self.last_duration = self.last_end - started
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
