"""The key manager's resources beyond plain secrets (metadata, paging and filters,
containers and consumers, orders, quotas, the secret store) and its storage at rest: the
database holds no payload, a copy of it without the master key file opens nothing, and
``onestack manage key-manager rotate-master-key`` re-wraps every project key while every
secret still decrypts (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import stat
import uuid
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from sqlalchemy import create_engine, text

from onestack.cli.main import main
from onestack.core.key_manager import crypto
from onestack.core.key_manager.service import KeyManager
from onestack.db.engine import Database, sync_url
from onestack.drivers.master_key import FileMasterKeyStore, MemoryMasterKeyStore
from tests.api.test_key_manager import User, fault, km, people, store
from tests.support.server import RunningCloud

__all__ = ["people"]  # the fixture, shared with test_key_manager


def test_metadata_paging_and_filters(cloud: RunningCloud, people: dict[str, User]) -> None:
    a, url = people["a"], f"{km(cloud)}/secrets"
    alg = f"alg-{uuid.uuid4().hex[:6]}"
    refs = [store(cloud, a, name=f"page-{n}", algorithm=alg, bit_length=128 * (n + 1),
                  mode="gcm") for n in range(3)]
    first = httpx.get(url, headers=a.h(), params={"alg": alg, "limit": 2,
                                                  "sort": "name:desc"}).json()
    assert first["total"] == 3 and [s["name"] for s in first["secrets"]] == ["page-2",
                                                                             "page-1"]
    assert "offset=2" in first["next"] and f"alg={alg}" in first["next"]
    rest = httpx.get(first["next"], headers=a.h()).json()
    assert [s["name"] for s in rest["secrets"]] == ["page-0"] and "previous" in rest
    bits = httpx.get(url, headers=a.h(), params={"alg": alg, "bits": 256}).json()
    assert [s["secret_ref"] for s in bits["secrets"]] == [refs[1]]
    none = httpx.get(url, headers=a.h(), params={"alg": alg, "created": "lt:2000-01-01"})
    assert none.json()["total"] == 0
    meta = f"{refs[0]}/metadata"
    assert httpx.put(meta, headers=a.h(), json={"metadata": {"Owner": "a"}}
                     ).status_code == 201
    assert httpx.get(meta, headers=a.h()).json() == {"metadata": {"owner": "a"}}
    assert httpx.post(meta, headers=a.h(), json={"key": "env", "value": "prod"}
                      ).status_code == 201
    fault(httpx.post(meta, headers=a.h(), json={"key": "env", "value": "x"}), 409, "env")
    assert httpx.put(f"{meta}/env", headers=a.h(), json={"key": "env", "value": "dev"}
                     ).json() == {"key": "env", "value": "dev"}
    assert httpx.delete(f"{meta}/env", headers=a.h()).status_code == 204
    fault(httpx.get(f"{meta}/env", headers=a.h()), 404)
    for ref in refs:
        assert httpx.delete(ref, headers=a.h()).status_code == 204


def test_containers_orders_consumers(cloud: RunningCloud, people: dict[str, User]) -> None:
    a = people["a"]
    r = httpx.post(f"{km(cloud)}/orders", headers=a.h(), json={"type": "asymmetric", "meta": {
        "name": "pair", "algorithm": "rsa", "bit_length": 2048}})
    assert r.status_code == 202, r.text
    order = httpx.get(r.json()["order_ref"], headers=a.h()).json()
    assert order["status"] == "ACTIVE" and order["type"] == "asymmetric"
    box = httpx.get(order["container_ref"], headers=a.h()).json()
    assert box["type"] == "rsa"
    parts = {s["name"]: s["secret_ref"] for s in box["secret_refs"]}
    assert set(parts) == {"public_key", "private_key"}
    pem = httpx.get(f"{parts['private_key']}/payload", headers=a.h()).content
    key = serialization.load_pem_private_key(pem, None)
    public = httpx.get(f"{parts['public_key']}/payload", headers=a.h()).content
    assert key.public_key().public_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo) == public
    fault(httpx.post(f"{km(cloud)}/orders", headers=a.h(), json={"type": "key", "meta": {
        "algorithm": "aes", "bit_length": 100}}), 400, "'bit_length'")
    fault(httpx.post(f"{km(cloud)}/containers", headers=a.h(), json={
        "type": "rsa", "secret_refs": [{"name": "certificate",
                                        "secret_ref": parts["public_key"]}]}), 400,
          "secret_refs")
    consumers = f"{order['container_ref']}/consumers"
    body = {"name": "octavia", "URL": "http://lb/1"}
    shown = httpx.post(consumers, headers=a.h(), json=body).json()
    assert shown["consumers"] == [body]
    assert httpx.get(consumers, headers=a.h()).json()["total"] == 1
    assert httpx.request("DELETE", consumers, headers=a.h(), json=body
                         ).json()["consumers"] == []
    orders = httpx.get(f"{km(cloud)}/orders", headers=a.h()).json()
    assert order["order_ref"] in [o["order_ref"] for o in orders["orders"]]
    assert httpx.delete(order["order_ref"], headers=a.h()).status_code == 204
    assert httpx.delete(order["container_ref"], headers=a.h()).status_code == 204
    stores = httpx.get(f"{km(cloud)}/secret-stores", headers=a.h()).json()
    assert stores["total"] == 1 and stores["secret_stores"][0]["global_default"] is True


def test_project_quotas(cloud: RunningCloud, people: dict[str, User]) -> None:
    a, b, admin = people["a"], people["b"], people["admin"]
    quota = f"{km(cloud)}/project-quotas/{b.project_id}"
    fault(httpx.put(quota, headers=b.h(), json={"project_quotas": {"secrets": 1}}), 403)
    fault(httpx.put(quota, headers=admin.h(), json={"project_quotas": {"keys": 1}}), 400,
          "'keys'")
    used = httpx.get(f"{km(cloud)}/secrets", headers=b.h()).json()["total"]
    r = httpx.put(quota, headers=admin.h(), json={"project_quotas": {"secrets": used + 1}})
    assert r.status_code == 204
    assert httpx.get(f"{km(cloud)}/quotas", headers=b.h()).json()["quotas"]["secrets"] \
        == used + 1
    ref = store(cloud, b, name="last-one")
    fault(httpx.post(f"{km(cloud)}/secrets", headers=b.h(), json={"name": "one-more"}), 403,
          "secrets")
    listed = httpx.get(f"{km(cloud)}/project-quotas", headers=admin.h()).json()
    assert b.project_id in [p["project_id"] for p in listed["project_quotas"]]
    assert httpx.delete(quota, headers=admin.h()).status_code == 204
    assert httpx.get(f"{km(cloud)}/quotas", headers=a.h()).json()["quotas"]["secrets"] == -1
    assert httpx.delete(ref, headers=b.h()).status_code == 204


def _table_bytes(cloud: RunningCloud) -> bytes:
    """Every row of every key manager table, as the database returns it."""
    engine = create_engine(sync_url(cloud.settings.database_url))
    out = b""
    with engine.connect() as conn:
        for table in ("km_secret", "km_project_key", "km_container", "km_order",
                      "km_consumer", "km_acl_user", "km_quota"):
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                for value in row:
                    out += bytes(value) if isinstance(value, bytes | memoryview) \
                        else str(value).encode()
    engine.dispose()
    return out


def _config(cloud: RunningCloud, tmp_path: Path) -> Path:
    cfg = tmp_path / "onestack.toml"
    cfg.write_text(f'data_dir = "{cloud.settings.data_dir}"\n[database]\n'
                   f'url = "{cloud.settings.database_url}"\n')
    return cfg


def test_at_rest_and_rotation(cloud: RunningCloud, people: dict[str, User],
                              tmp_path: Path) -> None:
    a, b = people["a"], people["b"]
    secrets = {}
    for who, marker in ((a, "ALPHA-PAYLOAD-7f3a"), (b, "BRAVO-PAYLOAD-91c2")):
        secrets[marker] = (who, store(cloud, who, name="at-rest", payload=marker,
                                      payload_content_type="text/plain"))
    binary = b"CHARLIE-BINARY-55e0"
    secrets[binary.decode()] = (a, store(
        cloud, a, name="at-rest-bin", payload=base64.b64encode(binary).decode(),
        payload_content_type="application/octet-stream", payload_content_encoding="base64"))
    key_file = cloud.settings.master_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    rows = _table_bytes(cloud)
    for marker in secrets:
        assert marker.encode() not in rows
        assert base64.b64encode(marker.encode()) not in rows
    database = cloud.settings.database_url
    if database.startswith("sqlite"):  # the files themselves, write-ahead log included
        path = Path(database.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert raw and not any(m.encode() in raw for m in secrets)
        copy = tmp_path / "copy.db"
        for suffix in ("", "-wal"):  # a copy as a backup would take it, log included
            if Path(f"{path}{suffix}").exists():
                shutil.copyfile(f"{path}{suffix}", f"{copy}{suffix}")
        database = f"sqlite:///{copy}"
    before = FileMasterKeyStore(key_file).load()
    assert before is not None
    result = CliRunner().invoke(main, ["manage", "key-manager", "rotate-master-key",
                                       "--config", str(_config(cloud, tmp_path))])
    assert result.exit_code == 0, result.output
    after = FileMasterKeyStore(key_file).load()
    assert after is not None and set(after.keys) == {after.primary}
    assert before.primary not in after.keys and "re-wrapped" in result.output
    engine = create_engine(sync_url(cloud.settings.database_url))
    with engine.connect() as conn:
        masters = {r[0] for r in conn.execute(text("SELECT master_key_id FROM km_project_key"))}
    engine.dispose()
    assert masters == {after.primary}
    for marker, (who, ref) in secrets.items():  # the running cloud reads them all
        assert httpx.get(f"{ref}/payload", headers=who.h()).content == marker.encode()
    sid = secrets["ALPHA-PAYLOAD-7f3a"][1].rsplit("/", 1)[-1]

    async def without_key_file() -> None:
        db = Database(database)
        try:
            with pytest.raises(crypto.KeyringError):
                await KeyManager(db, crypto.Keyring(MemoryMasterKeyStore())).payload(sid)
        finally:
            await db.close()

    asyncio.run(without_key_file())
    for who, ref in secrets.values():
        assert httpx.delete(ref, headers=who.h()).status_code == 204
