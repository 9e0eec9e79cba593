"""``onestack manage backup`` of a running cloud with resources in every API, ``restore``
into another data dir (and another PostgreSQL database), a second cloud started on it: every
API lists the same IDs and names, a token issued before the backup still works, and a
secret's payload decrypts (the master key came along). The real CLI, as an operator runs it."""

from __future__ import annotations

import json
import os
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from click.testing import CliRunner

from onestack.cli.main import main
from tests.api.conftest import connect, unique
from tests.support.server import CloudThread, RunningCloud

Conn = openstack.connection.Connection


class Ran:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _cli(*args: str) -> Ran:
    """``onestack manage ...`` in this process (the same click commands; no interpreter
    start-up per call)."""
    result = CliRunner().invoke(main, ["manage", *args], catch_exceptions=False)
    return Ran(result.exit_code, result.stdout, result.stderr)


def _config(path: Path, data_dir: Path, url: str) -> Path:
    text = f'data_dir = "{data_dir}"\n'
    if url.startswith("postgresql"):
        text += f'[database]\nurl = "{url}"\n'
    path.write_text(text)
    return path


def _wait(get: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if done(got) or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def _build(cloud: RunningCloud) -> dict[str, str]:
    """One resource or more in every API, in the demo project (a new user and project too)."""
    admin, demo = connect(cloud), connect(cloud, "demo")
    name = unique("bk")
    project = admin.identity.create_project(name=name, domain_id="default")
    admin.identity.create_user(name=name, password=uuid.uuid4().hex, domain_id="default",
                               default_project_id=project.id)
    net = demo.network.create_network(name=name)
    sub = demo.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4,
                                     name=name)
    demo.network.create_port(network_id=net.id, name=name)
    router = demo.network.create_router(name=name)
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    demo.network.create_security_group(name=name)
    image = demo.image.create_image(name=name, data=b"\0" * 1024, disk_format="raw",
                                    container_format="bare")
    vol = demo.block_storage.create_volume(size=1, name=name)
    server = demo.compute.create_server(name=name, image_id=image.id, flavor_id="42",
                                        networks=[{"uuid": net.id}])
    demo.object_store.create_container(name=name)
    demo.object_store.upload_object(container=name, name="hello.txt", data=b"hello backup")
    secret = demo.key_manager.create_secret(name=name, payload="s3cret",
                                            payload_content_type="text/plain")
    lb = demo.load_balancer.create_load_balancer(name=name, vip_subnet_id=sub.id)
    _wait(lambda: demo.compute.get_server(server.id), lambda s: s.status == "ACTIVE")
    _wait(lambda: demo.block_storage.get_volume(vol.id), lambda v: v.status == "available")
    _wait(lambda: demo.load_balancer.get_load_balancer(lb.id),
          lambda b: b.provisioning_status == "ACTIVE")
    return {"name": name, "secret": str(secret.secret_ref).rsplit("/", 1)[-1],
            "server": server.id, "project": project.id, "network": net.id, "subnet": sub.id,
            "router": router.id, "image": image.id, "volume": vol.id, "lb": lb.id}


def _clean(cloud: RunningCloud, made: dict[str, str]) -> None:
    """What _build made goes (the session's cloud is shared with other tests: quotas)."""
    admin, demo = connect(cloud), connect(cloud, "demo")
    name = made["name"]
    demo.load_balancer.delete_load_balancer(made["lb"], cascade=True)
    demo.compute.delete_server(made["server"])
    _wait(lambda: list(demo.compute.servers(name=name)), lambda found: not found)
    demo.block_storage.delete_volume(made["volume"])
    demo.key_manager.delete_secret(made["secret"])
    demo.object_store.delete_object("hello.txt", container=name)
    demo.object_store.delete_container(name)
    demo.image.delete_image(made["image"])
    _wait(lambda: demo.load_balancer.find_load_balancer(made["lb"], ignore_missing=True),
          lambda lb: lb is None)
    demo.network.remove_interface_from_router(made["router"], subnet_id=made["subnet"])
    demo.network.delete_router(made["router"])
    for port in demo.network.ports(network_id=made["network"]):
        demo.network.delete_port(port.id)
    demo.network.delete_network(made["network"])
    for group in demo.network.security_groups(name=name):
        demo.network.delete_security_group(group.id)
    for user in admin.identity.users(name=name):
        admin.identity.delete_user(user.id)
    admin.identity.delete_project(made["project"])


def _listing(cloud: RunningCloud, container: str) -> dict[str, list[tuple[str, str]]]:
    admin, demo = connect(cloud), connect(cloud, "demo")

    def ids(items: Any) -> list[tuple[str, str]]:
        return sorted((str(i.id), str(i.name)) for i in items)

    return {
        "projects": ids(admin.identity.projects()), "users": ids(admin.identity.users()),
        "networks": ids(admin.network.networks()), "subnets": ids(admin.network.subnets()),
        "ports": ids(admin.network.ports()), "routers": ids(admin.network.routers()),
        "security_groups": ids(admin.network.security_groups()),
        "images": ids(admin.image.images()), "flavors": ids(admin.compute.flavors()),
        "servers": ids(admin.compute.servers(all_projects=True)),
        "volumes": ids(admin.block_storage.volumes(all_projects=True)),
        "containers": sorted((c.name, c.name) for c in demo.object_store.containers()),
        "objects": sorted((o.name, o.name) for o in demo.object_store.objects(container)),
        "secrets": sorted((str(s.secret_ref).rsplit("/", 1)[-1], str(s.name))
                          for s in demo.key_manager.secrets()),
        "load_balancers": ids(admin.load_balancer.load_balancers()),
    }


