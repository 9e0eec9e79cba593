"""Cinder volume backups through openstacksdk, the `openstack` CLI and raw HTTP: full and
incremental backups in the object store, restore into a new and an existing volume holding
the same bytes, in-use backups with force, export/import, another project's 404, bad input
naming the field, and the backup quotas' 413."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from onestack.core.volume.backup_chunks import CHUNK
from onestack.drivers.storage.base import GiB
from tests.api.conftest import Cli, unique
from tests.api.test_volume import _delete, _volume, _wait, _wait_gone
from tests.support.server import RunningCloud

MV = {"OpenStack-API-Version": "volume 3.60"}


def _api(cloud: RunningCloud, who: str = "demo") -> tuple[str, dict[str, str]]:
    return f"{cloud.base_url}/volume/v3", {"X-Auth-Token": cloud.token(who), **MV}


def _driver(cloud: RunningCloud) -> Any:
    return cloud.runtime.volume.driver


def _write(cloud: RunningCloud, volume_id: str, data: bytes) -> None:
    """Put ``data`` at the start of a volume's (qcow2) file, the rest of its GiB zeros."""
    path = _driver(cloud).volume_path(volume_id)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "disk.raw"
        with raw.open("wb") as fh:
            fh.write(data)
            fh.truncate(GiB)
        subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw),
                        str(path)], check=True)


def _read(cloud: RunningCloud, volume_id: str, length: int) -> bytes:
    """The first ``length`` bytes of a volume (asserting the next chunk is zeros)."""
    path = _driver(cloud).volume_path(volume_id)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "disk.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(path),
                        str(raw)], check=True)
        with raw.open("rb") as fh:
            data = fh.read(length)
            assert fh.read(CHUNK) == bytes(CHUNK)
        return data


def _backup(conn: openstack.connection.Connection, vol: Any, **kw: Any) -> Any:
    b = conn.block_storage.create_backup(volume_id=vol.id, name=kw.pop("name", unique("bk")),
                                         **kw)
    return _wait(lambda: conn.block_storage.get_backup(b.id), "available")


def _objects(cloud: RunningCloud, project_id: str) -> dict[str, int]:
    url = f"{cloud.base_url}/object-storage/v1/AUTH_{project_id}/volumebackups"
    r = httpx.get(url, params={"format": "json"},
                  headers={"X-Auth-Token": cloud.token("demo")})
    assert r.status_code == 200, r.text
    return {o["name"]: o["bytes"] for o in r.json()}


