"""OS-OAUTH1 consumers: the third parties that would sign delegation requests. Consumers
are kept (their secret encrypted under the credential keys); request and access tokens,
and so OAuth1 delegation itself, are not served."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import select

from onestack.core.identity import cache
from onestack.core.identity.base import Store, get_or_404
from onestack.core.identity.keys import KeyRepository
from onestack.db.engine import Database
from onestack.db.models.base import new_id
from onestack.db.models.identity_admin import OAuthConsumer


class Consumers(Store):
    def __init__(self, db: Database, coherence: cache.Coherence, keys: KeyRepository) -> None:
        super().__init__(db, coherence)
        self.keys = keys

    async def create(self, description: str | None, extra: dict[str, Any]
                     ) -> tuple[OAuthConsumer, str]:
        secret = secrets.token_urlsafe(24)
        enc = self.keys.fernet().encrypt(secret.encode()).decode()
        async with self.write() as s:
            consumer = OAuthConsumer(id=new_id(), description=description,
                                     encrypted_secret=enc, extra=extra)
            s.add(consumer)
        return consumer, secret

    async def get(self, consumer_id: str) -> OAuthConsumer:
        async with self.read() as s:
            return await get_or_404(s, OAuthConsumer, consumer_id, "consumer")

    async def list(self) -> list[OAuthConsumer]:
        async with self.read() as s:
            return list((await s.execute(select(OAuthConsumer).order_by(
                OAuthConsumer.created_at, OAuthConsumer.id))).scalars())

    async def update(self, consumer_id: str, data: dict[str, Any]) -> OAuthConsumer:
        async with self.write() as s:
            consumer = await get_or_404(s, OAuthConsumer, consumer_id, "consumer")
            if "description" in data:
                consumer.description = data["description"]
            if data.get("extra"):
                consumer.extra = {**consumer.extra, **data["extra"]}
        return consumer

    async def delete(self, consumer_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, OAuthConsumer, consumer_id, "consumer"))
