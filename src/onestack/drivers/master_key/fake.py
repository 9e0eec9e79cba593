"""Master keys in memory, for unit tests."""

from __future__ import annotations

from onestack.drivers.master_key.base import MasterKeys, MasterKeyStore


class MemoryMasterKeyStore(MasterKeyStore):
    name = "memory"

    def __init__(self) -> None:
        self._keys: MasterKeys | None = None
        self.saves = 0

    def load(self) -> MasterKeys | None:
        if self._keys is None:
            return None
        return MasterKeys(self._keys.primary, dict(self._keys.keys))

    def save(self, keys: MasterKeys) -> None:
        self._keys = MasterKeys(keys.primary, dict(keys.keys))
        self.saves += 1

    def where(self) -> str:
        return "memory"