def test_full_incremental_restore_bytes(cloud: RunningCloud,
                                        demo: openstack.connection.Connection) -> None:
    vol = _volume(demo)
    first = os.urandom(CHUNK) + bytes(CHUNK) + os.urandom(CHUNK // 2) + b"end"
    _write(cloud, vol.id, first)
    full = _backup(demo, vol, description="full")
    assert demo.block_storage.get_volume(vol.id).status == "available"
    assert (full.is_incremental, full.size, full.container) == (False, 1, "volumebackups")
    project = demo.current_project_id
    objs = _objects(cloud, project)
    mine = sorted(n for n in objs if full.id in n)
    # two data chunks (the zero chunk is not stored), the metadata and the sha256 file
    assert len([n for n in mine if n[-6] == "-"]) == 2, mine
    meta = json.loads(httpx.get(
        f"{cloud.base_url}/object-storage/v1/AUTH_{project}/volumebackups/"
        f"{next(n for n in mine if n.endswith('_metadata'))}",
        headers={"X-Auth-Token": cloud.token("demo")}).content)
    assert [c["object"] is None for c in meta["chunks"][:3]] == [False, True, False]
    assert all(c["object"] is None for c in meta["chunks"][3:])
    assert len(meta["chunks"]) == GiB // CHUNK

    second = bytearray(first)
    second[-13:-3] = b"0123456789"  # only the third chunk changes
    _write(cloud, vol.id, bytes(second))
    inc = _backup(demo, vol, is_incremental=True)
    assert inc.is_incremental
    stored = [n for n in _objects(cloud, project) if inc.id in n and n[-6] == "-"]
    assert stored == [n for n in stored if n.endswith("-00003")] and len(stored) == 1
    assert demo.block_storage.get_backup(full.id).has_dependent_backups

    # restore the incremental into a new volume, the full one into an existing volume
    r = demo.block_storage.restore_backup(inc, name=unique("restored"))
    new = _wait(lambda: demo.block_storage.get_volume(r["volume_id"]), "available")
    assert _read(cloud, new.id, len(second)) == bytes(second)
    other = _volume(demo)
    demo.block_storage.restore_backup(full, volume=other.id)
    _wait(lambda: demo.block_storage.get_backup(full.id), "available")
    _wait(lambda: demo.block_storage.get_volume(other.id), "available")
    assert _read(cloud, other.id, len(first)) == first

    # a parent with children is not deleted; the child then the parent are
    with pytest.raises(exc.BadRequestException, match="Incremental backups exist"):
        demo.block_storage.delete_backup(full)
    demo.block_storage.delete_backup(inc)
    _wait_gone(lambda: demo.block_storage.get_backup(inc.id))
    demo.block_storage.delete_backup(full)
    _wait_gone(lambda: demo.block_storage.get_backup(full.id))
    assert not [n for n in _objects(cloud, project) if full.id in n or inc.id in n]
    for v in (vol, new, other):
        _delete(demo, v)


def test_isolation_in_use_errors_export_quota(cloud: RunningCloud,
                                             admin: openstack.connection.Connection,
                                             demo: openstack.connection.Connection) -> None:
    url, hdr = _api(cloud)
    admin_url, admin_hdr = _api(cloud, "admin")
    vol = _volume(admin)
    b = _backup(admin, vol)
    # another project (demo) sees nothing: list, show, restore, delete are 404 / absent
    assert b.id not in [x.id for x in demo.block_storage.backups()]
    for method, path, body in (("GET", f"/backups/{b.id}", None),
                               ("POST", f"/backups/{b.id}/restore", {"restore": {}}),
                               ("DELETE", f"/backups/{b.id}", None)):
        r = httpx.request(method, url + path, json=body, headers=hdr)
        assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404, r.text
    r = httpx.post(f"{url}/backups", json={"backup": {"volume_id": vol.id}}, headers=hdr)
    assert r.status_code == 404 and f"Volume {vol.id} could not be found" in r.text
    # in-use: refused without force, backed up through a temporary snapshot with it
    r = httpx.post(f"{admin_url}/volumes/{vol.id}/action", headers=admin_hdr,
                   json={"os-reset_status": {"status": "in-use"}})
    assert r.status_code == 202, r.text
    r = httpx.post(f"{admin_url}/backups", json={"backup": {"volume_id": vol.id}},
                   headers=admin_hdr)
    assert r.status_code == 400 and "force flag" in r.text
    r = httpx.post(f"{admin_url}/backups/{b.id}/restore", headers=admin_hdr,
                   json={"restore": {"volume_id": vol.id}})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == (
        'Invalid volume: Volume to be restored to must be available, but the current '
        'status is "in-use".'), r.text
    forced = _backup(admin, vol, force=True)
    assert admin.block_storage.get_volume(vol.id).status == "in-use"
    assert not [p for p in _driver(cloud).root.rglob("*backup-tmp-*")]
    httpx.post(f"{admin_url}/volumes/{vol.id}/action", headers=admin_hdr,
               json={"os-reset_status": {"status": "available"}})
    # bad input names the field
    for body, field in (({"backup": {}}, "volume_id"),
                        ({"backup": {"volume_id": vol.id, "incremental": "maybe"}},
                         "incremental"),
                        ({"backup": {"volume_id": vol.id, "name": 5}}, "name"),
                        ({"backup": {"volume_id": vol.id, "container": "a/b"}}, "container")):
        r = httpx.post(f"{admin_url}/backups", json=body, headers=admin_hdr)
        assert r.status_code == 400 and field in r.text, (body, r.text)
    r = httpx.post(f"{admin_url}/backups/{b.id}/restore", headers=admin_hdr,
                   json={"restore": {"volume_id": 7}})
    assert r.status_code == 400 and "volume_id" in r.text
    # restore: into a volume smaller than the backup (400); no volume_id makes one
    big = _volume(admin, size=2)
    big_b = _backup(admin, big)
    r = httpx.post(f"{admin_url}/backups/{big_b.id}/restore", headers=admin_hdr,
                   json={"restore": {"volume_id": vol.id}})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == (
        "Invalid volume: volume size 1 is too small to restore backup of size 2."), r.text
    assert admin.block_storage.get_volume(vol.id).status == "available"
    r = httpx.post(f"{admin_url}/backups/{big_b.id}/restore", headers=admin_hdr,
                   json={"restore": {}})
    assert r.status_code == 202, r.text
    restored = r.json()["restore"]
    assert restored["volume_name"] == f"restore_backup_{big_b.id}", restored
    made = _wait(lambda: admin.block_storage.get_volume(restored["volume_id"]), "available")
    assert (made.size, made.name) == (2, f"restore_backup_{big_b.id}")
    admin.block_storage.delete_backup(big_b)
    _wait_gone(lambda: admin.block_storage.get_backup(big_b.id))
    for v in (big, made):
        _delete(admin, v)
    # export/import are admin's
    assert httpx.get(f"{url}/backups/{b.id}/export_record", headers=hdr).status_code == 403
    rec = httpx.get(f"{admin_url}/backups/{b.id}/export_record", headers=admin_hdr)
    assert rec.status_code == 200, rec.text
    record = rec.json()["backup-record"]
    r = httpx.post(f"{admin_url}/backups/import_record", headers=admin_hdr,
                   json={"backup-record": record})
    assert r.status_code == 400 and "already exists" in r.text
    r = httpx.post(f"{admin_url}/backups/import_record", headers=admin_hdr,
                   json={"backup-record": {**record, "backup_url": "@@"}})
    assert r.status_code == 400 and "backup_url" in r.text
    # quota: two backups exist, a limit of 2 makes the third 413
    project = admin.current_project_id
    used = httpx.get(f"{admin_url}/os-quota-sets/{project}?usage=true",
                     headers=admin_hdr).json()["quota_set"]
    assert (used["backups"]["in_use"], used["backup_gigabytes"]["in_use"]) == (2, 2)
    absolute = httpx.get(f"{admin_url}/limits", headers=admin_hdr).json()["limits"]["absolute"]
    assert (absolute["totalBackupsUsed"], absolute["maxTotalBackups"]) == (2, 10)
    q = httpx.put(f"{admin_url}/os-quota-sets/{project}", headers=admin_hdr,
                  json={"quota_set": {"backups": 2}})
    assert q.status_code == 200, q.text
    try:
        r = httpx.post(f"{admin_url}/backups", json={"backup": {"volume_id": vol.id}},
                       headers=admin_hdr)
        assert r.status_code == 413 and "BackupLimitExceeded" in r.text, r.text
    finally:
        httpx.put(f"{admin_url}/os-quota-sets/{project}", headers=admin_hdr,
                  json={"quota_set": {"backups": 10}})
    for x in (b, forced):
        admin.block_storage.delete_backup(x)
        _wait_gone(lambda x=x: admin.block_storage.get_backup(x.id))
    _delete(admin, vol)


def _cli(cli: Cli, *args: str) -> Any:
    return json.loads(cli.run(*args, "-f", "json").stdout)


def test_cli_backup_lifecycle(cloud: RunningCloud, cli: Cli,
                              admin: openstack.connection.Connection) -> None:
    vol = _volume(admin)
    _write(cloud, vol.id, b"cli")
    name = unique("clibk")
    bk = _cli(cli, "volume", "backup", "create", "--name", name, vol.id)
    _wait(lambda: admin.block_storage.get_backup(bk["id"]), "available")
    assert name in [b["Name"] for b in _cli(cli, "volume", "backup", "list")]
    _write(cloud, vol.id, b"changed")
    cli.run("volume", "backup", "restore", "--force", bk["id"], vol.id)
    _wait(lambda: admin.block_storage.get_backup(bk["id"]), "available")
    _wait(lambda: admin.block_storage.get_volume(vol.id), "available")
    assert _read(cloud, vol.id, 3) == b"cli"
    # OSC 10's form for a new volume: a name that is no volume yet
    new_name = unique("clirestored")
    made = _cli(cli, "volume", "backup", "restore", bk["id"], new_name)
    assert made["volume_name"] == new_name, made
    new = _wait(lambda: admin.block_storage.get_volume(made["volume_id"]), "available")
    _wait(lambda: admin.block_storage.get_backup(bk["id"]), "available")
    assert new.name == new_name and _read(cloud, new.id, 3) == b"cli"
    _delete(admin, new)
    cli.run("volume", "backup", "delete", bk["id"])
    _wait_gone(lambda: admin.block_storage.get_backup(bk["id"]))
    _delete(admin, vol)
