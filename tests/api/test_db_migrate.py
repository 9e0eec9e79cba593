"""Move a whole all-in-one cloud from SQLite to PostgreSQL and see nothing change.

A cloud on SQLite gets a resource of every API (made with openstacksdk), every API is listed
as the admin and the demo project see it, the cloud stops, ``onestack manage db migrate``
moves it to a throwaway PostgreSQL, the cloud starts again on PostgreSQL with the same data
dir, and every listing must be equal; a token from before the move still validates and new
resources get fresh ids (the sequences were reset).
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from click.testing import CliRunner

from onestack.cli.main import main
from tests.api.conftest import connect
from tests.support.postgres import PostgresServer
from tests.support.server import CloudThread, RunningCloud

Conn = openstack.connection.Connection
BLOB = bytes(range(256)) * 64 + "🚀 end".encode()
COMPUTE = {"OpenStack-API-Version": "compute 2.79"}
PLACEMENT = {"OpenStack-API-Version": "placement 1.36"}


def _wait(get: Any, status: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        obj = get()
        if obj.status.lower() == status:
            return obj
        assert time.monotonic() < deadline, f"{obj.id} is {obj.status}, not {status}"
        time.sleep(0.05)


def _identity(admin: Conn, cloud: RunningCloud) -> dict[str, str]:
    project = admin.identity.create_project(name="moved-project", description="🚚 moved",
                                            domain_id="default")
    user = admin.identity.create_user(name="moved-user", password="s3cret-✓",
                                      default_project_id=project.id, domain_id="default")
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    admin_uid = cloud.accounts["admin"].user_id
    admin.identity.create_application_credential(user=admin_uid, name="moved-ac",
                                                 roles=[{"name": "reader"}])
    r = admin.identity.post(f"/users/{admin_uid}/credentials/OS-EC2",
                            json={"tenant_id": cloud.accounts["admin"].project_id})
    assert r.status_code == 201, r.text
    return {"project": project.id, "user": user.id}


def _network(conn: Conn, admin: Conn) -> dict[str, str]:
    found = list(admin.network.networks(name="public"))
    public = found[0] if found else admin.network.create_network(
        name="public", is_router_external=True, provider_network_type="flat",
        provider_physical_network="public")
    if not found:
        admin.network.create_subnet(network_id=public.id, cidr="172.24.4.0/24", ip_version=4)
    net = conn.network.create_network(name="moved-net")
    sub = conn.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4,
                                     name="moved-sub")
    port = conn.network.create_port(network_id=net.id, name="moved-port")
    router = conn.network.create_router(name="moved-router",
                                        external_gateway_info={"network_id": public.id})
    conn.network.add_interface_to_router(router, subnet=sub.id)
    conn.network.create_ip(floating_network_id=public.id, port_id=port.id)
    sg = conn.network.create_security_group(name="moved-sg", description="ssh ✓")
    conn.network.create_security_group_rule(security_group_id=sg.id, direction="ingress",
                                            protocol="tcp", port_range_min=22,
                                            port_range_max=22, remote_ip_prefix="0.0.0.0/0")
    return {"net": net.id}


def _compute_image_volume(admin: Conn, demo: Conn, net_id: str) -> None:
    image = admin.image.create_image(name="moved-image", data=BLOB, disk_format="raw",
                                     container_format="bare", visibility="public",
                                     os_distro="tiny", hw_rng_model="virtio",
                                     emoji_property="🐍")
    admin.compute.create_flavor(name="moved-flavor", ram=256, vcpus=1, disk=1,
                                id="moved-flavor")
    demo.compute.create_keypair(name="moved-key")
    group = demo.compute.create_server_group(name="moved-group", policy="anti-affinity")
    server = demo.compute.create_server(name="moved-vm", image_id=image.id, flavor_id="42",
                                        networks=[{"uuid": net_id}],
                                        scheduler_hints={"group": group.id},
                                        metadata={"k": "välue"})
    _wait(lambda: demo.compute.get_server(server.id), "active")
    vtype = admin.block_storage.create_type(name="moved-type", extra_specs={"a": "1"})
    vol = demo.block_storage.create_volume(name="moved-vol", size=1, volume_type=vtype.name,
                                           metadata={"m": "ü"})
    _wait(lambda: demo.block_storage.get_volume(vol.id), "available")
    snap = demo.block_storage.create_snapshot(volume_id=vol.id, name="moved-snap")
    _wait(lambda: demo.block_storage.get_snapshot(snap.id), "available")


def _objects_placement(demo: Conn, admin: Conn) -> None:
    demo.object_store.create_container(name="moved-container")
    demo.object_store.upload_object(container="moved-container", name="dir/ö.bin",
                                    data=BLOB)
    rp = _provider(admin, "moved-rp", {"VCPU": {"total": 16, "max_unit": 4}})
    r = admin.placement.put("/traits/CUSTOM_MOVED", headers=PLACEMENT)
    assert r.status_code in (201, 204), r.text
    rp = admin.placement.get_resource_provider(rp.id)
    r = admin.placement.put(f"/resource_providers/{rp.id}/traits", headers=PLACEMENT, json={
        "traits": ["CUSTOM_MOVED", "HW_CPU_X86_AVX2"],
        "resource_provider_generation": rp.generation})
    assert r.status_code == 200, r.text


def _provider(admin: Conn, name: str, inventories: dict[str, dict[str, int]]) -> Any:
    rp = admin.placement.create_resource_provider(name=name)
    r = admin.placement.put(f"/resource_providers/{rp.id}/inventories", headers=PLACEMENT,
                            json={"inventories": inventories,
                                  "resource_provider_generation": rp.generation})
    assert r.status_code == 200, r.text
    return rp


# Lists whose API promises no order (Keystone's role assignments come in the database's
# physical order): compared as multisets; every other list must keep its order exactly.
UNORDERED = {"identity/role_assignments"}


def _comparable(key: str, body: Any) -> Any:
    if key not in UNORDERED:
        return body
    return {k: sorted(json.dumps(x, sort_keys=True) for x in v) if isinstance(v, list) else v
            for k, v in body.items()}


def _get(cloud: RunningCloud, token: str, path: str,
         headers: dict[str, str] | None = None) -> Any:
    r = httpx.get(cloud.base_url + path, headers={"X-Auth-Token": token, **(headers or {})},
                  timeout=30)
    if r.status_code == 403:  # not this persona's to list: the same after the move
        return {"forbidden": r.json()}
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r.json()


def _listing(cloud: RunningCloud, who: str) -> dict[str, Any]:
    """Every API's lists, as ``who`` sees them."""
    token = cloud.token(who)
    acct = cloud.accounts[who]
    out: dict[str, Any] = {}
    ident = ["projects", "users", "roles", "role_assignments", "domains", "groups",
             "credentials", "regions", "services", "endpoints",
             f"users/{acct.user_id}/application_credentials",
             f"users/{acct.user_id}/credentials/OS-EC2", f"users/{acct.user_id}/projects",
             "auth/projects"]
    compute = ["servers/detail", "flavors/detail", "os-keypairs", "os-server-groups",
               "os-availability-zone", "limits", f"os-quota-sets/{acct.project_id}"]
    neutron = ["networks", "subnets", "ports", "routers", "floatingips", "security-groups",
               "security-group-rules", "subnetpools"]
    volume = ["volumes/detail", "snapshots/detail", "types", "limits"]
    for path in ident:
        out[f"identity/{path}"] = _get(cloud, token, f"/identity/v3/{path}")
    for path in compute:
        out[f"compute/{path}"] = _get(cloud, token, f"/compute/v2.1/{path}", COMPUTE)
    out["image/images"] = _get(cloud, token, "/image/v2/images")
    for path in neutron:
        out[f"network/{path}"] = _get(cloud, token, f"/networking/v2.0/{path}")
    for path in volume:
        out[f"volume/{path}"] = _get(cloud, token, f"/volume/v3/{acct.project_id}/{path}")
    swift = f"/object-storage/v1/AUTH_{acct.project_id}"
    out["object/containers"] = _get(cloud, token, f"{swift}?format=json")
    for c in out["object/containers"]:
        out[f"object/{c['name']}"] = _get(cloud, token, f"{swift}/{c['name']}?format=json")
        for o in out[f"object/{c['name']}"]:
            r = httpx.get(f"{cloud.base_url}{swift}/{c['name']}/{o['name']}",
                          headers={"X-Auth-Token": token})
            out[f"object/{c['name']}/{o['name']}"] = hashlib.md5(r.content).hexdigest()
    if who == "admin":
        rps = _get(cloud, token, "/placement/resource_providers", PLACEMENT)
        out["placement/resource_providers"] = rps
        out["placement/traits"] = _get(cloud, token, "/placement/traits?associated=true",
                                       PLACEMENT)
        for rp in rps["resource_providers"]:
            for sub in ("inventories", "traits", "usages", "aggregates"):
                out[f"placement/{rp['name']}/{sub}"] = _get(
                    cloud, token, f"/placement/resource_providers/{rp['uuid']}/{sub}",
                    PLACEMENT)
        for img in out["image/images"]["images"]:
            r = httpx.get(f"{cloud.base_url}/image/v2/images/{img['id']}/file",
                          headers={"X-Auth-Token": token})
            out[f"image/{img['name']}/file"] = hashlib.md5(r.content).hexdigest()
    return out


