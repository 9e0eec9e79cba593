"""Envelope encryption: payloads open only with their project's key and their own secret id;
project keys only with the master key they were wrapped by; rotation re-wraps project keys
and leaves payloads as they were."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from onestack.context import RequestContext
from onestack.core.key_manager import crypto
from onestack.core.key_manager.secrets import NewSecret
from onestack.core.key_manager.service import KeyManager, rotate_master_key
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.key_manager import KmProjectKey, KmSecret
from onestack.drivers.master_key import MemoryMasterKeyStore


def test_payload_is_bound_to_key_and_secret() -> None:
    kek = crypto.new_key()
    blob = crypto.seal_payload(kek, "s1", b"top secret")
    assert b"top secret" not in blob
    assert crypto.open_payload(kek, "s1", blob) == b"top secret"
    with pytest.raises(crypto.KeyringError):
        crypto.open_payload(kek, "s2", blob)  # moved to another row
    with pytest.raises(crypto.KeyringError):
        crypto.open_payload(crypto.new_key(), "s1", blob)
    with pytest.raises(crypto.KeyringError):
        crypto.open_payload(kek, "s1", blob[:-1] + bytes([blob[-1] ^ 1]))


def test_keyring_creates_wraps_and_reloads() -> None:
    store = MemoryMasterKeyStore()
    ring = crypto.Keyring(store)
    kek = crypto.new_key()
    name, wrapped = ring.wrap("p1", kek)
    saved = store.load()
    assert saved is not None and saved.primary == name
    assert kek not in wrapped
    assert ring.unwrap("p1", name, wrapped) == kek
    with pytest.raises(crypto.KeyringError):
        ring.unwrap("p2", name, wrapped)  # another project's key slot
    with pytest.raises(crypto.KeyringError, match="not in memory"):
        ring.unwrap("p1", "mk-gone", wrapped)


def test_rotation_rewraps_every_project_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'km.db'}"
    migrate.upgrade(url)
    store = MemoryMasterKeyStore()

    async def scenario() -> None:
        db = Database(url)
        km = KeyManager(db, crypto.Keyring(store))
        ids = {}
        for project in ("p1", "p2", "p3"):
            ctx = RequestContext(user_id="u", project_id=project)
            row = await km.create_secret(ctx, NewSecret(
                name="n", payload=f"payload-{project}".encode(), content_type="text/plain"))
            ids[project] = row.id
        async with db.read() as s:
            before = {r.id: r.ciphertext for r in (await s.execute(select(KmSecret))).scalars()}
        old = store.load()
        assert old is not None
        done = await rotate_master_key(db, store)
        assert done.rewrapped == 3 and done.removed == [old.primary]
        new = store.load()
        assert new is not None and set(new.keys) == {done.new_key}
        async with db.read() as s:
            keys = list((await s.execute(select(KmProjectKey))).scalars())
            after = {r.id: r.ciphertext for r in (await s.execute(select(KmSecret))).scalars()}
        assert {k.master_key_id for k in keys} == {done.new_key}
        assert after == before  # payloads untouched
        for project, ident in ids.items():  # the running service finds the new key
            assert await km.payload(ident) == (f"payload-{project}".encode(), "text/plain")
        # a copy of the database with another (or no) master key opens nothing
        stranger = KeyManager(db, crypto.Keyring(MemoryMasterKeyStore()))
        with pytest.raises(crypto.KeyringError):
            await stranger.payload(ids["p1"])
        await db.close()

    asyncio.run(scenario())


def test_a_serving_keyring_does_not_invent_a_master_key() -> None:
    store = MemoryMasterKeyStore()
    serving = crypto.Keyring(store, create=False)
    with pytest.raises(crypto.KeyringError, match="manage bootstrap"):
        serving.wrap("p1", crypto.new_key())
    assert store.load() is None
    assert serving.ensure() == "memory"  # bootstrap makes it
    name, wrapped = serving.wrap("p1", b"k" * 32)
    assert serving.unwrap("p1", name, wrapped) == b"k" * 32
