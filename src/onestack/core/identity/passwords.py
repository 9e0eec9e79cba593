"""Password and secret hashing (bcrypt, Keystone's default), off the event loop."""

from __future__ import annotations

import asyncio
import os

import bcrypt

# bcrypt only looks at the first 72 bytes; Keystone truncates the same way.
_MAX = 72


class Hasher:
    def __init__(self, rounds: int = 12) -> None:
        self.rounds = rounds
        self._decoy: str | None = None

    def hash_sync(self, secret: str) -> str:
        data = secret.encode()[:_MAX]
        return bcrypt.hashpw(data, bcrypt.gensalt(self.rounds)).decode()

    @staticmethod
    def check_sync(secret: str, hashed: str) -> bool:
        try:
            return bcrypt.checkpw(secret.encode()[:_MAX], hashed.encode())
        except ValueError:
            return False

    async def hash(self, secret: str) -> str:
        return await asyncio.to_thread(self.hash_sync, secret)

    async def check(self, secret: str, hashed: str) -> bool:
        return await asyncio.to_thread(self.check_sync, secret, hashed)

    async def check_decoy(self, secret: str) -> bool:
        """Check ``secret`` against a hash nobody holds, at the same cost as a real check:
        a caller naming an unknown user waits as long as one with a wrong password (no
        timing oracle for which user ids exist). Always False."""
        if self._decoy is None:
            self._decoy = await self.hash(os.urandom(16).hex())
        await self.check(secret, self._decoy)
        return False