@pytest.fixture
def sqlite_cloud() -> Iterator[CloudThread]:
    thread = CloudThread()
    thread.settings.volume.driver = "fake"
    thread.start()
    yield thread
    thread.stop()


def test_move_a_whole_cloud_to_postgresql(sqlite_cloud: CloudThread,
                                          pg_server: PostgresServer) -> None:
    cloud = sqlite_cloud.cloud
    assert cloud is not None and cloud.settings.database_url.startswith("sqlite")
    admin, demo = connect(cloud), connect(cloud, "demo")
    ids = _identity(admin, cloud)
    nets = _network(demo, admin)
    _compute_image_volume(admin, demo, nets["net"])
    _objects_placement(demo, admin)
    before = {who: _listing(cloud, who) for who in ("admin", "demo")}
    _everything_listed(before)
    old_token = cloud.token("demo")
    data_dir, port = cloud.settings.data_dir, sqlite_cloud.port
    sqlite_cloud.stop(cleanup=False)

    target = pg_server.create_database(f"moved_{uuid.uuid4().hex[:8]}")
    started = time.monotonic()
    r = CliRunner().invoke(main, ["manage", "db", "migrate", "--data-dir", str(data_dir),
                                  "--to", target])
    seconds = time.monotonic() - started
    assert r.exit_code == 0, r.output
    summary = next(line for line in r.output.splitlines() if line.startswith("moved "))
    print(f"\n{summary} (command: {seconds:.1f} s)")
    assert f'url = "{target}"' in r.output and "Fernet" in r.output

    moved = CloudThread(database_url=target, data_dir=data_dir, port=port)
    moved.settings.volume.driver = "fake"
    moved.virt_driver = sqlite_cloud.virt_driver  # the same (fake) guests on this host
    try:
        pg_cloud = moved.start()
        assert pg_cloud.settings.database_url.startswith("postgresql")
        after = {who: _listing(pg_cloud, who) for who in ("admin", "demo")}
        for who in before:
            assert after[who].keys() == before[who].keys()
            for key in before[who]:
                assert _comparable(key, after[who][key]) == \
                    _comparable(key, before[who][key]), (who, key)
        r2 = httpx.get(f"{pg_cloud.auth_url}/auth/tokens",
                       headers={"X-Auth-Token": pg_cloud.admin_token(),
                                "X-Subject-Token": old_token})
        assert r2.status_code == 200, r2.text
        servers = _get(pg_cloud, old_token, "/compute/v2.1/servers", COMPUTE)["servers"]
        assert [s["name"] for s in servers] == ["moved-vm"]
        _create_more(pg_cloud, ids)
    finally:
        moved.stop()