def _private(root: Path) -> None:
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    for p in root.rglob("*"):
        assert stat.S_IMODE(p.stat().st_mode) == (0o700 if p.is_dir() else 0o600), p


def test_backup_and_restore_lists_every_api_the_same(cloud: RunningCloud,
                                                     tmp_path: Path,
                                                     request: pytest.FixtureRequest) -> None:
    t0 = time.monotonic()
    made = _build(cloud)
    took_build = time.monotonic() - t0
    try:
        _backup_and_restore(cloud, tmp_path, request, made, took_build)
    finally:
        _clean(cloud, made)


def _backup_and_restore(cloud: RunningCloud, tmp_path: Path, request: pytest.FixtureRequest,
                        made: dict[str, str], took_build: float) -> None:
    old_token = cloud.token("demo")
    url = cloud.settings.database_url
    source_cfg = _config(tmp_path / "source.toml", cloud.settings.data_dir, url)
    before = _listing(cloud, made["name"])
    started = time.monotonic()
    proc = _cli("backup", "--config", str(source_cfg), "--to", str(tmp_path / "bk"),
                "--with-data")
    took_backup = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    assert {"fernet-keys", "credential-keys", "master.key", "images", "objects"} <= set(
        manifest["parts"])
    assert manifest["database"]["kind"] == ("sqlite" if url.startswith("sqlite")
                                            else "postgresql")
    _private(tmp_path / "bk")

    target_dir = tmp_path / "restored"
    target_url = (f"sqlite:///{target_dir / 'onestack.db'}" if url.startswith("sqlite")
                  else request.getfixturevalue("pg_server").create_database(
                      f"restore_{uuid.uuid4().hex[:8]}"))
    target_cfg = _config(tmp_path / "target.toml", target_dir, target_url)
    target_dir.mkdir()
    (target_dir / "stray").write_text("x")
    refused = _cli("restore", "--config", str(target_cfg), "--from", str(tmp_path / "bk"))
    assert refused.returncode != 0 and "is not empty" in refused.stderr
    (target_dir / "stray").unlink()
    started = time.monotonic()
    proc = _cli("restore", "--config", str(target_cfg), "--from", str(tmp_path / "bk"))
    took_restore = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr + proc.stdout
    print(f"\nbackup {took_backup:.1f} s, restore {took_restore:.1f} s "
          f"({manifest['database']['kind']}, {len(manifest['files'])} files)")

    second = CloudThread(database_url=target_url if url.startswith("postgresql") else None,
                         data_dir=target_dir)
    t0 = time.monotonic()
    restored = second.start()
    took_start = time.monotonic() - t0
    try:
        after = _listing(restored, made["name"])
        print(f"resources made in {took_build:.1f} s; the restored cloud started in "
              f"{took_start:.1f} s")
        for kind in before:
            assert after[kind] == before[kind], kind
        # a token issued by the first cloud works on the second (the Fernet keys came along)
        r = httpx.get(f"{restored.base_url}/compute/v2.1/servers/{made['server']}",
                      headers={"X-Auth-Token": old_token})
        assert r.status_code == 200, r.text
        # the object's bytes and the secret's payload (under the restored master key)
        demo = connect(restored, "demo")
        assert demo.object_store.download_object("hello.txt", container=made["name"]) == \
            b"hello backup"
        assert demo.key_manager.get_secret(made["secret"]).payload == "s3cret"
    finally:
        second.stop()
    assert not os.path.exists(tmp_path / "bk" / "database" / "onestack.db-wal")


def test_restore_refuses_a_damaged_or_foreign_backup(tmp_path: Path) -> None:
    (tmp_path / "bk").mkdir()
    proc = _cli("restore", "--data-dir", str(tmp_path / "new"), "--from", str(tmp_path / "bk"))
    assert proc.returncode != 0 and "not an Onestack backup" in proc.stderr
    (tmp_path / "bk" / "manifest.json").write_text(json.dumps({
        "format": 1, "database": {"kind": "sqlite", "path": "database/onestack.sqlite3",
                                  "alembic_heads": ["zzz9999"]}, "files": {}}))
    proc = _cli("restore", "--data-dir", str(tmp_path / "new"), "--from", str(tmp_path / "bk"))
    assert proc.returncode != 0 and "newer than this Onestack" in proc.stderr
    (tmp_path / "bk" / "database").mkdir()
    (tmp_path / "bk" / "database" / "onestack.sqlite3").write_bytes(b"changed")
    (tmp_path / "bk" / "manifest.json").write_text(json.dumps({
        "format": 1, "database": {"kind": "sqlite", "path": "database/onestack.sqlite3",
                                  "alembic_heads": ["aud0001"]},
        "files": {"database/onestack.sqlite3": "0" * 64}}))
    proc = _cli("restore", "--data-dir", str(tmp_path / "new"), "--from", str(tmp_path / "bk"))
    assert proc.returncode != 0 and "the backup is damaged" in proc.stderr
    assert not (tmp_path / "new").exists()  # refused before writing anything
