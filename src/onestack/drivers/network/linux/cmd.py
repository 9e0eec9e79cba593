"""Running the host's tools: one bounded subprocess per call, errors as NetError."""

from __future__ import annotations

import asyncio
import logging

from onestack.drivers.network.base import NetError

log = logging.getLogger(__name__)
TIMEOUT = 30.0


async def run(argv: list[str], ns: str | None = None, stdin: str | None = None,
              ok_codes: tuple[int, ...] = (0,), timeout: float = TIMEOUT) -> str:
    """Run ``argv`` (inside namespace ``ns`` when given) and return its stdout."""
    if ns is not None:
        argv = ["ip", "netns", "exec", ns, *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except FileNotFoundError as exc:
        raise NetError(f"{argv[0]} is not installed: {exc}") from exc
    except TimeoutError as exc:
        proc.kill()
        raise NetError(f"{' '.join(argv)} took longer than {timeout:.0f}s") from exc
    if proc.returncode not in ok_codes:
        raise NetError(f"{' '.join(argv)} failed ({proc.returncode}): "
                       f"{err.decode(errors='replace').strip()}")
    return out.decode(errors="replace")
