"""Glance metadata definitions (metadefs) and tasks: openstacksdk's metadef calls and raw
HTTP with real tokens, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any, cast

import httpx
import pytest
from openstack import exceptions as sdk_exc
from openstack.image.v2._proxy import Proxy as ImageProxy

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud

STANDARD_TYPES = {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor",
                  "OS::Nova::Server", "OS::Nova::Aggregate"}


TOKENS: dict[tuple[str, str], str] = {}


class Http:
    def __init__(self, cloud: RunningCloud, who: str) -> None:
        self.base = f"{cloud.base_url}/image/v2"
        key = (cloud.base_url, who)
        if key not in TOKENS:
            TOKENS[key] = cloud.token(who)
        self.headers = {"X-Auth-Token": TOKENS[key]}

    def __call__(self, method: str, path: str, body: Any = None,
                 headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.request(method, self.base + path, json=body,
                             headers={**self.headers, **(headers or {})})


def _fault(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    message = r.json()["message"]
    for word in words:
        assert word in message, message


def test_metadefs_with_openstacksdk(cloud: RunningCloud) -> None:
    """Namespaces with resource type associations, objects, properties and tags, through
    openstacksdk's image proxy, as an admin (Glance: only admins write metadefs)."""
    conn = connect(cloud)
    img = cast(ImageProxy, conn.image)
    assert {rt.name for rt in img.metadef_resource_types()} >= STANDARD_TYPES
    name = unique("OS::Test::NS")
    ns = img.create_metadef_namespace(
        namespace=name, display_name="Test", description="onestack test",
        visibility="public", protected=True,
        resource_type_associations=[{"name": "OS::Glance::Image", "prefix": "hw_"}])
    try:
        assert ns.is_protected and ns.visibility == "public"
        assert name in {n.namespace for n in img.metadef_namespaces()}
        assert name in {n.namespace for n in img.metadef_namespaces(
            resource_types="OS::Glance::Image")}
        assert name not in {n.namespace for n in img.metadef_namespaces(
            resource_types="OS::Nova::Flavor")}
        with pytest.raises(sdk_exc.ForbiddenException):
            img.delete_metadef_namespace(name)
        # objects
        obj = img.create_metadef_object(name, name="CPU Limits", description="limits",
                                        required=["cpu_period"], properties={
                                            "cpu_period": {"title": "Period", "type": "integer",
                                                           "minimum": 1000}})
        assert obj.name == "CPU Limits"
        got = img.get_metadef_object("CPU Limits", name)
        assert got.properties["cpu_period"]["minimum"] == 1000 and got.required == ["cpu_period"]
        assert [o.name for o in img.metadef_objects(name)] == ["CPU Limits"]
        # properties, shown with the prefix of an association
        prop = img.create_metadef_property(name, name="cpu_mode", title="CPU mode",
                                           type="string", enum=["host-model", "custom"])
        assert prop.name == "cpu_mode" and prop.enum == ["host-model", "custom"]
        r = conn.image.get(f"/metadefs/namespaces/{name}?resource_type=OS::Glance::Image")
        assert "hw_cpu_mode" in r.json()["properties"], r.text
        assert {"cpu_mode"} == {p.name for p in img.metadef_properties(name)}
        # tags: one, then a bulk replace, then a bulk append
        ns_obj = img.get_metadef_namespace(name)
        img.add_tag_to_metadef_namespace(ns_obj, "one")
        ns_obj.set_tags(img, ["a", "b"])
        assert {t["name"] for t in conn.image.get(
            f"/metadefs/namespaces/{name}/tags").json()["tags"]} == {"a", "b"}
        ns_obj.set_tags(img, ["c"], append=True)
        detail = img.get_metadef_namespace(name)
        assert {t["name"] for t in detail.tags} == {"a", "b", "c"}
        assert detail.resource_type_associations[0]["prefix"] == "hw_"
        # unprotect, then everything in it can go
        img.update_metadef_namespace(name, visibility="public", protected=False,
                                     description="changed")
        assert img.get_metadef_namespace(name).description == "changed"
        img.delete_metadef_property(prop, name)
        img.delete_metadef_object(obj, name)
        img.delete_metadef_resource_type_association("OS::Glance::Image", name)
        assert list(img.metadef_resource_type_associations(name)) == []
    finally:
        conn.image.put(f"/metadefs/namespaces/{name}",
                       json={"namespace": name, "protected": False})
        img.delete_metadef_namespace(name, ignore_missing=True)
    with pytest.raises(sdk_exc.NotFoundException):
        img.get_metadef_namespace(name)


