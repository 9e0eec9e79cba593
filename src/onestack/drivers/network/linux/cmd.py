"""Running the host's tools for the network data plane: errors as NetError."""

from __future__ import annotations

from onestack.drivers import hostcmd
from onestack.drivers.network.base import NetError

TIMEOUT = hostcmd.TIMEOUT


async def run(argv: list[str], ns: str | None = None, stdin: str | None = None,
              ok_codes: tuple[int, ...] = (0,), timeout: float = TIMEOUT) -> str:
    """Run ``argv`` (inside namespace ``ns`` when given) and return its stdout."""
    return await hostcmd.run(argv, NetError, ns=ns, stdin=stdin, ok_codes=ok_codes,
                             timeout=timeout)
