"""Cinder's QoS specs (/qos-specs, admin only): the real `openstack volume qos` CLI (create,
show with its associations) and raw HTTP with real tokens: create, list, show, set/unset
keys, associate with volume types (the type shows qos_specs_id), associations, disassociate,
delete refused while associated and forced; bad input names the field; a project member
gets 403 (readers: the persona suite)."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


def _api(cloud: RunningCloud, who: str = "admin") -> tuple[str, dict[str, str]]:
    return (f"{cloud.base_url}/volume/v3/{cloud.accounts[who].project_id}",
            {"X-Auth-Token": cloud.token(who)})


@pytest.mark.sqlite_only
def test_qos_with_the_openstack_cli(cloud: RunningCloud, cli: Cli) -> None:
    name = unique("qos")
    base, h = _api(cloud)
    t = httpx.post(f"{base}/types", headers=h, json={"volume_type": {"name": unique("qt")}})
    vtype = t.json()["volume_type"]
    try:
        made = json.loads(cli.run("volume", "qos", "create", "--consumer", "front-end",
                                  "--property", "read_iops_sec=2000", name, "-f",
                                  "json").stdout)
        assert made["consumer"] == "front-end" and made["name"] == name
        url = f"{base}/qos-specs/{made['id']}"
        assert httpx.get(f"{url}/associate", headers=h,
                         params={"vol_type_id": vtype["id"]}).status_code == 202
        shown = json.loads(cli.run("volume", "qos", "show", name, "-f", "json").stdout)
        assert shown["properties"] == {"read_iops_sec": "2000"}
        assert vtype["name"] in str(shown["associations"])
    finally:
        qos = [q for q in httpx.get(f"{base}/qos-specs", headers=h).json()["qos_specs"]
               if q["name"] == name]
        for q in qos:
            httpx.delete(f"{base}/qos-specs/{q['id']}", headers=h, params={"force": "true"})
        httpx.delete(f"{base}/types/{vtype['id']}", headers=h)


def test_qos_specs_over_http(cloud: RunningCloud) -> None:
    base, h = _api(cloud)
    r = httpx.post(f"{base}/qos-specs", headers=h, json={"qos_specs": {
        "name": unique("qos"), "consumer": "both", "total_bytes_sec": "1000"}})
    assert r.status_code == 200, r.text
    qos = r.json()["qos_specs"]
    assert set(qos) == {"id", "name", "consumer", "specs"}
    assert qos["specs"] == {"total_bytes_sec": "1000"} and qos["consumer"] == "both"
    assert [link["rel"] for link in r.json()["links"]] == ["self", "bookmark"]
    url = f"{base}/qos-specs/{qos['id']}"
    dup = httpx.post(f"{base}/qos-specs", headers=h, json={"qos_specs": {"name": qos["name"]}})
    assert dup.status_code == 409
    t = httpx.post(f"{base}/types", headers=h, json={"volume_type": {"name": unique("qt")}})
    tid = t.json()["volume_type"]["id"]
    try:
        r = httpx.put(url, headers=h, json={"qos_specs": {"iops": "5"}})
        assert r.status_code == 200 and r.json() == {"qos_specs": {"iops": "5"}}
        r = httpx.put(f"{url}/delete_keys", headers=h, json={"keys": ["iops"]})
        assert r.status_code == 202
        shown = httpx.get(url, headers=h).json()["qos_specs"]
        assert shown["specs"] == {"total_bytes_sec": "1000"}
        bad = httpx.put(f"{url}/delete_keys", headers=h, json={"keys": ["iops"]})
        assert bad.status_code == 400 and "iops" in bad.json()["badRequest"]["message"]
        assert httpx.get(f"{url}/associate", headers=h,
                         params={"vol_type_id": tid}).status_code == 202
        assert httpx.get(f"{base}/types/{tid}", headers=h).json()[
            "volume_type"]["qos_specs_id"] == qos["id"]
        assoc = httpx.get(f"{url}/associations", headers=h).json()["qos_associations"]
        assert [(a["id"], a["association_type"]) for a in assoc] == [(tid, "volume_type")]
        busy = httpx.delete(url, headers=h)
        assert busy.status_code == 400 and "associated" in busy.json()["badRequest"]["message"]
        assert httpx.get(f"{url}/disassociate", headers=h,
                         params={"vol_type_id": tid}).status_code == 202
        assert httpx.get(f"{url}/associations", headers=h).json()["qos_associations"] == []
        assert httpx.get(f"{url}/associate", headers=h,
                         params={"vol_type_id": tid}).status_code == 202
        assert httpx.get(f"{url}/disassociate_all", headers=h).status_code == 202
        assert httpx.get(f"{base}/types/{tid}", headers=h).json()[
            "volume_type"]["qos_specs_id"] is None
        assert httpx.get(f"{url}/associate", headers=h,
                         params={"vol_type_id": tid}).status_code == 202
        assert httpx.delete(url, headers=h, params={"force": "true"}).status_code == 202
        assert httpx.get(url, headers=h).status_code == 404
        assert httpx.get(f"{base}/types/{tid}", headers=h).json()[
            "volume_type"]["qos_specs_id"] is None
    finally:
        httpx.delete(url, headers=h, params={"force": "true"})
        httpx.delete(f"{base}/types/{tid}", headers=h)


def test_qos_bad_input_and_who_may(cloud: RunningCloud) -> None:
    base, h = _api(cloud)
    for body, field in (({"qos_specs": {}}, "name"),
                        ({"qos_specs": {"name": "x" * 256}}, "name"),
                        ({"qos_specs": {"name": unique("q"), "consumer": "nobody"}},
                         "consumer"),
                        ({"qos_specs": {"name": unique("q"), "iops": ["1"]}}, "iops"),
                        ({"qos": {}}, "qos_specs")):
        r = httpx.post(f"{base}/qos-specs", headers=h, json=body)
        assert r.status_code == 400, (body, r.text)
        assert field in r.json()["badRequest"]["message"]
    assert httpx.get(f"{base}/qos-specs/nope", headers=h).status_code == 404
    r = httpx.post(f"{base}/qos-specs", headers=h, json={"qos_specs": {"name": unique("q")}})
    url = f"{base}/qos-specs/{r.json()['qos_specs']['id']}"
    try:
        r = httpx.get(f"{url}/associate", headers=h)
        assert r.status_code == 400 and "vol_type_id" in r.json()["badRequest"]["message"]
        assert httpx.get(f"{url}/associate", headers=h,
                         params={"vol_type_id": "nope"}).status_code == 404
        demo, dh = _api(cloud, "demo")
        assert httpx.get(f"{demo}/qos-specs", headers=dh).status_code == 403
        assert httpx.post(f"{demo}/qos-specs", headers=dh,
                          json={"qos_specs": {"name": unique("q")}}).status_code == 403
    finally:
        assert httpx.delete(url, headers=h).status_code == 202
