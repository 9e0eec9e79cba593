"""The version of the agent protocol (``onestack agent`` to its controller's internal API).

Compatibility rule: a controller of protocol N serves agents of N and N-1, so an upgrade
restarts the API servers first and the agents after them. An agent names its protocol in a
header on every request (an agent from before the header is protocol 1) and, with its
release, in its heartbeat's body. Anything outside N-1..N gets a 409 that says which side to
upgrade.

What a controller sends an agent stays readable by the older agent: the agent builds its
dataclasses from the fields it gets (``Cls(**fields)``), so every field added later has a
default and ``wire`` leaves out each field that holds its default (an older agent sees a
new field only where it is in use). A record that uses a field newer than the agent's
protocol (``INTRODUCED``) is withheld from it (``understands``): an agent one release older
does not attach an encrypted volume until it is upgraded, and reconciles the rest. Never
change the default of a field agents receive.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from onestack.errors import BadRequest, Conflict

PROTOCOL = 2  # 2: the header and the heartbeat's version; VolumeDisk.encrypted and key
OLDEST = PROTOCOL - 1
HEADER = "Onestack-Agent-Protocol"
# (record type, field) -> the protocol that brought the field
INTRODUCED: dict[tuple[str, str], int] = {("VolumeDisk", "encrypted"): 2,
                                          ("VolumeDisk", "key"): 2}


def wire(value: Any) -> dict[str, Any]:
    """A dataclass as JSON for an agent: the fields that differ from their defaults."""
    defaults = {f.name: f.default if f.default_factory is dataclasses.MISSING
                else f.default_factory() for f in dataclasses.fields(value)}
    return {name: v for name, v in dataclasses.asdict(value).items()
            if defaults[name] is dataclasses.MISSING or v != defaults[name]}


def understands(agent: int, value: Any) -> bool:
    """Whether an agent of protocol ``agent`` knows every field ``wire(value)`` sends."""
    kind = type(value).__name__
    return all(INTRODUCED.get((kind, name), 1) <= agent for name in wire(value))


def of(header: str | None) -> int:
    """The protocol a request's header names (none: 1, the agents from before it)."""
    if header is None:
        return 1
    try:
        return int(header)
    except ValueError:
        raise BadRequest(f"{HEADER} must be an integer, not {header[:20]!r}.") from None


def check(protocol: int) -> None:
    if protocol < OLDEST:
        raise Conflict(f"Agent protocol {protocol} is too old for this controller "
                       f"(protocol {PROTOCOL} serves {OLDEST} and {PROTOCOL}): upgrade the "
                       "agent.")
    if protocol > PROTOCOL:
        raise Conflict(f"Agent protocol {protocol} is newer than this controller's "
                       f"({PROTOCOL}): upgrade the API servers before the agents.")
