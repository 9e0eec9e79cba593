"""Placement through raw httpx (microversion edges, error bodies) and the real osc-placement
CLI, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.api.conftest import Cli
from tests.support.server import RunningCloud


class Api:
    def __init__(self, cloud: RunningCloud, token: str) -> None:
        self.base = cloud.base_url + "/placement"
        self.token = token

    def __call__(self, method: str, path: str, version: str | None = "latest",
                 body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"X-Auth-Token": self.token}
        if version:
            headers["OpenStack-API-Version"] = f"placement {version}"
        return httpx.request(method, self.base + path, json=body, headers=headers,
                             timeout=30, **kw)

    def provider(self, name: str | None = None, parent: str | None = None,
                 inventory: dict[str, int] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name or f"rp-{uuid.uuid4().hex[:8]}"}
        if parent:
            body["parent_provider_uuid"] = parent
        r = self("POST", "/resource_providers", body=body)
        assert r.status_code == 200, r.text
        rp: dict[str, Any] = r.json()
        if inventory:
            invs = {rc: {"total": n, "max_unit": n} for rc, n in inventory.items()}
            r = self("PUT", f"/resource_providers/{rp['uuid']}/inventories",
                     body={"inventories": invs, "resource_provider_generation": 0})
            assert r.status_code == 200, r.text
            rp["generation"] = r.json()["resource_provider_generation"]
        return rp


@pytest.fixture(scope="module")
def api(cloud: RunningCloud) -> Iterator[Api]:
    yield Api(cloud, cloud.admin_token())


def error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"errors"}, body
    err: dict[str, Any] = body["errors"][0]
    assert err["status"] == r.status_code
    return err


def test_root_document_and_microversions(api: Api) -> None:
    r = httpx.get(api.base + "/")
    assert r.status_code == 200
    doc = r.json()["versions"][0]
    assert doc["id"] == "v1.0" and doc["min_version"] == "1.0"
    assert tuple(map(int, doc["max_version"].split("."))) >= (1, 36)
    r = api("GET", "/resource_providers", version=None)
    assert r.headers["openstack-api-version"] == "placement 1.0"
    r = api("GET", "/resource_providers", version="latest")
    assert r.headers["openstack-api-version"] == f"placement {doc['max_version']}"
    assert api("GET", "/resource_providers", version="1.99").status_code == 406
    assert api("GET", "/resource_providers", version="one").status_code == 400
    # routes appear with their microversion
    assert api("GET", "/traits", version="1.5").status_code == 404
    assert api("GET", "/traits", version="1.6").status_code == 200
    assert api("GET", "/allocation_candidates?resources=VCPU:1",
               version="1.9").status_code == 404


def test_catalog_lists_placement(cloud: RunningCloud) -> None:
    token = cloud.admin_token()
    r = httpx.get(f"{cloud.auth_url}/auth/catalog", headers={"X-Auth-Token": token})
    entry = next(e for e in r.json()["catalog"] if e["type"] == "placement")
    assert entry["name"] == "placement"
    assert entry["endpoints"][0]["url"] == f"{cloud.base_url}/placement"


def test_policy_admin_only(cloud: RunningCloud) -> None:
    demo = Api(cloud, cloud.token("demo"))
    r = demo("GET", "/resource_providers")
    assert r.status_code == 403
    assert error(r)["code"] == "placement.undefined"
    assert httpx.get(demo.base + "/resource_providers").status_code == 401


def test_provider_crud_and_versions(api: Api) -> None:
    name = f"rp-{uuid.uuid4().hex[:8]}"
    r = api("POST", "/resource_providers", version="1.19", body={"name": name})
    assert r.status_code == 201 and not r.content
    rp_uuid = r.headers["location"].rsplit("/", 1)[1]
    r = api("GET", f"/resource_providers/{rp_uuid}", version="1.0")
    assert set(r.json()) == {"uuid", "name", "generation", "links"}
    r = api("GET", f"/resource_providers/{rp_uuid}")
    body = r.json()
    assert body["root_provider_uuid"] == rp_uuid and body["parent_provider_uuid"] is None
    assert {link["rel"] for link in body["links"]} == {
        "self", "inventories", "usages", "aggregates", "traits", "allocations"}
    r = api("POST", "/resource_providers", body={"name": name})
    assert r.status_code == 409 and error(r)["code"] == "placement.duplicate_name"
    child = api.provider(parent=rp_uuid)
    assert child["root_provider_uuid"] == rp_uuid
    r = api("GET", f"/resource_providers?in_tree={child['uuid']}")
    assert {p["uuid"] for p in r.json()["resource_providers"]} == {rp_uuid, child["uuid"]}
    r = api("DELETE", f"/resource_providers/{rp_uuid}")
    assert r.status_code == 409
    assert error(r)["code"] == "placement.resource_provider.cannot_delete_parent"
    r = api("PUT", f"/resource_providers/{child['uuid']}", body={"name": name + "-c"})
    assert r.status_code == 200 and r.json()["name"] == name + "-c"
    assert api("DELETE", f"/resource_providers/{child['uuid']}").status_code == 204
    assert api("DELETE", f"/resource_providers/{rp_uuid}").status_code == 204
    r = api("GET", f"/resource_providers/{rp_uuid}")
    assert r.status_code == 404 and "request_id" in error(r)


def test_inventory_generation_conflict(api: Api) -> None:
    rp = api.provider(inventory={"VCPU": 8})
    path = f"/resource_providers/{rp['uuid']}/inventories"
    r = api("PUT", path, body={"inventories": {"VCPU": {"total": 4}},
                               "resource_provider_generation": rp["generation"] - 1})
    assert r.status_code == 409
    err = error(r)
    assert err["code"] == "placement.concurrent_update" and err["title"] == "Conflict"
    r = api("PUT", path, version="1.22", body={"inventories": {"VCPU": {"total": 4}},
                                               "resource_provider_generation": 0})
    assert "code" not in error(r)
    r = api("PUT", path + "/VCPU", body={"total": 16, "allocation_ratio": 2.0,
                                         "resource_provider_generation": rp["generation"]})
    assert r.status_code == 200, r.text
    assert r.json()["total"] == 16 and r.json()["max_unit"] == 2147483647
    r = api("GET", path)
    assert r.json()["inventories"]["VCPU"]["allocation_ratio"] == 2.0
    r = api("PUT", path, body={"inventories": {"VCPU": {"total": 4, "reserved": 5}},
                               "resource_provider_generation": r.json()[
                                   "resource_provider_generation"]})
    assert r.status_code == 400
    r = api("PUT", path, body={"inventories": {"CUSTOM_NOPE": {"total": 4}},
                               "resource_provider_generation": 2})
    assert r.status_code == 400


def test_allocations_claims_and_consumer_generation(api: Api) -> None:
    rp = api.provider(inventory={"VCPU": 4, "MEMORY_MB": 2048})
    consumer, project, user = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    body = {"allocations": {rp["uuid"]: {"resources": {"VCPU": 2}}},
            "project_id": project, "user_id": user, "consumer_generation": None}
    assert api("PUT", f"/allocations/{consumer}", body=body).status_code == 204
    r = api("PUT", f"/allocations/{consumer}", body=body)
    assert r.status_code == 409 and error(r)["code"] == "placement.concurrent_update"
    r = api("GET", f"/allocations/{consumer}")
    got = r.json()
    assert got["consumer_generation"] == 1 and got["project_id"] == project
    assert got["allocations"][rp["uuid"]]["resources"] == {"VCPU": 2}
    r = api("PUT", f"/allocations/{uuid.uuid4()!s}", body={
        **body, "allocations": {rp["uuid"]: {"resources": {"VCPU": 3}}}})
    assert r.status_code == 409 and "capacity" in error(r)["detail"]
    r = api("GET", f"/resource_providers/{rp['uuid']}/usages")
    assert r.json()["usages"] == {"VCPU": 2, "MEMORY_MB": 0}
    assert api("GET", f"/usages?project_id={project}").json() == {"usages": {"VCPU": 2}}
    r = api("GET", f"/resource_providers/{rp['uuid']}/allocations")
    assert r.json()["allocations"] == {consumer: {"resources": {"VCPU": 2}}}
    # old list format and 1.27- shapes
    other = str(uuid.uuid4())
    r = api("PUT", f"/allocations/{other}", version="1.8", body={
        "allocations": [{"resource_provider": {"uuid": rp["uuid"]},
                         "resources": {"MEMORY_MB": 512}}],
        "project_id": project, "user_id": user})
    assert r.status_code == 204, r.text
    assert set(api("GET", f"/allocations/{other}", version="1.11").json()) == {"allocations"}
    # POST many, then delete
    r = api("POST", "/allocations", body={
        other: {"allocations": {}, "project_id": project, "user_id": user,
                "consumer_generation": 1},
        consumer: {"allocations": {rp["uuid"]: {"resources": {"VCPU": 4}}},
                   "project_id": project, "user_id": user, "consumer_generation": 1}})
    assert r.status_code == 204, r.text
    assert api("GET", f"/allocations/{other}").json() == {"allocations": {}}
    assert api("DELETE", f"/allocations/{consumer}").status_code == 204
    assert api("DELETE", f"/allocations/{consumer}").status_code == 404
    r = api("PUT", f"/allocations/{consumer}", body={
        **body, "allocations": {str(uuid.uuid4()): {"resources": {"VCPU": 1}}}})
    assert r.status_code == 400


def test_traits_aggregates_classes(api: Api) -> None:
    rp = api.provider(inventory={"VCPU": 4})
    assert api("PUT", "/traits/CUSTOM_FAST").status_code in (201, 204)
    assert api("PUT", "/traits/NOT_CUSTOM").status_code == 400
    assert api("GET", "/traits/CUSTOM_FAST").status_code == 204
    r = api("PUT", f"/resource_providers/{rp['uuid']}/traits", body={
        "traits": ["CUSTOM_FAST", "HW_CPU_X86_AVX2"],
        "resource_provider_generation": rp["generation"]})
    assert r.status_code == 200, r.text
    gen = r.json()["resource_provider_generation"]
    assert "CUSTOM_FAST" in api("GET", "/traits?associated=true").json()["traits"]
    assert api("DELETE", "/traits/CUSTOM_FAST").status_code == 409
    r = api("GET", "/resource_providers?required=CUSTOM_FAST")
    assert [p["uuid"] for p in r.json()["resource_providers"]] == [rp["uuid"]]
    agg = str(uuid.uuid4())
    r = api("PUT", f"/resource_providers/{rp['uuid']}/aggregates", version="1.1", body=[agg])
    assert r.json() == {"aggregates": [agg]}
    r = api("PUT", f"/resource_providers/{rp['uuid']}/aggregates",
            body={"aggregates": [agg], "resource_provider_generation": gen})
    assert r.status_code == 409
    r = api("GET", f"/resource_providers?member_of=in:{agg}")
    assert [p["uuid"] for p in r.json()["resource_providers"]] == [rp["uuid"]]
    assert api("POST", "/resource_classes", body={"name": "CUSTOM_GPU"}).status_code in (
        201, 409)
    assert api("PUT", "/resource_classes/CUSTOM_GPU").status_code == 204
    assert api("GET", "/resource_classes/CUSTOM_GPU").json()["name"] == "CUSTOM_GPU"
    assert api("DELETE", "/resource_classes/VCPU").status_code == 400
    names = [c["name"] for c in api("GET", "/resource_classes").json()["resource_classes"]]
    assert "VCPU" in names and "CUSTOM_GPU" in names


def test_allocation_candidates_shapes(api: Api) -> None:
    trait = f"CUSTOM_AC_{uuid.uuid4().hex[:6].upper()}"
    api("PUT", f"/traits/{trait}")
    rp = api.provider(inventory={"VCPU": 64, "MEMORY_MB": 65536, "DISK_GB": 500})
    api("PUT", f"/resource_providers/{rp['uuid']}/traits",
        body={"traits": [trait], "resource_provider_generation": rp["generation"]})
    q = f"/allocation_candidates?resources=VCPU:1,MEMORY_MB:64&required={trait}"
    r = api("GET", q)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["allocation_requests"]) == 1
    req = body["allocation_requests"][0]
    assert req["allocations"] == {rp["uuid"]: {"resources": {"VCPU": 1, "MEMORY_MB": 64}}}
    assert req["mappings"] == {"": [rp["uuid"]]}
    summary = body["provider_summaries"][rp["uuid"]]
    assert summary["resources"]["DISK_GB"] == {"capacity": 500, "used": 0}
    assert summary["traits"] == [trait] and summary["root_provider_uuid"] == rp["uuid"]
    old = api("GET", "/allocation_candidates?resources=VCPU:1,MEMORY_MB:64&limit=1",
              version="1.16").json()
    assert isinstance(old["allocation_requests"][0]["allocations"], dict)
    oldest = api("GET", "/allocation_candidates?resources=VCPU:60", version="1.10").json()
    item = oldest["allocation_requests"][0]["allocations"][0]
    assert item["resource_provider"]["uuid"] == rp["uuid"]
    assert set(oldest["provider_summaries"][rp["uuid"]]) == {"resources"}
    r = api("GET", "/allocation_candidates?resources1=VCPU:1&resources2=MEMORY_MB:1")
    assert r.status_code == 400 and "group_policy" in error(r)["detail"]
    r = api("GET", f"/allocation_candidates?resources=VCPU:1&required=!{trait}")
    assert rp["uuid"] not in r.json()["provider_summaries"]
    for bad in ("resources=VCPU", "resources=VCPU:0", "resources=NOPE_X:1", "foo=bar",
                "resources=VCPU:1&required=CUSTOM_NOT_THERE", "resources=VCPU:1&limit=x"):
        r = api("GET", f"/allocation_candidates?{bad}")
        assert r.status_code == 400, (bad, r.text)
        assert error(r)["code"].startswith("placement.")


@pytest.mark.cli
def test_osc_placement_cli(cli: Cli) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    out = json.loads(cli.run("resource", "provider", "create", name, "-f", "json").stdout)
    rp = out["uuid"]
    listed = json.loads(cli.run("resource", "provider", "list", "-f", "json").stdout)
    assert name in {p["name"] for p in listed}
    cli.run("resource", "provider", "inventory", "set", rp, "--resource", "VCPU=16",
            "--resource", "MEMORY_MB=8192", "--resource", "VCPU:allocation_ratio=2.0")
    inv = json.loads(cli.run("resource", "provider", "inventory", "list", rp,
                             "-f", "json").stdout)
    assert {i["resource_class"]: i["total"] for i in inv} == {"VCPU": 16, "MEMORY_MB": 8192}
    cands = json.loads(cli.run("--os-placement-api-version", "1.29", "allocation",
                               "candidate", "list", "--resource", "VCPU=20",
                               "-f", "json").stdout)
    assert rp in {c["resource provider"] for c in cands}
    cli.run("resource", "provider", "delete", rp)
