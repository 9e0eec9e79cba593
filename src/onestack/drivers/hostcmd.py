"""Running the host's command-line tools: one bounded subprocess per call, its failure raised
as the calling driver's own error class."""

from __future__ import annotations

import asyncio
import contextlib

TIMEOUT = 30.0
ERR_TAIL = 2000  # characters of a failed tool's stderr kept in the error


async def run(argv: list[str], error: type[Exception], ns: str | None = None,
              stdin: str | None = None, ok_codes: tuple[int, ...] = (0,),
              timeout: float = TIMEOUT) -> str:
    """Run ``argv`` (inside network namespace ``ns`` when given) and return its stdout; a
    missing tool, a timeout or an exit status outside ``ok_codes`` raises ``error``."""
    if ns is not None:
        argv = ["ip", "netns", "exec", ns, *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except FileNotFoundError as exc:
        raise error(f"{argv[0]} is not installed: {exc}") from exc
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(stdin.encode() if stdin is not None else None), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        raise error(f"{' '.join(argv)} took longer than {timeout:.0f}s") from exc
    if proc.returncode not in ok_codes:
        why = (err or out).decode(errors="replace").strip()[-ERR_TAIL:]
        raise error(f"{' '.join(argv)} failed ({proc.returncode}): {why}")
    return out.decode(errors="replace")
