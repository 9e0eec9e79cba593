"""Host aggregates and the availability zones they make, through openstacksdk and raw HTTP:
create/list/show/update/delete, add/remove host, metadata; Nova's errors (duplicate name
409, a host in two zones 409, unknown host 404, delete non-empty 400, bad body 400 naming
the field, 403 for a project member); the zone lists; and the scheduler honouring the zone
a boot asks for and a flavor's ``aggregate_instance_extra_specs:`` (the cloud's one compute
host, compute-test, moved in and out of a zone)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import openstack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openstack import exceptions as exc

from tests.api.conftest import connect, unique
from tests.api.test_compute import nova, wait
from tests.support.server import RunningCloud

HOST = "compute-test"


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud) -> str:
    img = connect(cloud).image.create_image(name=unique("img"), data=b"\0" * 4096,
                                            disk_format="raw", container_format="bare",
                                            visibility="public")
    return str(img.id)


@pytest.fixture
def aggregates(cloud: RunningCloud) -> Iterator[list[int]]:
    """Ids of aggregates a test made: emptied and deleted afterwards."""
    made: list[int] = []
    yield made
    for ident in made:
        body = nova(cloud, "GET", f"/os-aggregates/{ident}").json().get("aggregate", {})
        for host in body.get("hosts", []):
            nova(cloud, "POST", f"/os-aggregates/{ident}/action",
                 json={"remove_host": {"host": host}})
        nova(cloud, "DELETE", f"/os-aggregates/{ident}")


def test_aggregate_lifecycle_and_errors(cloud: RunningCloud, aggregates: list[int]) -> None:
    conn = connect(cloud)
    name = unique("agg")
    agg = conn.compute.create_aggregate(name=name, availability_zone=unique("az"))
    aggregates.append(agg.id)
    raw = nova(cloud, "GET", f"/os-aggregates/{agg.id}").json()["aggregate"]
    assert set(raw) == {"availability_zone", "created_at", "deleted", "deleted_at", "hosts",
                        "id", "metadata", "name", "updated_at", "uuid"}
    assert raw["metadata"] == {"availability_zone": agg.availability_zone}
    assert "uuid" not in nova(cloud, "GET", f"/os-aggregates/{agg.id}",
                              version="2.40").json()["aggregate"]
    assert agg.id in {a.id for a in conn.compute.aggregates()}
    # duplicate name: 409; bad bodies: 400 naming the field; members: 403
    dup = nova(cloud, "POST", "/os-aggregates", json={"aggregate": {"name": name}})
    assert dup.status_code == 409 and "already exists" in dup.json()["conflictingRequest"][
        "message"]
    for body, field in (({"aggregate": {"name": ""}}, "name"),
                        ({"aggregate": {"name": "x", "availability_zone": "a:b"}},
                         "availability_zone"),
                        ({"aggregate": {"name": "x", "color": "red"}}, "color")):
        bad = nova(cloud, "POST", "/os-aggregates", json=body)
        assert bad.status_code == 400 and field in bad.json()["badRequest"]["message"], body
    assert nova(cloud, "GET", "/os-aggregates/abc").status_code == 400
    assert nova(cloud, "GET", "/os-aggregates/999999").status_code == 404
    assert nova(cloud, "GET", "/os-aggregates", who="demo").status_code == 403
    assert nova(cloud, "POST", f"/os-aggregates/{agg.id}/action", who="demo",
                json={"add_host": {"host": HOST}}).status_code == 403
    # hosts: unknown 404, add, twice 409, in a second zone 409, delete non-empty 400
    act = f"/os-aggregates/{agg.id}/action"
    missing = nova(cloud, "POST", act, json={"add_host": {"host": "no-such-host"}})
    assert missing.status_code == 404 and "itemNotFound" in missing.json()
    agg = conn.compute.add_host_to_aggregate(agg, HOST)
    assert agg.hosts == [HOST]
    assert nova(cloud, "POST", act, json={"add_host": {"host": HOST}}).status_code == 409
    other = conn.compute.create_aggregate(name=unique("agg"), availability_zone=unique("az"))
    aggregates.append(other.id)
    two = nova(cloud, "POST", f"/os-aggregates/{other.id}/action",
               json={"add_host": {"host": HOST}})
    assert two.status_code == 409 and "availability zone" in two.text
    plain = conn.compute.create_aggregate(name=unique("agg"))  # no zone: a host may join
    aggregates.append(plain.id)
    assert conn.compute.add_host_to_aggregate(plain, HOST).hosts == [HOST]
    clash = nova(cloud, "PUT", f"/os-aggregates/{plain.id}",
                 json={"aggregate": {"availability_zone": unique("az")}})
    assert clash.status_code == 400 and "availability zone" in clash.text
    same = nova(cloud, "POST", f"/os-aggregates/{plain.id}/action", json={
        "set_metadata": {"metadata": {"availability_zone": agg.availability_zone}}})
    assert same.status_code == 200  # the zone its host is in already: allowed
    nova(cloud, "POST", f"/os-aggregates/{plain.id}/action", json={
        "set_metadata": {"metadata": {"availability_zone": None}}})
    assert nova(cloud, "DELETE", f"/os-aggregates/{agg.id}").status_code == 400
    # metadata: set, replace, remove (null); bad key 400
    agg = conn.compute.set_aggregate_metadata(agg, {"ssd": "true", "pool": "a"})
    agg = conn.compute.set_aggregate_metadata(agg, {"pool": None, "ssd": "yes"})
    assert agg.metadata == {"availability_zone": agg.availability_zone, "ssd": "yes"}
    bad = nova(cloud, "POST", act, json={"set_metadata": {"metadata": {"bad/key": "x"}}})
    assert bad.status_code == 400 and "metadata" in bad.json()["badRequest"]["message"]
    bad = nova(cloud, "POST", act, json={"set_metadata": {"metadata": {
        "availability_zone": "in:valid"}}})
    assert bad.status_code == 400 and "availability_zone" in bad.text
    assert nova(cloud, "POST", act, json={"reboot": {}}).status_code == 400
    # the zone shows on the host's service and in the zone lists
    zone = agg.availability_zone
    services = nova(cloud, "GET", "/os-services?binary=nova-compute").json()["services"]
    assert {s["host"]: s["zone"] for s in services}[HOST] == zone
    listed = nova(cloud, "GET", "/os-availability-zone", who="demo").json()
    assert {"zoneName": zone, "zoneState": {"available": True}, "hosts": None} in listed[
        "availabilityZoneInfo"]
    detail = nova(cloud, "GET", "/os-availability-zone/detail").json()["availabilityZoneInfo"]
    by_name = {z["zoneName"]: z for z in detail}
    assert "nova-compute" in by_name[zone]["hosts"][HOST]
    assert "nova-scheduler" in by_name["internal"]["hosts"]["onestack"]
    # update: rename and move the zone; remove the host; delete
    agg = conn.compute.update_aggregate(agg, name=name + "-2", availability_zone=zone + "b")
    assert agg.name == name + "-2" and agg.availability_zone == zone + "b"
    assert nova(cloud, "PUT", f"/os-aggregates/{agg.id}",
                json={"aggregate": {"name": other.name}}).status_code == 409
    assert nova(cloud, "PUT", f"/os-aggregates/{agg.id}",
                json={"aggregate": {}}).status_code == 400
    for a in (agg, plain):
        assert conn.compute.remove_host_from_aggregate(a, HOST).hosts == []
    gone = nova(cloud, "POST", act, json={"remove_host": {"host": HOST}})
    assert gone.status_code == 404
    services = nova(cloud, "GET", "/os-services?binary=nova-compute").json()["services"]
    assert {s["host"]: s["zone"] for s in services}[HOST] == "nova"
    conn.compute.delete_aggregate(agg)
    assert nova(cloud, "GET", f"/os-aggregates/{agg.id}").status_code == 404


def _boot(conn: openstack.connection.Connection, image: str, flavor: str, **kw: Any) -> Any:
    return conn.compute.create_server(name=unique("vm"), image_id=image, flavor_id=flavor,
                                      networks="none", **kw)


def test_scheduler_honours_zones_and_aggregate_specs(cloud: RunningCloud, image_id: str,
                                                     aggregates: list[int]) -> None:
    conn = connect(cloud)
    zone = unique("az")
    agg = conn.compute.create_aggregate(name=unique("agg"), availability_zone=zone)
    aggregates.append(agg.id)
    conn.compute.add_host_to_aggregate(agg, HOST)
    flavor = conn.compute.create_flavor(name=unique("flv"), ram=64, vcpus=1, disk=0)
    conn.compute.create_flavor_extra_specs(flavor, {
        "aggregate_instance_extra_specs:ssd": "true",
        "aggregate_instance_extra_specs:tier": "<or> gold <or> silver"})
    made: list[str] = []
    try:
        with pytest.raises(exc.BadRequestException, match="availability zone"):
            _boot(conn, image_id, "42", availability_zone="no-such-zone")
        member = connect(cloud, "demo")
        with pytest.raises(exc.ForbiddenException):
            _boot(member, image_id, "42", availability_zone=f"{zone}:{HOST}")
        inside = _boot(conn, image_id, "42", availability_zone=zone)
        made.append(inside.id)
        inside = wait(conn, inside.id, "ACTIVE")
        assert inside.availability_zone == zone and inside.compute_host == HOST
        outside = _boot(conn, image_id, "42", availability_zone="nova")  # host left nova
        made.append(outside.id)
        outside = wait(conn, outside.id, "ERROR")
        assert "AvailabilityZoneFilter" in outside.fault["message"]
        no_specs = _boot(conn, image_id, flavor.id)
        made.append(no_specs.id)
        assert "AggregateInstanceExtraSpecsFilter" in wait(
            conn, no_specs.id, "ERROR").fault["message"]
        conn.compute.set_aggregate_metadata(agg, {"ssd": "true", "tier": "silver"})
        fits = _boot(conn, image_id, flavor.id, availability_zone=f"{zone}:{HOST}")
        made.append(fits.id)
        assert wait(conn, fits.id, "ACTIVE").compute_host == HOST
    finally:
        for server_id in made:
            with contextlib.suppress(exc.SDKException):
                conn.compute.delete_server(server_id, force=True)
        for server_id in made:
            with contextlib.suppress(exc.SDKException):
                conn.compute.wait_for_delete(conn.compute.get_server(server_id), wait=20)
        conn.compute.delete_flavor(flavor)


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=12),
                    st.dictionaries(st.text(max_size=8), st.one_of(st.none(), st.text(
                        max_size=8), st.integers()), max_size=3), st.lists(st.text(max_size=4),
                                                                          max_size=2))
_inner = st.dictionaries(st.sampled_from(["name", "availability_zone", "host", "metadata",
                                          "x"]), _values, max_size=3)
_bodies = st.one_of(_values, st.builds(lambda k, v: {k: v}, st.sampled_from(
    ["aggregate", "add_host", "remove_host", "set_metadata", "x"]), st.one_of(_inner,
                                                                               _values)))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=_bodies, method=st.sampled_from(["POST /os-aggregates", "PUT AGG",
                                             "POST AGG/action", "PUT /os-hosts/compute-test"]))
def test_aggregate_and_host_bodies_never_500(cloud: RunningCloud, aggregates: list[int],
                                            request: pytest.FixtureRequest,
                                            body: Any, method: str) -> None:
    """Random bodies on the new write routes: Nova's 4xx, never a 5xx; anything made is
    removed by the fixture. Validation does not depend on the backend: SQLite only."""
    if "postgresql" in request.node.name:
        pytest.skip("body validation is the same on both backends")
    if not aggregates:
        made = nova(cloud, "POST", "/os-aggregates", json={"aggregate": {"name": unique("fz")}})
        aggregates.append(made.json()["aggregate"]["id"])
    verb, path = method.split(" ")
    path = path.replace("AGG", f"/os-aggregates/{aggregates[0]}")
    r = nova(cloud, verb, path, json=body, version="2.1")
    assert r.status_code < 500, (method, body, r.text)
    if verb == "POST" and path == "/os-aggregates" and r.status_code == 200:
        aggregates.append(r.json()["aggregate"]["id"])
    if path.startswith("/os-hosts") and r.status_code == 200:
        nova(cloud, "PUT", path, json={"status": "enable"}, version="2.1")
    if r.status_code >= 400:
        assert next(iter(r.json().values()))["code"] == r.status_code
