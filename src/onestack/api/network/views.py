"""Neutron v2.0 response shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from onestack.api.common.request import ApiRequest
from onestack.db.models.network import (
    FloatingIP,
    MeteringLabel,
    MeteringLabelRule,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    SubnetPool,
)

# Attributes only those passing get_<resource>:<attribute> see (admins, by default).
RESTRICTED = {
    "network": ("provider:network_type", "provider:physical_network",
                "provider:segmentation_id"),
    "port": ("binding:host_id", "binding:profile", "binding:vif_type",
             "binding:vif_details"),
}


def isotime(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def standard(obj: Any) -> dict[str, Any]:
    return {"id": obj.id, "name": obj.name, "description": obj.description,
            "project_id": obj.project_id, "tenant_id": obj.project_id,
            "created_at": isotime(obj.created_at), "updated_at": isotime(obj.updated_at),
            "revision_number": obj.revision_number,
            "tags": [t.tag for t in obj.tag_rows]}


def restrict(req: ApiRequest, resource: str, item: dict[str, Any]) -> dict[str, Any]:
    names = RESTRICTED.get(resource, ())
    if not names:
        return item
    cache: dict[str, bool] = req.state.setdefault("net_attr_policy", {})
    for name in names:
        rule = f"get_{resource}:{name}"
        if rule not in cache:
            cache[rule] = req.runtime.policy.authorize(rule, req.ctx, item)
        if not cache[rule]:
            item.pop(name, None)
    return item


def network(req: ApiRequest, n: Network) -> dict[str, Any]:
    out = {**standard(n), "admin_state_up": n.admin_state_up, "status": n.status,
           "shared": n.shared, "router:external": n.external, "mtu": n.mtu,
           "port_security_enabled": n.port_security_enabled,
           "subnets": [s.id for s in n.subnets], "provider:network_type": n.network_type,
           "provider:physical_network": n.physical_network,
           "provider:segmentation_id": n.segmentation_id,
           "availability_zone_hints": [], "availability_zones": [],
           "ipv4_address_scope": None, "ipv6_address_scope": None, "l2_adjacency": True}
    return restrict(req, "network", out)


def subnet(req: ApiRequest, s: Subnet, external: bool = False) -> dict[str, Any]:
    return {**standard(s), "network_id": s.network_id, "ip_version": s.ip_version,
            "cidr": s.cidr, "gateway_ip": s.gateway_ip, "enable_dhcp": s.enable_dhcp,
            "ipv6_ra_mode": s.ipv6_ra_mode, "ipv6_address_mode": s.ipv6_address_mode,
            "subnetpool_id": s.subnetpool_id, "allocation_pools": list(s.allocation_pools),
            "dns_nameservers": list(s.dns_nameservers), "host_routes": list(s.host_routes),
            "service_types": [], "segment_id": None, "router:external": external}


def subnetpool(req: ApiRequest, p: SubnetPool) -> dict[str, Any]:
    return {**standard(p), "ip_version": p.ip_version, "prefixes": list(p.prefixes),
            "default_prefixlen": p.default_prefixlen, "min_prefixlen": p.min_prefixlen,
            "max_prefixlen": p.max_prefixlen, "shared": p.shared, "is_default": p.is_default,
            "default_quota": p.default_quota, "address_scope_id": None}


def port(req: ApiRequest, p: Port) -> dict[str, Any]:
    out = {**standard(p), "network_id": p.network_id, "mac_address": p.mac_address,
           "admin_state_up": p.admin_state_up, "status": p.status, "device_id": p.device_id,
           "device_owner": p.device_owner,
           "fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                         for a in p.fixed_ips],
           "security_groups": sorted(r.security_group_id for r in p.security_group_rows),
           "allowed_address_pairs": list(p.allowed_address_pairs),
           "port_security_enabled": p.port_security_enabled,
           "binding:host_id": p.binding_host_id, "binding:vnic_type": p.binding_vnic_type,
           "binding:vif_type": p.binding_vif_type, "binding:vif_details": p.binding_vif_details,
           "binding:profile": p.binding_profile,
           "extra_dhcp_opts": list(p.extra_dhcp_opts or [])}
    return restrict(req, "port", out)


def router(req: ApiRequest, r: Router) -> dict[str, Any]:
    gateway = None
    if r.gw_network_id is not None:
        ips = r.gw_port.fixed_ips if r.gw_port is not None else []
        gateway = {"network_id": r.gw_network_id, "enable_snat": r.enable_snat,
                   "external_fixed_ips": [{"subnet_id": a.subnet_id, "ip_address": a.ip_address}
                                          for a in ips]}
    return {**standard(r), "admin_state_up": r.admin_state_up, "status": r.status,
            "external_gateway_info": gateway, "routes": list(r.routes)}


def floatingip(req: ApiRequest, f: FloatingIP) -> dict[str, Any]:
    out = standard(f)
    out.pop("name")
    return {**out, "floating_network_id": f.floating_network_id,
            "floating_ip_address": f.floating_ip_address, "port_id": f.port_id,
            "fixed_ip_address": f.fixed_ip_address, "router_id": f.router_id,
            "status": f.status}


def security_group_rule(req: ApiRequest, r: SecurityGroupRule) -> dict[str, Any]:
    out = standard(r)
    out.pop("name")
    return {**out, "security_group_id": r.security_group_id, "direction": r.direction,
            "ethertype": r.ethertype, "protocol": r.protocol,
            "port_range_min": r.port_range_min, "port_range_max": r.port_range_max,
            "remote_ip_prefix": r.remote_ip_prefix, "remote_group_id": r.remote_group_id}


def security_group(req: ApiRequest, g: SecurityGroup) -> dict[str, Any]:
    return {**standard(g), "stateful": g.stateful,
            "security_group_rules": [security_group_rule(req, r) for r in g.rules]}


def metering_label(_req: ApiRequest, m: MeteringLabel) -> dict[str, Any]:
    return {"id": m.id, "name": m.name, "description": m.description,
            "project_id": m.project_id, "tenant_id": m.project_id, "shared": m.shared}


def metering_label_rule(_req: ApiRequest, r: MeteringLabelRule) -> dict[str, Any]:
    return {"id": r.id, "metering_label_id": r.metering_label_id, "direction": r.direction,
            "excluded": r.excluded, "remote_ip_prefix": r.remote_ip_prefix,
            "source_ip_prefix": r.source_ip_prefix,
            "destination_ip_prefix": r.destination_ip_prefix,
            "project_id": r.project_id, "tenant_id": r.project_id}