def test_metadef_visibility_and_policy(cloud: RunningCloud) -> None:
    """A private namespace of another project is 404; a public one is read by all; only
    admins write; a project's own private namespace is visible to it."""
    admin, demo = Http(cloud, "admin"), Http(cloud, "demo")
    demo_project = cloud.accounts["demo"].project_id
    assert demo_project
    hidden, public, own = unique("Hidden"), unique("Public"), unique("Own")
    try:
        for name, extra in ((hidden, {"visibility": "private"}),
                            (public, {"visibility": "public"}),
                            (own, {"visibility": "private", "owner": demo_project})):
            r = admin("POST", "/metadefs/namespaces", {"namespace": name, **extra})
            assert r.status_code == 201, r.text
        assert admin("POST", f"/metadefs/namespaces/{hidden}/tags/t1").status_code == 201
        seen = {n["namespace"] for n in demo("GET", "/metadefs/namespaces").json()["namespaces"]}
        assert public in seen and own in seen and hidden not in seen
        for path in ("", "/tags", "/tags/t1", "/objects", "/properties", "/resource_types"):
            _fault(demo("GET", f"/metadefs/namespaces/{hidden}{path}"), 404, hidden)
        assert demo("GET", f"/metadefs/namespaces/{public}").status_code == 200
        assert demo("GET", f"/metadefs/namespaces/{own}").json()["owner"] == demo_project
        # readers and members of a project do not write metadefs, not even their own
        assert demo("POST", "/metadefs/namespaces", {"namespace": unique("X")}
                    ).status_code == 403
        for method, path in (("PUT", public), ("DELETE", public), ("DELETE", own),
                             ("POST", f"{own}/tags/x")):
            body = {"namespace": public} if method == "PUT" else None
            assert demo(method, f"/metadefs/namespaces/{path}", body).status_code == 403
        assert admin("GET", f"/metadefs/namespaces/{own}").status_code == 200
    finally:
        for name in (hidden, public, own):
            admin("DELETE", f"/metadefs/namespaces/{name}")


def test_metadef_bad_input(cloud: RunningCloud) -> None:
    """Glance's 4xx bodies naming the field; nothing half made."""
    admin = Http(cloud, "admin")
    ns = unique("Bad")
    _fault(admin("POST", "/metadefs/namespaces", {"display_name": "x"}), 400, "namespace")
    _fault(admin("POST", "/metadefs/namespaces", {"namespace": ns, "visibility": "shared"}),
           400, "visibility")
    _fault(admin("POST", "/metadefs/namespaces", {"namespace": ns, "bogus": 1}), 400, "bogus")
    _fault(admin("POST", "/metadefs/namespaces", {"namespace": ns, "tags": [
        {"name": "a"}, {"name": "a"}]}), 409, ns)
    assert admin("GET", f"/metadefs/namespaces/{ns}").status_code == 404  # not half made
    assert admin("POST", "/metadefs/namespaces", {"namespace": ns}).status_code == 201
    try:
        _fault(admin("POST", "/metadefs/namespaces", {"namespace": ns}), 409, ns)
        base = f"/metadefs/namespaces/{ns}"
        _fault(admin("PUT", base, {"namespace": ns, "created_at": "x"}), 403, "created_at")
        _fault(admin("POST", f"{base}/properties", {"name": "p", "type": "string"}), 400,
               "title")
        _fault(admin("POST", f"{base}/properties", {"name": "p", "title": "P",
                                                     "type": "str"}), 400, "type")
        _fault(admin("POST", f"{base}/objects", {"name": "o" * 81}), 400, "name")
        _fault(admin("POST", f"{base}/tags/{'t' * 256}"), 400, "name")
        _fault(admin("POST", f"{base}/tags", {"tags": [{"name": "a"}, {"name": "a"}]}), 409,
               "a")
        assert admin("POST", f"{base}/tags/a").status_code == 201
        _fault(admin("POST", f"{base}/tags", {"tags": [{"name": "a"}]},
                     {"X-Openstack-Append": "True"}), 409, "a")
        _fault(admin("GET", f"{base}/objects/nope"), 404, "nope")
        _fault(admin("GET", "/metadefs/namespaces?limit=x"), 400, "limit")
        _fault(admin("GET", "/metadefs/namespaces?sort_dir=up"), 400, "sort_dir")
        _fault(admin("POST", f"{base}/resource_types", {"prefix": "x"}), 400, "name")
    finally:
        assert admin("DELETE", f"/metadefs/namespaces/{ns}").status_code == 204


