"""Where the key manager's master keys live: a small store of named 32-byte keys, one of
them primary. The store is the operator's (a file on the host by default); the database
holds only project keys wrapped by these.

Contract:
- ``load()`` returns the keys as they are, or None when there are none yet.
- ``save(keys)`` replaces the stored keys atomically: a crash leaves either the old set or
  the new one, never a mix or a partial file. Readable by the owner only.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

KEY_BYTES = 32


class MasterKeyError(Exception):
    """The stored keys cannot be read or written (the message says which file and why)."""


@dataclass
class MasterKeys:
    primary: str
    keys: dict[str, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise MasterKeyError(f"primary master key {self.primary!r} is not in the set")
        for name, key in self.keys.items():
            if len(key) != KEY_BYTES:
                raise MasterKeyError(f"master key {name!r} is {len(key)} bytes, not "
                                     f"{KEY_BYTES}")

    @property
    def primary_key(self) -> bytes:
        return self.keys[self.primary]


class MasterKeyStore(abc.ABC):
    name: str = ""

    @abc.abstractmethod
    def load(self) -> MasterKeys | None:
        """The stored keys; None when none were ever saved."""

    @abc.abstractmethod
    def save(self, keys: MasterKeys) -> None:
        """Replace the stored keys, atomically."""

    @abc.abstractmethod
    def where(self) -> str:
        """Where the keys live, for messages (never the keys themselves)."""