def _names(body: Any) -> set[str]:
    items = next(v for v in body.values() if isinstance(v, list)) if isinstance(body, dict) \
        else body
    return {str(i.get("name") or i.get("keypair", {}).get("name")) for i in items}


def _everything_listed(seen: dict[str, dict[str, Any]]) -> None:
    """The listings hold what the test made, so comparing them proves something."""
    admin, demo = seen["admin"], seen["demo"]
    assert "moved-project" in _names(admin["identity/projects"])
    assert "moved-user" in _names(admin["identity/users"])
    assert len(admin["identity/role_assignments"]["role_assignments"]) >= 5
    assert "moved-ac" in _names(admin[next(k for k in admin if "application_cred" in k)])
    assert admin[next(k for k in admin if k.endswith("OS-EC2"))]["credentials"]
    assert "moved-image" in _names(admin["image/images"])
    assert admin["image/moved-image/file"] == hashlib.md5(BLOB).hexdigest()
    assert "moved-flavor" in _names(admin["compute/flavors/detail"])
    assert {"moved-vm"} == _names(demo["compute/servers/detail"])
    assert {"moved-key"} == _names(demo["compute/os-keypairs"])
    assert {"moved-group"} == _names(demo["compute/os-server-groups"])
    for key, name in [("networks", "moved-net"), ("subnets", "moved-sub"),
                      ("ports", "moved-port"), ("routers", "moved-router"),
                      ("security-groups", "moved-sg")]:
        assert name in _names(demo[f"network/{key}"]), key
    assert len(demo["network/floatingips"]["floatingips"]) == 1
    assert any(r["port_range_min"] == 22
               for r in demo["network/security-group-rules"]["security_group_rules"])
    assert {"moved-vol"} == _names(demo["volume/volumes/detail"])
    assert {"moved-snap"} == _names(demo["volume/snapshots/detail"])
    assert "moved-type" in _names(admin["volume/types"])
    assert demo["object/moved-container/dir/ö.bin"] == hashlib.md5(BLOB).hexdigest()
    assert admin["placement/moved-rp/inventories"]["inventories"]["VCPU"]["total"] == 16
    assert set(admin["placement/moved-rp/traits"]["traits"]) == {"CUSTOM_MOVED",
                                                                 "HW_CPU_X86_AVX2"}


def _create_more(cloud: RunningCloud, ids: dict[str, str]) -> None:
    """New rows in tables with integer keys: each sequence continues after the copied ids."""
    admin, demo = connect(cloud), connect(cloud, "demo")
    demo.compute.create_keypair(name="after-key")
    assert {k.name for k in demo.compute.keypairs()} == {"moved-key", "after-key"}
    demo.object_store.create_container(name="after-container")
    demo.object_store.upload_object(container="after-container", name="x", data=b"x")
    assert demo.object_store.download_object("x", container="after-container") == b"x"
    _provider(admin, "after-rp", {"MEMORY_MB": {"total": 1024}})
    admin.identity.update_user(ids["user"], password="n3w-pässword")
    server = demo.compute.create_server(name="after-vm", image_id=next(
        i.id for i in demo.image.images() if i.name == "moved-image"), flavor_id="42",
        networks="none")
    _wait(lambda: demo.compute.get_server(server.id), "active")
    assert len(list(demo.compute.server_actions(server.id))) == 1
