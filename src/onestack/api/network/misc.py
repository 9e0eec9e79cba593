"""Version discovery, extensions, quotas and router interfaces."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.network import common
from onestack.api.network.kinds import ROUTERS
from onestack.core.network import errors
from onestack.core.network.base import DEFAULT_QUOTAS
from onestack.core.network.routers import Interface

UPDATED = "2025-01-01T00:00:00-00:00"
# (alias, name, description): only what is implemented.
EXTENSIONS = [
    ("agent", "agent", "The agent management extension."),
    ("allowed-address-pairs", "Allowed Address Pairs", "Extra MAC/IP pairs a port may use"),
    ("dhcp_agent_scheduler", "DHCP Agent Scheduler", "Schedule networks among dhcp agents"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external "
     "application"),
    ("external-net", "Neutron external network", "Adds external network attribute to "
     "network resource."),
    ("ext-gw-mode", "Neutron L3 Configurable external gateway mode",
     "Extension of the router abstraction for specifying whether SNAT should occur on the "
     "external gateway"),
    ("extra_dhcp_opt", "Neutron Extra DHCP options", "Extra options configuration for DHCP. "
     "For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, "
     "server-ip-address, bootfile-name)"),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("ip-substring-filtering", "IP address substring filtering",
     "Provides IP address substring filtering when listing ports"),
    ("metering", "Neutron Metering", "Neutron Metering extension."),
    ("metering_source_and_destination_fields",
     "Neutron Metering with source and destination filtering",
     "Neutron Metering extension that enables the use of source and destination IP "
     "prefixes in the metering label rules."),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("net-mtu-writable", "Network MTU (writable)", "Provides a writable MTU attribute for a "
     "network resource."),
    ("pagination", "Pagination support", "Extension that indicates that pagination is "
     "enabled."),
    ("port-security", "Port Security", "Provides port security"),
    ("port-security-groups-filtering", "Port filtering on security groups",
     "Provides security groups filtering when listing ports"),
    ("project-id", "project_id field enabled", "Extension that indicates that project_id "
     "field is enabled."),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical "
     "networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per "
     "tenant"),
    ("quota_details", "Quota details management support", "Expose functions for quotas "
     "usage statistics per project"),
    ("revision-if-match", "If-Match constraints based on revision_number",
     "Extension indicating that If-Match based on revision_number is supported."),
    ("router", "Neutron L3 Router", "Router abstraction for basic L3 forwarding between L2 "
     "Neutron networks and access to external networks via a NAT gateway."),
    ("security-group", "security-group", "The security groups extension."),
    ("sorting", "Sorting support", "Extension that indicates that sorting is enabled."),
    ("service-type", "Neutron Service Type Management", "API for retrieving service "
     "providers for Neutron advanced services"),
    ("standard-attr-description", "standard-attr-description",
     "Extension to add descriptions to standard attributes"),
    ("standard-attr-revisions", "Resource revision numbers",
     "This extension will display the revision number of neutron resources."),
    ("standard-attr-tag", "Tag support for resources with standard attribute: subnet, "
     "trunk, network_segment_range, router, network, policy, subnetpool, port, "
     "security_group, floatingip", "Enables to set tag on resources with standard "
     "attribute."),
    ("standard-attr-timestamp", "Resource timestamps",
     "Adds created_at and updated_at fields to all Neutron resources that have Neutron "
     "standard attributes."),
    ("stateful-security-group", "Stateful security group",
     "Indicates if the security group is stateful or not"),
    ("tag", "Tag support", "Enables to set tag on resources."),
    ("subnet-external-network", "Subnet External Network",
     "Informs if the subnet is associated to an external network."),
    ("subnet_allocation", "Subnet Allocation", "Enables allocation of subnets from a subnet "
     "pool"),
]
RESOURCES = [("network", "networks"), ("subnet", "subnets"), ("port", "ports"),
             ("subnetpool", "subnetpools")]


def _ext(alias: str, name: str, description: str) -> dict[str, Any]:
    return {"alias": alias, "name": name, "description": description, "updated": UPDATED,
            "links": []}


async def versions(req: ApiRequest) -> Response:
    return common.respond({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"href": req.url("/v2.0/"), "rel": "self"}]}]})


async def version_v2(req: ApiRequest) -> Response:
    return common.respond({"resources": [
        {"name": name, "collection": plural,
         "links": [{"href": req.url(f"/v2.0/{plural}"), "rel": "self"}]}
        for name, plural in RESOURCES]})


async def list_extensions(req: ApiRequest) -> Response:
    return common.respond({"extensions": [_ext(*e) for e in EXTENSIONS]})


async def get_extension(req: ApiRequest) -> Response:
    for ext in EXTENSIONS:
        if ext[0] == req.params["alias"]:
            return common.respond({"extension": _ext(*ext)})
    raise errors.ExtensionNotFound(req.params["alias"])


# The advanced services' providers Onestack serves (Octavia's load balancers, haproxy).
SERVICE_PROVIDERS = [{"service_type": "LOADBALANCERV2", "name": "haproxy", "default": True}]


async def list_service_providers(req: ApiRequest) -> Response:
    q, fields = common.list_query(req)
    found = [p for p in SERVICE_PROVIDERS
             if all(str(p.get(k)) in v or (k == "default" and str(p[k]).lower() in
                                           [x.lower() for x in v])
                    for k, v in q.filters.items())]
    return common.respond({"service_providers": [common.select_fields(p, fields)
                                                 for p in found]})


# --- quotas --------------------------------------------------------------------------------
async def list_quotas(req: ApiRequest) -> Response:
    quotas = await req.runtime.network.quotas.all()
    return common.respond({"quotas": [{**values, "project_id": project, "tenant_id": project}
                                      for project, values in sorted(quotas.items())]})


async def get_quota(req: ApiRequest) -> Response:
    return common.respond({"quota": await req.runtime.network.quotas.get(
        req.params["project_id"])})


async def get_quota_details(req: ApiRequest) -> Response:
    return common.respond({"quota": await req.runtime.network.quotas.details(
        req.params["project_id"])})


async def get_default_quota(req: ApiRequest) -> Response:
    return common.respond({"quota": {**DEFAULT_QUOTAS, "project_id": req.params["project_id"],
                                     "tenant_id": req.params["project_id"]}})


async def update_quota(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or not isinstance(body.get("quota"), dict):
        raise errors.HTTPBadRequest("Unable to find 'quota' in request body")
    values = {k: common.a_int(v, k) for k, v in body["quota"].items()}
    return common.respond({"quota": await req.runtime.network.quotas.update(
        req.params["project_id"], values)})


async def delete_quota(req: ApiRequest) -> Response:
    await req.runtime.network.quotas.reset(req.params["project_id"])
    return common.no_content()


async def project_target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.params["project_id"], "tenant_id": req.params["project_id"]}


# --- router interfaces ---------------------------------------------------------------------
def _interface(found: Interface) -> Response:
    r = found.router
    return common.respond({
        "id": r.id, "tenant_id": r.project_id, "project_id": r.project_id,
        "port_id": found.port_id, "network_id": found.network_id,
        "subnet_id": found.subnet_ids[0] if found.subnet_ids else None,
        "subnet_ids": found.subnet_ids})


async def _interface_body(req: ApiRequest) -> tuple[str | None, str | None]:
    body = await req.json()
    if not isinstance(body, dict):
        raise errors.HTTPBadRequest("The body must be a JSON object")
    unknown = set(body) - {"subnet_id", "port_id"}
    if unknown:
        raise errors.HTTPBadRequest(f"Unrecognized attribute(s) '{', '.join(sorted(unknown))}'")
    subnet = common.opt(common.a_str)(body.get("subnet_id"), "subnet_id")
    port = common.opt(common.a_str)(body.get("port_id"), "port_id")
    return subnet, port


async def add_interface(req: ApiRequest) -> Response:
    subnet, port = await _interface_body(req)
    return _interface(await req.runtime.network.routers.add_interface(
        req.ctx, req.params["id"], subnet, port))


async def remove_interface(req: ApiRequest) -> Response:
    subnet, port = await _interface_body(req)
    return _interface(await req.runtime.network.routers.remove_interface(
        req.ctx, req.params["id"], subnet, port))


router_target = ROUTERS.obj_target
