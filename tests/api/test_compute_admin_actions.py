"""Nova APIs tempest's whole API suite asks for beyond the guideline: os-resetState,
injectNetworkInfo, restore, migrate's body before 2.56, console output length, resize with
OS-DCF:diskConfig, quota class updates, the image metadata proxy and the blank-id paths;
openstacksdk and raw HTTP with real tokens."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import connect, unique
from tests.api.test_compute import image_id, nova, wait
from tests.api.test_compute import nova as _nova
from tests.support.server import RunningCloud

__all__ = ["image_id"]  # the fixture


@pytest.fixture(scope="module")
def vm(cloud: RunningCloud, image_id: str) -> Iterator[Any]:
    """A server of the demo project (the admin acts on it from its own project)."""
    demo = connect(cloud, "demo")
    s = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                   networks="none")
    yield wait(demo, s.id, "ACTIVE")
    with contextlib.suppress(exc.SDKException):
        demo.compute.delete_server(s.id, force=True)


def _act(cloud: RunningCloud, server_id: str, body: dict[str, Any], who: str = "admin",
         version: str = "2.1") -> Any:
    return nova(cloud, "POST", f"/servers/{server_id}/action", who=who, version=version,
                json=body)


def test_reset_state(cloud: RunningCloud, admin: openstack.connection.Connection,
                     vm: Any) -> None:
    demo = connect(cloud, "demo")
    assert _act(cloud, vm.id, {"os-resetState": {"state": "error"}},
                who="demo").status_code == 403
    bad = _act(cloud, vm.id, {"os-resetState": {"state": "paused"}})
    assert bad.status_code == 400 and "state" in bad.json()["badRequest"]["message"]
    assert _act(cloud, "0" * 8 + "-0000-0000-0000-" + "0" * 12,
                {"os-resetState": {"state": "error"}}).status_code == 404
    r = _act(cloud, vm.id, {"os-resetState": {"state": "error"}})
    assert r.status_code == 202, r.text
    assert demo.compute.get_server(vm.id).status == "ERROR"
    listed = nova(cloud, "GET", "/servers?status=ERROR&all_tenants=1").json()["servers"]
    assert vm.id in {s["id"] for s in listed}
    assert _act(cloud, vm.id, {"os-resetState": {"state": "active"}}).status_code == 202
    assert demo.compute.get_server(vm.id).status == "ACTIVE"


def test_inject_network_info_restore_and_migrate_body(cloud: RunningCloud, vm: Any) -> None:
    assert _act(cloud, vm.id, {"injectNetworkInfo": None}).status_code == 202
    assert _act(cloud, vm.id, {"injectNetworkInfo": None}, who="demo").status_code == 403
    r = _act(cloud, vm.id, {"restore": None}, who="demo")  # never soft-deleted here
    assert r.status_code == 409 and "restore" in r.json()["conflictingRequest"]["message"]
    # before 2.56 Nova does not read migrate's body: {} is no 400 (here: no such server)
    missing = "1" * 8 + "-1111-1111-1111-" + "1" * 12
    assert _act(cloud, missing, {"migrate": {}}).status_code == 404
    r = _act(cloud, missing, {"migrate": {"host": 1}}, version="2.56")
    assert r.status_code == 400 and "host" in r.json()["badRequest"]["message"]


def test_console_output_length_counts_as_nova(cloud: RunningCloud, vm: Any) -> None:
    """Nova returns the last n pieces of the log split at newlines (tempest counts
    ``len(output.split('\\n')) == 3`` for length 3)."""
    def tail(length: int | None) -> str:
        args = {} if length is None else {"length": length}
        r = _act(cloud, vm.id, {"os-getConsoleOutput": args}, who="demo")
        return str(r.json()["output"])

    whole = tail(None)  # the fake guest's console: one line, ending in a newline
    assert whole.count("\n") == 1 and whole.endswith("\n")
    assert tail(2) == whole and len(tail(2).split("\n")) == 2
    assert tail(1) == ""  # the piece after the final newline
    assert tail(0) == ""


def test_resize_takes_the_disk_config(cloud: RunningCloud,
                                      demo: openstack.connection.Connection,
                                      image_id: str) -> None:
    s = demo.compute.create_server(name=unique("vm"), image_id=image_id, flavor_id="42",
                                   networks="none")
    try:
        assert wait(demo, s.id, "ACTIVE").disk_config == "MANUAL"
        bad = _act(cloud, s.id, {"resize": {"flavorRef": "84", "OS-DCF:diskConfig": "X"}},
                   who="demo")
        assert bad.status_code == 400 and "diskConfig" in bad.json()["badRequest"]["message"]
        r = _act(cloud, s.id, {"resize": {"flavorRef": "84", "OS-DCF:diskConfig": "AUTO"}},
                 who="demo")
        assert r.status_code == 202, r.text
        wait(demo, s.id, "VERIFY_RESIZE")
        demo.compute.confirm_server_resize(s.id)
        assert wait(demo, s.id, "ACTIVE").disk_config == "AUTO"
    finally:
        demo.compute.delete_server(s.id, force=True)


def test_quota_class_update(cloud: RunningCloud) -> None:
    path = "/os-quota-class-sets/default"
    old = nova(cloud, "GET", path, version="2.1").json()["quota_class_set"]
    assert old["id"] == "default" and "floating_ips" in old and "server_groups" not in old
    try:
        r = nova(cloud, "PUT", path, version="2.1", json={"quota_class_set": {
            "key_pairs": old["key_pairs"] + 7}})
        assert r.status_code == 200, r.text
        body = r.json()["quota_class_set"]
        assert body["key_pairs"] == old["key_pairs"] + 7 and "id" not in body
        # the new default is every project's, unless a project has its own
        project = connect(cloud, "demo").current_project_id
        shown = nova(cloud, "GET", f"/os-quota-sets/{project}", who="demo").json()
        assert shown["quota_set"]["key_pairs"] == old["key_pairs"] + 7
        defaults = nova(cloud, "GET", f"/os-quota-sets/{project}/defaults", who="demo")
        assert defaults.json()["quota_set"]["key_pairs"] == old["key_pairs"] + 7
        assert nova(cloud, "PUT", path, who="demo", json={"quota_class_set": {
            "key_pairs": 1}}).status_code == 403
        bad = nova(cloud, "PUT", path, json={"quota_class_set": {"key_pairs": "many"}})
        assert bad.status_code == 400 and "key_pairs" in bad.json()["badRequest"]["message"]
        gone = nova(cloud, "PUT", path, version="2.57", json={"quota_class_set": {
            "injected_files": 3}})
        assert gone.status_code == 400 and "injected_files" in gone.text
        v257 = nova(cloud, "GET", path, version="2.57").json()["quota_class_set"]
        assert "server_groups" in v257 and "injected_files" not in v257
    finally:
        nova(cloud, "PUT", path, json={"quota_class_set": {"key_pairs": old["key_pairs"]}})
    assert nova(cloud, "GET", path, version="2.1").json()["quota_class_set"] == old


def test_image_metadata_proxy(cloud: RunningCloud,
                              admin: openstack.connection.Connection) -> None:
    img = admin.image.create_image(name=unique("img"), data=b"\0" * 512, disk_format="raw",
                                   container_format="bare", visibility="private",
                                   os_distro="cirros")
    base = f"/images/{img.id}/metadata"

    def nova(*args: Any, version: str = "2.1", **kw: Any) -> Any:
        return _nova(*args, version=version, **kw)

    try:
        def meta() -> Any:
            return nova(cloud, "GET", base).json()["metadata"]

        start = meta()  # openstacksdk's owner_specified.* besides
        assert start["os_distro"] == "cirros"
        r = nova(cloud, "POST", base, json={"metadata": {"os_version": "1", "arch": "x"}})
        assert r.status_code == 200 and r.json()["metadata"] == {
            **start, "os_version": "1", "arch": "x"}
        r = nova(cloud, "PUT", base, json={"metadata": {"os_version": "2"}})
        assert r.json() == {"metadata": {"os_version": "2"}} and meta() == {"os_version": "2"}
        assert nova(cloud, "GET", base + "/os_version").json() == {"meta": {"os_version": "2"}}
        r = nova(cloud, "PUT", base + "/arch", json={"meta": {"arch": "y"}})
        assert r.status_code == 200 and meta() == {"os_version": "2", "arch": "y"}
        assert admin.image.get_image(img.id).properties["arch"] == "y"  # Glance's too
        mismatch = nova(cloud, "PUT", base + "/arch", json={"meta": {"other": "y"}})
        assert mismatch.status_code == 400
        assert nova(cloud, "DELETE", base + "/arch").status_code == 204
        assert meta() == {"os_version": "2"}
        assert nova(cloud, "GET", base + "/arch").status_code == 404
        bad = nova(cloud, "POST", base, json={"metadata": {"k": 1}})
        assert bad.status_code == 400 and "metadata" in bad.json()["badRequest"]["message"]
        assert nova(cloud, "GET", base, version="2.39").status_code == 404  # gone at 2.39
        # another project's private image is not there for the demo project
        assert nova(cloud, "GET", base, who="demo").status_code == 404
        assert nova(cloud, "POST", base, who="demo", json={"metadata": {
            "k": "v"}}).status_code == 404
    finally:
        admin.image.delete_image(img.id)


def test_blank_ids_are_404(cloud: RunningCloud) -> None:
    assert nova(cloud, "GET", "/os-simple-tenant-usage/").status_code == 404
    assert nova(cloud, "GET", "/os-simple-tenant-usage").status_code == 200
    assert nova(cloud, "DELETE", "/images/", version="2.1").status_code == 404
    assert nova(cloud, "DELETE", "/images", version="2.1").status_code == 405


def test_extensions_and_the_v2_version_document(cloud: RunningCloud) -> None:
    names = {e["name"] for e in nova(cloud, "GET", "/extensions", who="demo").json()[
        "extensions"]}
    assert {"Hosts", "Shelve", "Rescue"} <= names
    one = nova(cloud, "GET", "/extensions/os-hosts", who="demo").json()["extension"]
    assert one["name"] == "Hosts" and one["namespace"].startswith("http")
    assert nova(cloud, "GET", "/extensions/os-nope", who="demo").status_code == 404
    listed = httpx.get(f"{cloud.base_url}/compute/").json()["versions"]
    v2 = next(v for v in listed if v["id"] == "v2.0")["links"][0]["href"]
    doc = httpx.get(v2, headers={"X-Auth-Token": cloud.token("demo")})
    assert doc.status_code == 200 and doc.json()["version"]["id"] == "v2.0"
    assert doc.json()["version"]["links"][0] == {"rel": "self", "href": v2}


def _settled(conn: openstack.connection.Connection, server_id: str, image_id: str) -> None:
    deadline = time.monotonic() + 30
    while conn.image.get_image(image_id).status != "active" or \
            conn.compute.get_server(server_id).task_state is not None:
        assert time.monotonic() < deadline, f"backup {image_id} did not settle"
        time.sleep(0.1)


def test_create_backup_rotates(cloud: RunningCloud, vm: Any) -> None:
    demo = connect(cloud, "demo")
    bad = _act(cloud, vm.id, {"createBackup": {"name": "b", "backup_type": "daily",
                                                "rotation": -1}}, who="demo")
    assert bad.status_code == 400 and "rotation" in bad.json()["badRequest"]["message"]
    body = {"name": "b0", "backup_type": "daily", "rotation": 1}
    r = _act(cloud, vm.id, {"createBackup": body}, who="demo", version="2.45")
    assert r.status_code == 202, r.text
    first = r.json()["image_id"]
    _settled(demo, vm.id, first)
    # before 2.45: the image in the Location header
    r = _act(cloud, vm.id, {"createBackup": {**body, "name": "b1"}}, who="demo")
    assert r.status_code == 202 and r.headers["Location"].startswith("http")
    second = r.headers["Location"].rsplit("/", 1)[-1]
    _settled(demo, vm.id, second)
    kept = [i for i in demo.image.images(instance_uuid=vm.id, image_type="backup")]
    assert [(i.name, i.properties["backup_type"]) for i in kept] == [("b1", "daily")]
    with pytest.raises(exc.NotFoundException):  # the oldest one, rotated away
        demo.image.get_image(first)
    actions = {a.action for a in demo.compute.server_actions(vm.id)}
    assert "createBackup" in actions
    demo.image.delete_image(second)


def test_volume_proxy(cloud: RunningCloud) -> None:
    def vols(method: str, path: str = "", who: str = "demo", version: str = "2.35",
             **kw: Any) -> Any:
        return nova(cloud, method, f"/os-volumes{path}", who=who, version=version, **kw)

    for size in (0, "#$%", None):
        bad = vols("POST", json={"volume": {"size": size} if size is not None else {}})
        assert bad.status_code == 400 and "size" in bad.json()["badRequest"]["message"]
    r = vols("POST", json={"volume": {"size": 1, "display_name": "pv",
                                      "metadata": {"Type": "work"}}})
    assert r.status_code == 200, r.text
    vol = r.json()["volume"]
    assert (vol["displayName"], vol["size"], vol["metadata"], vol["attachments"]) == (
        "pv", 1, {"Type": "work"}, [{}])
    try:
        assert vols("GET", f"/{vol['id']}").json()["volume"]["id"] == vol["id"]
        assert vol["id"] in {v["id"] for v in vols("GET", "/detail").json()["volumes"]}
        assert len(vols("GET", "?limit=1").json()["volumes"]) == 1
        assert vols("GET", "/").status_code == 404
        assert vols("DELETE", "/").status_code == 404
        theirs = vols("POST", who="admin", json={"volume": {"size": 1}}).json()["volume"]
        assert vols("GET", f"/{theirs['id']}").status_code == 404  # the admin project's
        assert vols("DELETE", f"/{theirs['id']}").status_code == 404
        assert vols("DELETE", f"/{theirs['id']}", who="admin").status_code == 202
        assert vols("GET", f"/{vol['id']}", version="2.36").status_code == 404
    finally:
        assert vols("DELETE", f"/{vol['id']}").status_code == 202


def test_server_password_is_empty(cloud: RunningCloud, vm: Any) -> None:
    path = f"/servers/{vm.id}/os-server-password"
    assert nova(cloud, "GET", path, who="demo").json() == {"password": ""}
    assert nova(cloud, "DELETE", path, who="demo").status_code == 204
    missing = "2" * 8 + "-2222-2222-2222-" + "2" * 12
    assert nova(cloud, "GET", f"/servers/{missing}/os-server-password",
                who="demo").status_code == 404


def test_resize_over_quota_is_403(cloud: RunningCloud, vm: Any) -> None:
    flavor = nova(cloud, "POST", "/flavors", json={"flavor": {
        "name": unique("big"), "ram": 51201, "vcpus": 1, "disk": 1}}).json()["flavor"]
    try:
        r = _act(cloud, vm.id, {"resize": {"flavorRef": flavor["id"]}}, who="demo")
        assert r.status_code == 403 and "ram" in r.json()["forbidden"]["message"]
        assert connect(cloud, "demo").compute.get_server(vm.id).status == "ACTIVE"
    finally:
        nova(cloud, "DELETE", f"/flavors/{flavor['id']}")
