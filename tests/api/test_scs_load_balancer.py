"""SCS-0123 (mandatory and supported IaaS services): the load balancer check of the Sovereign
Cloud Stack compliance suite, replayed as its ``openstack_test.py`` runs it.

Upstream (SovereignCloudStack/standards, Tests/iaas): the preflight connects with
openstacksdk as a plain project member (``member`` among the token's roles, neither ``admin``
nor ``manager``: ``ensure_unprivileged``), builds a lookup of ``conn.service_catalog`` by
service type (``compute_services_lookup``), and the testcase
``scs-0123-service-load-balancer`` passes when a service of type ``load-balancer`` is in it
(``compute_scs_0123_service_presence``). The other scs-0123 catalog testcases and the older
``mandatory-iaas-services.py`` (every mandatory type at once) are checked the same way.

Beyond what upstream checks (a catalog entry alone proves little): the entry's public
endpoint answers the unauthenticated version discovery, and that same unprivileged member
makes a load balancer, sees it ACTIVE and deletes it (as SCS-0116 does with a secret for the
key manager)."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import httpx
import openstack

from tests.api.test_load_balancer import active, lb_net

Conn = openstack.connection.Connection

# openstack_test.py's scs_0123_* catalog testcases: testcase -> the types that satisfy it
SCS_0123 = {
    "scs-0123-service-compute": ("compute",),
    "scs-0123-service-identity": ("identity",),
    "scs-0123-service-image": ("image",),
    "scs-0123-service-network": ("network",),
    "scs-0123-service-load-balancer": ("load-balancer",),
    "scs-0123-service-placement": ("placement",),
    "scs-0123-storage-apis": ("volume", "volumev3", "block-storage"),
}


def services_lookup(conn: Conn) -> dict[str, list[dict[str, Any]]]:
    """compute_services_lookup: the catalog's services by type."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for svc in conn.service_catalog:
        out[svc["type"]].append(svc)
    return out


def unprivileged_roles(conn: Conn) -> set[str]:
    """ensure_unprivileged: the token's role names; the check refuses admin and manager."""
    roles = set(conn.session.auth.get_access(conn.session).role_names)
    assert not roles & {"admin", "manager"}, f"privileges too high for the SCS check: {roles}"
    return roles


def test_scs_0123_load_balancer_in_the_catalog(demo: Conn) -> None:
    assert "member" in unprivileged_roles(demo)  # run_preflight_checks
    lookup = services_lookup(demo)
    results = {case: any(lookup.get(t) for t in types) for case, types in SCS_0123.items()}
    assert results == dict.fromkeys(SCS_0123, True), results
    # the older mandatory-iaas-services.py: every mandatory type, and block storage
    mandatory = {"compute", "identity", "image", "network", "load-balancer", "placement",
                 "object-store"}
    assert mandatory <= set(lookup), mandatory - set(lookup)


def test_scs_load_balancer_endpoint_works_for_a_member(demo: Conn) -> None:
    (svc,) = services_lookup(demo)["load-balancer"]
    public = [e for e in svc["endpoints"] if e["interface"] == "public"]
    assert public, svc
    versions = httpx.get(public[0]["url"].rstrip("/") + "/", timeout=10)
    assert versions.status_code == 200, versions.text
    last = versions.json()["versions"][-1]
    assert last["status"] == "CURRENT" and last["id"].startswith("v2."), last
    # the same unprivileged member makes one, sees it ACTIVE and deletes it
    net, sub = lb_net(demo, "10.71.0.0/24")
    try:
        lb = demo.load_balancer.create_load_balancer(name="scs-lb-check",
                                                     vip_subnet_id=sub.id)
        assert active(demo, lb.id).operating_status == "ONLINE"
        assert [x.id for x in demo.load_balancer.load_balancers(name="scs-lb-check")] == [lb.id]
        demo.load_balancer.delete_load_balancer(lb.id)
        demo.load_balancer.wait_for_delete(lb, interval=0.1, wait=10)
    finally:
        demo.network.delete_network(net.id)
