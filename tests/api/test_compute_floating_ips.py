"""Nova's floating IP proxy (os-floating-ips to 2.35, addFloatingIp/removeFloatingIp to
2.43) over the network service: raw HTTP with real tokens, the result checked with
openstacksdk's network API."""

from __future__ import annotations

from typing import Any

import httpx
import openstack

from tests.api.conftest import unique
from tests.api.test_compute_network import boot, gone, image_id, net
from tests.support.server import RunningCloud

__all__ = ["image_id", "net"]  # the fixtures


def _nova(cloud: RunningCloud, method: str, path: str, who: str = "demo",
          version: str = "2.35", **kw: Any) -> httpx.Response:
    headers = {"X-Auth-Token": cloud.token(who), "OpenStack-API-Version": f"compute {version}"}
    return httpx.request(method, f"{cloud.base_url}/compute/v2.1{path}", headers=headers,
                         timeout=30, **kw)


def test_floating_ip_proxy(cloud: RunningCloud, demo: openstack.connection.Connection,
                           admin: openstack.connection.Connection, image_id: str,
                           net: Any) -> None:
    n, sub = net
    ext = admin.network.create_network(name=unique("ext"), is_router_external=True)
    admin.network.create_subnet(network_id=ext.id, ip_version=4, cidr="172.30.19.0/24")
    router = demo.network.create_router(name=unique("r"),
                                        external_gateway_info={"network_id": ext.id})
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    server = boot(demo, image_id, networks=[{"uuid": n.id}])
    made: list[str] = []

    def act(body: dict[str, Any], who: str = "demo", version: str = "2.35"
            ) -> httpx.Response:
        return _nova(cloud, "POST", f"/servers/{server.id}/action", who=who,
                     version=version, json=body)

    try:
        assert _nova(cloud, "POST", "/os-floating-ips",
                     json={"pool": "no-such-pool"}).status_code == 404
        for pool in (ext.id, ext.name):
            r = _nova(cloud, "POST", "/os-floating-ips", json={"pool": pool})
            assert r.status_code == 200, r.text
            made.append(r.json()["floating_ip"]["id"])
        fip = r.json()["floating_ip"]
        assert fip["pool"] == ext.name and fip["instance_id"] is None
        assert fip["fixed_ip"] is None and fip["ip"].startswith("172.30.19.")
        assert {f["id"] for f in _nova(cloud, "GET", "/os-floating-ips").json()[
            "floating_ips"]} >= set(made)
        # another project's is not there for the demo project
        theirs = _nova(cloud, "POST", "/os-floating-ips", who="admin", json={
            "pool": ext.id}).json()["floating_ip"]
        made.append(theirs["id"])
        assert _nova(cloud, "GET", f"/os-floating-ips/{theirs['id']}").status_code == 404
        assert theirs["id"] not in {f["id"] for f in _nova(
            cloud, "GET", "/os-floating-ips").json()["floating_ips"]}
        assert act({"addFloatingIp": {"address": theirs["ip"]}}).status_code == 404
        assert _nova(cloud, "DELETE", f"/os-floating-ips/{theirs['id']}").status_code == 404
        assert _nova(cloud, "DELETE", f"/os-floating-ips/{made.pop()}",
                     who="admin").status_code == 202
        assert _nova(cloud, "GET", "/os-floating-ips", version="2.36").status_code == 404
        assert act({"addFloatingIp": {"address": "172.30.19.250"}}).status_code == 404
        bad = act({"addFloatingIp": {"address": "x"}})
        assert bad.status_code == 400 and "address" in bad.json()["badRequest"]["message"]
        r = act({"addFloatingIp": {"address": fip["ip"]}})
        assert r.status_code == 202, r.text
        port = next(iter(demo.network.ports(device_id=server.id)))
        assert demo.network.get_ip(fip["id"]).port_id == port.id
        shown = _nova(cloud, "GET", f"/os-floating-ips/{fip['id']}").json()["floating_ip"]
        assert shown["instance_id"] == server.id
        assert shown["fixed_ip"] == port.fixed_ips[0]["ip_address"]
        # a second one on the same fixed address: Nova's 400
        other = _nova(cloud, "GET", f"/os-floating-ips/{made[0]}").json()["floating_ip"]
        assert act({"addFloatingIp": {"address": other["ip"]}}).status_code == 400
        # not this server's: 409
        assert act({"removeFloatingIp": {"address": other["ip"]}}).status_code == 409
        assert act({"removeFloatingIp": {"address": fip["ip"]}},
                   version="2.44").status_code == 404
        assert act({"removeFloatingIp": {"address": fip["ip"]}}).status_code == 202
        assert demo.network.get_ip(fip["id"]).port_id is None
        for fip_id in made:
            assert _nova(cloud, "DELETE", f"/os-floating-ips/{fip_id}").status_code == 202
        assert _nova(cloud, "DELETE", f"/os-floating-ips/{made[0]}").status_code == 404
        made.clear()
    finally:
        demo.compute.delete_server(server.id)
        gone(demo, server.id)
        for fip_id in made:
            demo.network.delete_ip(fip_id)
        demo.network.remove_interface_from_router(router, subnet_id=sub.id)
        demo.network.delete_router(router.id)
        admin.network.delete_network(ext.id)
