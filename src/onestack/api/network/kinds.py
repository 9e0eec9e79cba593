"""The Neutron collections: names, request attributes, views and create hooks."""

from __future__ import annotations

from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.api.network import views
from onestack.api.network.common import (
    STANDARD_POST,
    STANDARD_PUT,
    Check,
    a_bool,
    a_dhcp_opts,
    a_dict,
    a_dicts,
    a_int,
    a_str,
    a_strs,
    bad,
    opt,
)
from onestack.api.network.resources import Kind
from onestack.db.models.network import (
    FloatingIP,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    SubnetPool,
)


def _simple(view: Any) -> Any:
    async def render(req: ApiRequest, objs: list[Any]) -> list[dict[str, Any]]:
        return [view(req, o) for o in objs]

    return render


async def _render_subnets(req: ApiRequest, objs: list[Any]) -> list[dict[str, Any]]:
    external = await req.runtime.network.subnets.external_ids({o.network_id for o in objs})
    return [views.subnet(req, o, o.network_id in external) for o in objs]


async def _port_hook(req: ApiRequest, items: list[dict[str, Any]]) -> dict[str, Any]:
    """Each port's project gets its `default` security group before the port is made."""
    groups = req.runtime.network.security_groups
    defaults: dict[str, str | None] = {}
    for item in items:
        project = item.get("project_id") or req.ctx.project_id or ""
        if project not in defaults:
            defaults[project] = await groups.ensure_default(project)
    return {"default_sgs": defaults}


NETWORK_POST = {**STANDARD_POST, "admin_state_up": a_bool, "shared": a_bool,
                "router:external": a_bool, "mtu": opt(a_int), "port_security_enabled": a_bool,
                "provider:network_type": opt(a_str), "provider:physical_network": opt(a_str),
                "provider:segmentation_id": opt(a_int),
                "availability_zone_hints": a_strs}
NETWORK_PUT = {k: v for k, v in NETWORK_POST.items()
               if k not in ("project_id", "tenant_id", "tags", "availability_zone_hints")}
SUBNET_POST = {**STANDARD_POST, "network_id": a_str, "cidr": opt(a_str),
               "ip_version": a_int, "gateway_ip": opt(a_str),
               "allocation_pools": opt(a_dicts), "dns_nameservers": opt(a_strs),
               "host_routes": opt(a_dicts), "enable_dhcp": a_bool,
               "ipv6_ra_mode": opt(a_str), "ipv6_address_mode": opt(a_str),
               "subnetpool_id": opt(a_str), "prefixlen": opt(a_int),
               "use_default_subnetpool": a_bool, "service_types": a_strs,
               "segment_id": opt(a_str)}
SUBNET_PUT = {**STANDARD_PUT, "gateway_ip": opt(a_str), "allocation_pools": opt(a_dicts),
              "dns_nameservers": opt(a_strs), "host_routes": opt(a_dicts),
              "enable_dhcp": a_bool, "service_types": a_strs, "segment_id": opt(a_str)}
POOL_POST = {**STANDARD_POST, "prefixes": a_strs, "default_prefixlen": a_int,
             "min_prefixlen": a_int, "max_prefixlen": a_int, "shared": a_bool,
             "is_default": a_bool, "default_quota": opt(a_int),
             "address_scope_id": opt(a_str)}
POOL_PUT = {**STANDARD_PUT, "prefixes": a_strs, "default_prefixlen": a_int,
            "min_prefixlen": a_int, "max_prefixlen": a_int, "is_default": a_bool,
            "default_quota": opt(a_int), "address_scope_id": opt(a_str)}
PORT_COMMON = {"admin_state_up": a_bool, "mac_address": a_str, "fixed_ips": opt(a_dicts),
               "device_id": opt(a_str), "device_owner": opt(a_str),
               "security_groups": opt(a_strs), "allowed_address_pairs": opt(a_dicts),
               "port_security_enabled": opt(a_bool), "binding:host_id": opt(a_str),
               "binding:vnic_type": a_str, "binding:profile": opt(a_dict),
               "extra_dhcp_opts": opt(a_dhcp_opts)}
PORT_POST = {**STANDARD_POST, **PORT_COMMON, "network_id": a_str}
PORT_PUT = {**STANDARD_PUT, **PORT_COMMON}
ROUTER_POST = {**STANDARD_POST, "admin_state_up": a_bool,
               "external_gateway_info": opt(a_dict), "routes": opt(a_dicts)}
ROUTER_PUT = {**STANDARD_PUT, "admin_state_up": a_bool,
              "external_gateway_info": opt(a_dict), "routes": opt(a_dicts)}
