"""Fernet key repositories, laid out as Keystone's: file 0 is staged, the highest is primary."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, MultiFernet

from onestack.errors import ConfigError


class KeyRepository:
    def __init__(self, directory: Path, max_active_keys: int = 3) -> None:
        self.directory = directory
        self.max_active_keys = max(max_active_keys, 2)
        self._mtime: float | None = None
        self._fernet: MultiFernet | None = None

    def _indexes(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())

    def setup(self) -> None:
        """Create the repository with a staged and a primary key, if it does not exist."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        if not self._indexes():
            self._write(0, Fernet.generate_key())
            self.rotate()

    def _write(self, index: int, key: bytes) -> None:
        tmp = self.directory / f".tmp-{index}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.directory / str(index))

    def rotate(self) -> int:
        """Staged key becomes primary, a new staged key appears, the oldest are pruned."""
        indexes = self._indexes()
        if 0 not in indexes:
            raise ConfigError(f"key repository {self.directory} has no staged key (0)")
        new_primary = max(indexes) + 1
        os.replace(self.directory / "0", self.directory / str(new_primary))
        self._write(0, Fernet.generate_key())
        indexes = self._indexes()
        secondaries = [i for i in indexes if i not in (0, new_primary)]
        excess = len(indexes) - self.max_active_keys
        for index in secondaries[: max(excess, 0)]:
            (self.directory / str(index)).unlink()
        self._fernet = None
        return new_primary

    def fernet(self) -> MultiFernet:
        """Primary key first (encrypts), then the rest (decrypt only). Reloads on change."""
        try:
            mtime = self.directory.stat().st_mtime
        except FileNotFoundError as exc:
            raise ConfigError(f"key repository {self.directory} is missing") from exc
        if self._fernet is None or mtime != self._mtime:
            indexes = self._indexes()
            if not indexes:
                raise ConfigError(f"key repository {self.directory} is empty")
            order = sorted(indexes, reverse=True)  # primary (highest) first, staged (0) last
            keys = [Fernet((self.directory / str(i)).read_bytes().strip()) for i in order]
            self._fernet = MultiFernet(keys)
            self._mtime = mtime
        return self._fernet
