"""A volume's connection info tells a project how to attach, never where the volume lives on a
host: no host file path through the attachments API or os-initialize_connection for a
member; admins (and the compute side, which reads the database) still have it."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api.conftest import cloud, connect, pg_server, unique  # noqa: F401 (API clouds)
from tests.support.server import RunningCloud

MV = "volume 3.54"


def _call(c: RunningCloud, who: str, method: str, path: str, body: Any = None
          ) -> httpx.Response:
    return httpx.request(method, f"{c.base_url}/volume/v3{path}", json=body, timeout=30,
                         headers={"X-Auth-Token": c.token(who), "OpenStack-API-Version": MV})


def test_member_sees_no_host_path(cloud: RunningCloud) -> None:  # noqa: F811
    demo = connect(cloud, "demo")
    vol = demo.block_storage.create_volume(size=1, name=unique("paths"))
    deadline = time.monotonic() + 20
    while demo.block_storage.get_volume(vol.id).status != "available":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    host_dir = str(cloud.settings.data_dir)
    server = "11111111-2222-3333-4444-555555555555"
    r = _call(cloud, "demo", "POST", "/attachments", {"attachment": {
        "volume_uuid": vol.id, "instance_uuid": server,
        "connector": {"host": "compute-test", "mountpoint": "/dev/vdb"}}})
    assert r.status_code == 200, r.text
    att = r.json()["attachment"]
    try:
        for resp in (r, _call(cloud, "demo", "GET", f"/attachments/{att['id']}"),
                     _call(cloud, "demo", "GET", "/attachments/detail")):
            assert resp.status_code == 200
            assert host_dir not in resp.text and "volume-" not in resp.text
        info = _call(cloud, "demo", "GET",
                     f"/attachments/{att['id']}").json()["attachment"]["connection_info"]
        # What a client may use to attach stays.
        assert info["driver_volume_type"] == "file"
        assert info["data"] == {"format": "qcow2", "volume_id": vol.id, "access_mode": "rw",
                                "encrypted": False}  # Cinder adds it to every connection
        # The admin (the operator) still sees where it is.
        full = _call(cloud, "admin", "GET",
                     f"/attachments/{att['id']}").json()["attachment"]["connection_info"]
        assert full["data"]["path"].startswith(host_dir)
    finally:
        _call(cloud, "demo", "DELETE", f"/attachments/{att['id']}")
    r = _call(cloud, "demo", "POST", f"/volumes/{vol.id}/action",
              {"os-initialize_connection": {"connector": {"host": "compute-test"}}})
    if r.status_code == 200:  # the legacy action, where the policy lets a member use it
        assert host_dir not in r.text
        assert "path" not in r.json()["connection_info"]["data"]
    else:
        assert r.status_code == 403, r.text
    demo.block_storage.delete_volume(vol)