def test_tasks_and_schemas(cloud: RunningCloud) -> None:
    """An import task from a URL is recorded and fails with the reason (web downloads are
    not served); bad input is 400 naming the field; tasks are admin-only; every metadefs
    and task schema is served."""
    admin, demo = Http(cloud, "admin"), Http(cloud, "demo")
    task: dict[str, Any] = {"type": "import", "input": {
        "import_from": "http://example.invalid/disk.qcow2", "import_from_format": "qcow2",
        "image_properties": {"disk_format": "qcow2", "container_format": "bare"}}}
    r = admin("POST", "/tasks", task)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "failure" and "not enabled" in body["message"]
    assert r.headers["Location"].endswith(f"/v2/tasks/{body['id']}")
    assert admin("GET", f"/tasks/{body['id']}").json()["input"] == task["input"]
    listed = admin("GET", "/tasks?status=failure&type=import").json()
    assert body["id"] in {t["id"] for t in listed["tasks"]}
    assert "input" not in listed["tasks"][0] and listed["schema"] == "/v2/schemas/tasks"
    assert demo("GET", "/tasks").status_code == 403
    assert demo("POST", "/tasks", task).status_code == 403
    _fault(admin("DELETE", f"/tasks/{body['id']}"), 405, "not permitted")
    _fault(admin("POST", "/tasks", {"type": "import"}), 400, "input")
    _fault(admin("POST", "/tasks", {"type": "import", "input": {
        **task["input"], "import_from": "file:///etc/passwd"}}), 400, "input.import_from")
    _fault(admin("POST", "/tasks", {"type": "copy", "input": {}}), 400, "type")
    _fault(admin("GET", "/tasks?status=done"), 400, "status")
    _fault(admin("GET", "/tasks/00000000-0000-0000-0000-000000000000"), 404, "not found")
    for name, title in (("namespace", "namespace"), ("namespaces", "namespaces"),
                        ("object", "object"), ("objects", "objects"),
                        ("property", "property"), ("properties", "properties"),
                        ("tag", "tag"), ("tags", "tags"),
                        ("resource_type", "resource_type_association"),
                        ("resource_types", "resource_type_associations")):
        r = demo("GET", f"/schemas/metadefs/{name}")
        assert r.status_code == 200 and r.json()["name"] == title, (name, r.text)
    assert demo("GET", "/schemas/task").json()["name"] == "task"
    assert demo("GET", "/schemas/tasks").json()["name"] == "tasks"


@pytest.mark.sqlite_only
def test_metadef_cli(cloud: RunningCloud, cli: Any) -> None:
    """The `openstack image metadef namespace` commands of python-openstackclient (two
    commands: each costs seconds)."""
    name = unique("OS::Cli::NS")
    out = json.loads(cli.run("image", "metadef", "namespace", "create", "--public",
                             "--description", "from the CLI", name, "-f", "json").stdout)
    assert out["namespace"] == name and out["visibility"] == "public", out
    admin = Http(cloud, "admin")
    assert admin("GET", f"/metadefs/namespaces/{name}").json()["description"] == \
        "from the CLI"
    cli.run("image", "metadef", "namespace", "delete", name)
    assert admin("GET", f"/metadefs/namespaces/{name}").status_code == 404
