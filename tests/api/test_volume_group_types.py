"""Cinder's group types and group specs (3.11): openstacksdk and raw HTTP with real tokens:
create (202), list with is_public and sort, show, update, group specs create/show/update/
delete, delete; bad input names the field; a project sees only the public ones and no
group specs, and cannot write; before 3.11 there are none."""

from __future__ import annotations

import httpx
import openstack

from tests.api.conftest import unique
from tests.support.server import RunningCloud

MV = {"OpenStack-API-Version": "volume 3.11"}


def _api(cloud: RunningCloud, who: str = "admin") -> tuple[str, dict[str, str]]:
    return (f"{cloud.base_url}/volume/v3/{cloud.accounts[who].project_id}",
            {"X-Auth-Token": cloud.token(who), **MV})


def test_group_types_and_specs(cloud: RunningCloud,
                               admin: openstack.connection.Connection) -> None:
    base, h = _api(cloud)
    a = admin.block_storage.create_group_type(name="a_" + unique("gt"), description="d",
                                              group_specs={"k1": "v1"})
    r = httpx.post(f"{base}/group_types", headers=h, json={"group_type": {
        "name": "b_" + unique("gt"), "is_public": False}})
    assert r.status_code == 202, r.text
    b = r.json()["group_type"]
    assert set(b) == {"id", "name", "description", "is_public", "group_specs"}
    try:
        shown = admin.block_storage.get_group_type(a.id)
        assert (shown.name, shown.description, shown.group_specs) == (a.name, "d",
                                                                      {"k1": "v1"})

        def names(**params: str) -> list[str]:
            got = httpx.get(f"{base}/group_types", headers=h, params=params)
            assert got.status_code == 200, got.text
            return [t["name"] for t in got.json()["group_types"]]

        listed = names(sort="name:asc", is_public="None")
        assert listed.index(a.name) < listed.index(b["name"])
        listed = names(sort="name:desc", is_public="None")
        assert listed.index(b["name"]) < listed.index(a.name)
        assert b["name"] in names(is_public="false") and a.name not in names(is_public="false")
        assert b["name"] not in names()
        url = f"{base}/group_types/{b['id']}"
        r = httpx.put(url, headers=h, json={"group_type": {"name": b["name"] + "x",
                                                           "description": "new"}})
        assert r.status_code == 200 and r.json()["group_type"]["description"] == "new"
        r = httpx.post(f"{url}/group_specs", headers=h,
                       json={"group_specs": {"k2": "v2", "k3": "v3"}})
        assert r.status_code == 202 and r.json() == {"group_specs": {"k2": "v2", "k3": "v3"}}
        r = httpx.put(f"{url}/group_specs/k3", headers=h, json={"k3": "v3b"})
        assert r.status_code == 200 and r.json() == {"k3": "v3b"}
        assert httpx.get(f"{url}/group_specs/k3", headers=h).json() == {"k3": "v3b"}
        assert httpx.get(f"{url}/group_specs", headers=h).json() == {
            "group_specs": {"k2": "v2", "k3": "v3b"}}
        assert httpx.delete(f"{url}/group_specs/k3", headers=h).status_code == 202
        assert httpx.get(f"{url}/group_specs/k3", headers=h).status_code == 404
        assert httpx.delete(f"{url}/group_specs/k3", headers=h).status_code == 404
        # bad input names the field; a taken name is 409
        for body, field in (({"group_type": {}}, "name"),
                            ({"group_type": {"name": "x", "is_public": "maybe"}},
                             "is_public"),
                            ({"group_type": {"name": "y", "group_specs": {"k": 1}}}, "'k'")):
            r = httpx.post(f"{base}/group_types", headers=h, json=body)
            assert r.status_code == 400 and field in r.json()["badRequest"]["message"], r.text
        r = httpx.post(f"{base}/group_types", headers=h, json={"group_type": {"name": a.name}})
        assert r.status_code == 409
        r = httpx.put(f"{url}/group_specs/k2", headers=h, json={"other": "v"})
        assert r.status_code == 400 and "k2" in r.json()["badRequest"]["message"]
        # a project: public ones only, without group specs; no writes; none before 3.11
        demo, dh = _api(cloud, "demo")
        mine = httpx.get(f"{demo}/group_types", headers=dh).json()["group_types"]
        assert a.name in [t["name"] for t in mine] and "group_specs" not in mine[0]
        assert httpx.get(f"{demo}/group_types/{b['id']}", headers=dh).status_code == 404
        assert httpx.post(f"{demo}/group_types", headers=dh,
                          json={"group_type": {"name": unique("gt")}}).status_code == 403
        assert httpx.get(f"{demo}/group_types/{a.id}/group_specs",
                         headers=dh).status_code == 403
        old = {**h, "OpenStack-API-Version": "volume 3.10"}
        assert httpx.get(f"{base}/group_types", headers=old).status_code == 404
    finally:
        admin.block_storage.delete_group_type(a)
        assert httpx.delete(f"{base}/group_types/{b['id']}", headers=h).status_code == 202
    assert httpx.get(f"{base}/group_types/{b['id']}", headers=h).status_code == 404
