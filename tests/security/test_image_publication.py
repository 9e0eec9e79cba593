"""Images reach other projects only through publicize_image: a member cannot publish an image,
or plant one in another project, through a server snapshot's metadata (createImage) or a
volume upload (os-volume_upload_image), as Glance and Cinder refuse it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import cloud, connect, pg_server, unique  # noqa: F401 (API clouds)
from tests.support.server import CloudThread, RunningCloud


def _wait(get: Any, want: set[str], timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = get()
        if got.status in want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


@pytest.fixture
def demo(cloud: RunningCloud) -> openstack.connection.Connection:  # noqa: F811
    return connect(cloud, "demo")


@pytest.fixture
def demo_server(cloud: RunningCloud,  # noqa: F811
                demo: openstack.connection.Connection) -> Any:
    admin = connect(cloud)
    img = admin.image.create_image(name=unique("base"), data=b"\0" * 4096, disk_format="raw",
                                   container_format="bare", visibility="public")
    server = demo.compute.create_server(name=unique("vm"), image_id=img.id, flavor_id="42",
                                        networks="none")
    server = _wait(lambda: demo.compute.get_server(server.id), {"ACTIVE", "ERROR"})
    assert server.status == "ACTIVE"
    yield server
    demo.compute.delete_server(server.id)
    demo.compute.wait_for_delete(server, wait=20)
    admin.image.delete_image(img)


def test_snapshot_metadata_cannot_publish_or_plant(cloud: RunningCloud,  # noqa: F811
                                                   demo: openstack.connection.Connection,
                                                   demo_server: Any) -> None:
    admin_project = cloud.accounts["admin"].project_id
    demo_project = cloud.accounts["demo"].project_id
    wanted_id = str(uuid.uuid4())
    r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{demo_server.id}/action",
                   headers={"X-Auth-Token": cloud.token("demo")}, timeout=30,
                   json={"createImage": {"name": unique("squat"), "metadata": {
                       "visibility": "public", "owner": admin_project, "id": wanted_id,
                       "os_glance_importing_to_stores": "x", "purpose": "kept"}}})
    assert r.status_code == 202, r.text
    image_id = r.headers["Location"].rsplit("/", 1)[-1]
    assert image_id != wanted_id
    img = _wait(lambda: demo.image.get_image(image_id), {"active", "killed"})
    try:
        assert img.visibility == "private"
        assert img.owner == demo_project
        assert img.properties.get("purpose") == "kept"  # ordinary metadata still lands
        for name in ("visibility", "owner", "id", "os_glance_importing_to_stores"):
            assert name not in img.properties
        # Not published: the public listing does not have it.
        public = {i.id for i in connect(cloud).image.images(visibility="public")}
        assert image_id not in public
    finally:
        demo.image.delete_image(image_id)


def test_volume_upload_to_public_image_is_admin_only(
        cloud: RunningCloud, demo: openstack.connection.Connection) -> None:  # noqa: F811
    vol = demo.block_storage.create_volume(size=1, name=unique("pub"))
    vol = _wait(lambda: demo.block_storage.get_volume(vol.id), {"available", "error"})
    assert vol.status == "available"
    before = {i.id for i in demo.image.images()}
    try:
        with pytest.raises(exc.ForbiddenException) as err:
            demo.block_storage.upload_volume_to_image(vol, unique("img"),
                                                       visibility="public")
        assert "upload_public" in str(err.value)
        # Cinder's fault body, and nothing was created or started.
        r = httpx.post(f"{cloud.base_url}/volume/v3/volumes/{vol.id}/action",
                       headers={"X-Auth-Token": cloud.token("demo"),
                                "OpenStack-API-Version": "volume 3.1"}, timeout=30,
                       json={"os-volume_upload_image": {"image_name": "x",
                                                        "visibility": "public"}})
        assert r.status_code == 403
        assert r.json()["forbidden"]["code"] == 403
        assert {i.id for i in demo.image.images()} == before
        assert demo.block_storage.get_volume(vol.id).status == "available"
        # Below 3.1 Cinder ignores the parameter: a private image, never a public one.
        r = httpx.post(f"{cloud.base_url}/volume/v3/volumes/{vol.id}/action",
                       headers={"X-Auth-Token": cloud.token("demo"),
                                "OpenStack-API-Version": "volume 3.0"}, timeout=30,
                       json={"os-volume_upload_image": {"image_name": unique("old"),
                                                        "visibility": "public"}})
        assert r.status_code == 202, r.text
        made = r.json()["os-volume_upload_image"]["image_id"]
        assert demo.image.get_image(made).visibility == "private"
        _wait(lambda: demo.block_storage.get_volume(vol.id), {"available"})
        demo.image.delete_image(made)
    finally:
        _wait(lambda: demo.block_storage.get_volume(vol.id), {"available"})
        demo.block_storage.delete_volume(vol)


def test_image_api_publicize_stays_admin_only(cloud: RunningCloud,  # noqa: F811
                                              demo: openstack.connection.Connection) -> None:
    with pytest.raises(exc.ForbiddenException):
        demo.image.create_image(name=unique("pub"), disk_format="raw",
                                container_format="bare", visibility="public")
    img = demo.image.create_image(name=unique("priv"), disk_format="raw",
                                  container_format="bare")
    try:
        with pytest.raises(exc.ForbiddenException):
            demo.image.update_image(img, visibility="public")
        demo.image.update_image(img, visibility="community")  # Glance: members may
        assert demo.image.get_image(img.id).visibility == "community"
    finally:
        demo.image.delete_image(img)


@pytest.mark.parametrize("rules, published", [
    # Cinder's rule alone is not enough: Cinder makes the image as the caller, and Glance's
    # publicize_image still applies.
    ({"volume_extension:volume_actions:upload_public": "role:member"}, False),
    ({"volume_extension:volume_actions:upload_public": "role:member",
      "publicize_image": "role:member"}, True),
])
def test_volume_upload_to_public_follows_the_operators_policy(
        tmp_path: Path, rules: dict[str, str], published: bool) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(json.dumps(rules))
    thread = CloudThread(policy_file=str(policy))
    c = thread.start()
    try:
        demo = connect(c, "demo")
        vol = demo.block_storage.create_volume(size=1, name=unique("pub"))
        vol = _wait(lambda: demo.block_storage.get_volume(vol.id), {"available", "error"})
        assert vol.status == "available"
        r = httpx.post(f"{c.base_url}/volume/v3/volumes/{vol.id}/action",
                       headers={"X-Auth-Token": c.token("demo"),
                                "OpenStack-API-Version": "volume 3.1"}, timeout=30,
                       json={"os-volume_upload_image": {"image_name": unique("img"),
                                                        "visibility": "public"}})
        if published:
            assert r.status_code == 202, r.text
            made = r.json()["os-volume_upload_image"]["image_id"]
            assert demo.image.get_image(made).visibility == "public"
        else:
            assert r.status_code == 403, r.text
            assert "publicize_image" in r.json()["forbidden"]["message"]
    finally:
        thread.stop()