FIP_POST = {"description": a_str, "project_id": a_str, "tenant_id": a_str,
            "tags": STANDARD_POST["tags"], "floating_network_id": a_str,
            "port_id": opt(a_str), "fixed_ip_address": opt(a_str),
            "floating_ip_address": opt(a_str), "subnet_id": opt(a_str)}
FIP_PUT = {"description": a_str, "port_id": opt(a_str), "fixed_ip_address": opt(a_str)}
SG_POST = {**STANDARD_POST, "stateful": a_bool}
SG_PUT = {**STANDARD_PUT, "stateful": a_bool}


def _any(value: Any, _name: str) -> Any:
    return value


def _none_only(value: Any, name: str) -> None:
    if value is not None:
        raise bad(name, "address groups are not supported")


RULE_POST = {"description": a_str, "project_id": a_str, "tenant_id": a_str,
             "security_group_id": a_str, "direction": _any, "ethertype": opt(_any),
             "protocol": _any, "port_range_min": _any, "port_range_max": _any,
             "remote_ip_prefix": _any, "remote_group_id": opt(a_str),
             "remote_address_group_id": _none_only}


def _net_target(obj: Any) -> dict[str, Any]:
    return {"shared": obj.shared, "router:external": obj.external}


NETWORKS = Kind("network", "networks", "/v2.0/networks", lambda rt: rt.network.networks,
                _simple(views.network), NETWORK_POST, NETWORK_PUT, model=Network,
                target_extra=_net_target)
SUBNETS = Kind("subnet", "subnets", "/v2.0/subnets", lambda rt: rt.network.subnets,
               _render_subnets, SUBNET_POST, SUBNET_PUT, ("network_id",), model=Subnet,
               network_scoped=True)
SUBNETPOOLS = Kind("subnetpool", "subnetpools", "/v2.0/subnetpools",
                   lambda rt: rt.network.subnetpools, _simple(views.subnetpool), POOL_POST,
                   POOL_PUT, ("prefixes",), model=SubnetPool)
PORTS = Kind("port", "ports", "/v2.0/ports", lambda rt: rt.network.ports,
             _simple(views.port), PORT_POST, PORT_PUT, ("network_id",), model=Port,
             before_create=_port_hook, network_scoped=True)
ROUTERS = Kind("router", "routers", "/v2.0/routers", lambda rt: rt.network.routers,
               _simple(views.router), ROUTER_POST, ROUTER_PUT, model=Router)
FLOATINGIPS = Kind("floatingip", "floatingips", "/v2.0/floatingips",
                   lambda rt: rt.network.floatingips, _simple(views.floatingip), FIP_POST,
                   FIP_PUT, ("floating_network_id",), model=FloatingIP)
SECURITY_GROUPS = Kind("security_group", "security_groups", "/v2.0/security-groups",
                       lambda rt: rt.network.security_groups, _simple(views.security_group),
                       SG_POST, SG_PUT, model=SecurityGroup)


class _Rules:
    """security_group_rules: the core methods under their plain names."""

    def __init__(self, groups: Any) -> None:
        self.search = groups.list_rules
        self.get = groups.get_rule
        self.create = groups.create_rules
        self.delete = groups.delete_rule


SECURITY_GROUP_RULES = Kind(
    "security_group_rule", "security_group_rules", "/v2.0/security-group-rules",
    lambda rt: _Rules(rt.network.security_groups), _simple(views.security_group_rule),
    RULE_POST, {}, ("security_group_id",), model=SecurityGroupRule)

LABEL_POST: dict[str, Check] = {
    "name": a_str, "description": a_str, "project_id": a_str, "tenant_id": a_str,
    "shared": a_bool}
LABEL_RULE_POST: dict[str, Check] = {
    "metering_label_id": a_str, "direction": a_str, "excluded": a_bool,
    "remote_ip_prefix": opt(a_str), "source_ip_prefix": opt(a_str),
    "destination_ip_prefix": opt(a_str), "project_id": a_str, "tenant_id": a_str}
METERING_LABELS = Kind(
    "metering_label", "metering_labels", "/v2.0/metering/metering-labels",
    lambda rt: rt.network.metering_labels, _simple(views.metering_label), LABEL_POST, {},
    list_rule="list_metering_labels")
METERING_LABEL_RULES = Kind(
    "metering_label_rule", "metering_label_rules", "/v2.0/metering/metering-label-rules",
    lambda rt: rt.network.metering_rules, _simple(views.metering_label_rule),
    LABEL_RULE_POST, {}, ("metering_label_id", "direction"),
    list_rule="list_metering_label_rules")

KINDS = [NETWORKS, SUBNETS, SUBNETPOOLS, PORTS, ROUTERS, FLOATINGIPS, SECURITY_GROUPS,
         SECURITY_GROUP_RULES, METERING_LABELS, METERING_LABEL_RULES]
