"""Neutron v2.0 route table: method, path, handler, policy rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onestack.api.common.faults import neutron_fault
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.network import agents, misc
from onestack.api.network.kinds import KINDS, ROUTERS
from onestack.api.network.policies import RULES
from onestack.api.network.resources import Kind
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.core.network.bootstrap import BootstrapNetworks, ensure

R = Route


def _collection(kind: Kind) -> list[Route]:
    one = f"{kind.path}/{{id}}"
    obj, name = kind.obj_target, kind.singular
    routes = [
        R("GET", kind.path, kind.index, kind.list_rule or f"get_{name}"),
        R("POST", kind.path, kind.create, f"create_{name}", target=kind.create_target),
        R("GET", one, kind.show, f"get_{name}", target=obj),
        R("DELETE", one, kind.delete, f"delete_{name}", target=obj),
    ]
    if kind.put:
        routes.append(R("PUT", one, kind.update, f"update_{name}", target=obj))
    if kind.model is not None and kind.singular != "security_group_rule":
        routes += [
            R("GET", f"{one}/tags", kind.get_tags, f"get_{name}", target=obj),
            R("PUT", f"{one}/tags", kind.put_tags, f"update_{name}", target=obj),
            R("DELETE", f"{one}/tags", kind.delete_tags, f"update_{name}", target=obj),
            R("GET", f"{one}/tags/{{tag}}", kind.check_tag, f"get_{name}", target=obj),
            R("PUT", f"{one}/tags/{{tag}}", kind.put_tag, f"update_{name}", target=obj),
            R("DELETE", f"{one}/tags/{{tag}}", kind.delete_tag, f"update_{name}",
              target=obj),
        ]
    return routes


ROUTES: list[Route] = [
    R("GET", "/", misc.versions, auth=False),
    R("GET", "/v2.0", misc.version_v2),
    R("GET", "/v2.0/extensions", misc.list_extensions),
    R("GET", "/v2.0/extensions/{alias}", misc.get_extension),
    *[route for kind in KINDS for route in _collection(kind)],
    R("PUT", "/v2.0/routers/{id}/add_router_interface", misc.add_interface,
      "add_router_interface", target=ROUTERS.obj_target),
    R("PUT", "/v2.0/routers/{id}/remove_router_interface", misc.remove_interface,
      "remove_router_interface", target=ROUTERS.obj_target),
    # agents: admins only (the list answers others with none, as Neutron's)
    R("GET", "/v2.0/agents", agents.list_agents, "list_agents"),
    R("GET", "/v2.0/agents/{id}", agents.show_agent, "get_agent"),
    R("PUT", "/v2.0/agents/{id}", agents.update_agent, "update_agent"),
    R("DELETE", "/v2.0/agents/{id}", agents.delete_agent, "delete_agent"),
    R("GET", "/v2.0/agents/{id}/dhcp-networks", agents.list_dhcp_networks,
      "get_dhcp-networks"),
    R("POST", "/v2.0/agents/{id}/dhcp-networks", agents.add_dhcp_network,
      "create_dhcp-network"),
    R("DELETE", "/v2.0/agents/{id}/dhcp-networks/{network_id}", agents.remove_dhcp_network,
      "delete_dhcp-network"),
    R("GET", "/v2.0/networks/{id}/dhcp-agents", agents.list_network_dhcp_agents,
      "get_dhcp-agents"),
    R("GET", "/v2.0/agents/{id}/l3-routers", agents.list_l3_routers, "get_l3-routers"),
    R("GET", "/v2.0/routers/{id}/l3-agents", agents.list_router_l3_agents, "get_l3-agents"),
    R("GET", "/v2.0/service-providers", misc.list_service_providers, "get_service_provider"),
    R("GET", "/v2.0/quotas", misc.list_quotas, "net_admin"),
    R("GET", "/v2.0/quotas/{project_id}", misc.get_quota, "get_quota",
      target=misc.project_target),
    R("GET", "/v2.0/quotas/{project_id}/details", misc.get_quota_details, "get_quota",
      target=misc.project_target),
    R("GET", "/v2.0/quotas/{project_id}/default", misc.get_default_quota, "get_quota",
      target=misc.project_target),
    R("PUT", "/v2.0/quotas/{project_id}", misc.update_quota, "update_quota",
      target=misc.project_target),
    R("DELETE", "/v2.0/quotas/{project_id}", misc.delete_quota, "delete_quota",
      target=misc.project_target),
]

SERVICE = ServiceApi(name="network", prefix="/networking", routes=ROUTES,
                     render_fault=neutron_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("network", "neutron", f"{base_url}/networking")]


async def bootstrap(runtime: Any, progress: Callable[[str], None]) -> None:
    """The external network public, the demo project's private network behind router1, and
    SSH/ICMP in its default security group (idempotent). Not with ``dataplane = "off"``:
    such a cloud has no host bridge for public (tests make their own networks)."""
    cfg = runtime.settings.network
    if cfg.dataplane == "off":
        return
    ids: dict[str, str | None] = {}
    for name in ("admin", "demo"):
        found = await runtime.identity.resources.list_projects(
            {"name": name, "domain_id": "default"})
        ids[name] = found[0].id if found else None
    if ids["admin"] is None:
        return
    await ensure(runtime.network, BootstrapNetworks(
        str(ids["admin"]), ids["demo"], cfg.external_physnet, cfg.public_cidr,
        cfg.public_gateway), progress)


__all__ = ["RULES", "SERVICE", "bootstrap", "catalog_entries"]
