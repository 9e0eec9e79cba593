"""Nova v2.1 route table: method, path, handler, policy rule (Nova's rule names);
microversions 2.1 to 2.79."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onestack.api.common.faults import nova_fault
from onestack.api.common.microversions import Microversions
from onestack.api.common.policy import Rule, project_scoped
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.compute import (
    admin_actions,
    aggregates,
    consoles,
    extensions,
    flavors,
    floating_ips,
    hosts,
    image_metadata,
    images,
    keypairs,
    migrations,
    misc,
    networking,
    operators,
    server_actions,
    servers,
    shelve_actions,
    volume_attachments,
    volumes_proxy,
)
from onestack.api.compute.common import policy_target
from onestack.core.identity.bootstrap import ServiceEntry

MICROVERSIONS = Microversions("compute", misc.MIN_VERSION, misc.MAX_VERSION,
                              legacy_header="X-OpenStack-Nova-API-Version",
                              unversioned=("/", "", "/v2.1", "/v2"))
R = Route
V = "/v2.1"
P = "os_compute_api:"
ADMIN = "rule:admin_api"
FLV = V + "/flavors/{flavor_id}"
SRV = V + "/servers/{server_id}"
AGG = V + "/os-aggregates/{aggregate_id}"

ADMIN_OR_OWNER = "(rule:context_is_admin) or user_id:%(user_id)s"  # key pairs: the user's
READER = "rule:project_reader_or_admin"
MEMBER = "rule:project_member_or_admin"

# Nova's defaults (nova/policies/*.py): readers of a project read it, members change it,
# admins do anything; key pairs belong to their user. Every rule serves project-scoped
# tokens only. The target is the caller's project and user (compute.common.policy_target),
# or the project a path names (quota sets, usage); whether a server, group or attachment
# belongs to the caller's project is the core's lookup (another project's: 404, as Nova).
RULES: list[Rule] = project_scoped([
    Rule("context_is_admin", "role:admin"),
    Rule("admin_api", "role:admin"),
    Rule("project_member_api", "role:member and project_id:%(project_id)s"),
    Rule("project_reader_api", "role:reader and project_id:%(project_id)s"),
    Rule("project_member_or_admin", "rule:project_member_api or rule:context_is_admin"),
    Rule("project_reader_or_admin", "rule:project_reader_api or rule:context_is_admin"),
    *(Rule(P + name, ADMIN) for name in (
        "os-flavor-manage:create", "os-flavor-manage:update", "os-flavor-manage:delete",
        "os-flavor-extra-specs:create", "os-flavor-extra-specs:update",
        "os-flavor-extra-specs:delete", "os-flavor-access", "os-flavor-access:add_tenant_access",
        "os-flavor-access:remove_tenant_access", "os-availability-zone:detail",
        "os-quota-sets:update", "os-quota-sets:delete", "os-quota-class-sets:show",
        "os-quota-class-sets:update",
        "os-services:list", "os-services:update", "os-services:delete",
        "os-hypervisors:list", "os-hypervisors:list-detail", "os-hypervisors:show",
        "os-hypervisors:statistics", "os-hypervisors:search", "os-hypervisors:servers",
        "os-migrations:index", "os-server-migrations:index", "os-server-migrations:show",
        "os-server-migrations:delete", "os-server-migrations:force_complete",
        "os-simple-tenant-usage:list", "servers:index:get_all_tenants",
        "servers:detail:get_all_tenants", "os-aggregates:index", "os-aggregates:create",
        "os-aggregates:show", "os-aggregates:update", "os-aggregates:delete",
        "os-aggregates:add_host", "os-aggregates:remove_host", "os-aggregates:set_metadata",
        "os-hosts:list", "os-hosts:show", "os-hosts:update", "os-hosts:reboot",
        "os-hosts:shutdown", "os-hosts:start", "os-hypervisors:uptime",
        "servers:create:forced_host", "os-instance-usage-audit-log:list",
        "os-instance-usage-audit-log:show", "os-server-external-events:create",
        "os-server-diagnostics")),
    # no rule upstream (flavors) or "@" (zones, limits, quota defaults): any project user
    *(Rule(P + name, "@") for name in (
        "flavors:index", "flavors:show", "os-availability-zone:list", "limits", "extensions",
        "os-quota-sets:defaults")),
    *(Rule(P + name, ADMIN_OR_OWNER) for name in (
        "os-keypairs:create", "os-keypairs:index", "os-keypairs:show", "os-keypairs:delete")),
    *(Rule(P + name, READER) for name in (
        "os-flavor-extra-specs:index", "os-flavor-extra-specs:show", "os-quota-sets:show",
        "os-quota-sets:detail", "os-simple-tenant-usage:show", "servers:index",
        "servers:detail", "servers:show", "os-server-tags:index", "os-server-tags:show",
        "server-metadata:index", "server-metadata:show", "os-instance-actions:list",
        "os-instance-actions:show", "os-server-groups:index", "os-server-groups:show",
        "ips:index", "ips:show", "os-security-groups:list", "os-security-groups:show",
        "os-security-groups:list-by-server", "os-attach-interfaces:list",
        "os-attach-interfaces:show", "images:index", "images:show",
        "os-volumes-attachments:index", "os-volumes-attachments:show", "os-networks:list",
        "os-networks:view", "os-tenant-networks:list", "os-tenant-networks:show",
        "image-metadata:index", "image-metadata:show")),
    *(Rule(P + name, MEMBER) for name in (
        "servers:create", "servers:update", "servers:delete", "servers:action",
        "os-server-tags:update", "os-server-tags:update_all", "os-server-tags:delete",
        "os-server-tags:delete_all", "server-metadata:create", "server-metadata:update",
        "server-metadata:update_all", "server-metadata:delete", "os-server-groups:create",
        "os-server-groups:delete", "os-security-groups:create", "os-security-groups:update",
        "os-security-groups:delete", "os-security-groups:rule:create",
        "os-security-groups:rule:delete", "os-security-groups:add",
        "os-security-groups:remove", "os-attach-interfaces:create",
        "os-attach-interfaces:delete", "images:delete", "os-volumes-attachments:create",
        "os-volumes-attachments:delete", "image-metadata:create", "image-metadata:update",
        "image-metadata:update_all", "image-metadata:delete")),
    *consoles.RULES,
    *shelve_actions.RULES,
    *admin_actions.RULES,
    *(Rule(name, READER) for name in floating_ips.READ_RULES),
    *(Rule(name, MEMBER) for name in floating_ips.WRITE_RULES),
    *(Rule(name, READER) for name in volumes_proxy.READ_RULES),
    *(Rule(name, MEMBER) for name in volumes_proxy.WRITE_RULES),
])


def _r(method: str, path: str, handler: Any, rule: str) -> Route:
    return R(method, path, handler, P + rule, target=policy_target)


ROUTES: list[Route] = [
    R("GET", "/", misc.versions, auth=False),
    R("GET", V, misc.version, auth=False),
    R("GET", "/v2", misc.version, auth=False),
    _r("GET", V + "/extensions", extensions.listing, "extensions"),
    _r("GET", V + "/extensions/{alias}", extensions.show, "extensions"),
    # flavors
    _r("GET", V + "/flavors", flavors.list_flavors, "flavors:index"),
    _r("GET", V + "/flavors/detail", flavors.list_details, "flavors:index"),
    _r("POST", V + "/flavors", flavors.create, "os-flavor-manage:create"),
    _r("GET", FLV, flavors.show, "flavors:show"),
    _r("PUT", FLV, flavors.update, "os-flavor-manage:update"),
    _r("DELETE", FLV, flavors.delete, "os-flavor-manage:delete"),
    _r("GET", FLV + "/os-extra_specs", flavors.list_specs, "os-flavor-extra-specs:index"),
    _r("POST", FLV + "/os-extra_specs", flavors.create_specs, "os-flavor-extra-specs:create"),
    _r("GET", FLV + "/os-extra_specs/{key}", flavors.show_spec, "os-flavor-extra-specs:show"),
    _r("PUT", FLV + "/os-extra_specs/{key}", flavors.update_spec,
       "os-flavor-extra-specs:update"),
    _r("DELETE", FLV + "/os-extra_specs/{key}", flavors.delete_spec,
       "os-flavor-extra-specs:delete"),
    _r("GET", FLV + "/os-flavor-access", flavors.list_access, "os-flavor-access"),
    _r("POST", FLV + "/action", flavors.action, "flavors:show"),
    # key pairs
    _r("GET", V + "/os-keypairs", keypairs.listing, "os-keypairs:index"),
    _r("POST", V + "/os-keypairs", keypairs.create, "os-keypairs:create"),
    _r("GET", V + "/os-keypairs/{name}", keypairs.show, "os-keypairs:show"),
    _r("DELETE", V + "/os-keypairs/{name}", keypairs.delete, "os-keypairs:delete"),
    # zones, limits, quotas
    _r("GET", V + "/os-availability-zone", misc.zones, "os-availability-zone:list"),
    _r("GET", V + "/os-availability-zone/detail", misc.zones_detail,
       "os-availability-zone:detail"),
    _r("GET", V + "/limits", misc.limits, "limits"),
    _r("GET", V + "/os-quota-sets/{project_id}", misc.quota_show, "os-quota-sets:show"),
    _r("GET", V + "/os-quota-sets/{project_id}/detail", misc.quota_detail,
       "os-quota-sets:detail"),
    _r("GET", V + "/os-quota-sets/{project_id}/defaults", misc.quota_defaults,
       "os-quota-sets:defaults"),
    _r("PUT", V + "/os-quota-sets/{project_id}", misc.quota_update, "os-quota-sets:update"),
    _r("DELETE", V + "/os-quota-sets/{project_id}", misc.quota_delete,
       "os-quota-sets:delete"),
    _r("GET", V + "/os-quota-class-sets/{name}", misc.quota_class, "os-quota-class-sets:show"),
    _r("PUT", V + "/os-quota-class-sets/{name}", misc.quota_class_update,
       "os-quota-class-sets:update"),
    # migrations
    _r("GET", V + "/os-migrations", migrations.index, "os-migrations:index"),
    _r("GET", SRV + "/migrations", migrations.server_index, "os-server-migrations:index"),
    _r("GET", SRV + "/migrations/{migration_id}", migrations.server_show,
       "os-server-migrations:show"),
    _r("DELETE", SRV + "/migrations/{migration_id}", migrations.server_abort,
       "os-server-migrations:delete"),
    _r("POST", SRV + "/migrations/{migration_id}/action", migrations.server_action,
       "os-server-migrations:force_complete"),
    # services, hypervisors, usage
    _r("GET", V + "/os-services", misc.services, "os-services:list"),
    _r("PUT", V + "/os-services/{service_id}", misc.service_update, "os-services:update"),
    _r("GET", V + "/os-hypervisors", misc.hypervisors, "os-hypervisors:list"),
    _r("GET", V + "/os-hypervisors/detail", misc.hypervisors_detail,
       "os-hypervisors:list-detail"),
    _r("GET", V + "/os-hypervisors/statistics", misc.hypervisor_statistics,
       "os-hypervisors:statistics"),
    _r("GET", V + "/os-hypervisors/{hypervisor_id}", misc.hypervisor_show,
       "os-hypervisors:show"),
    _r("GET", V + "/os-hypervisors/{pattern}/search", misc.hypervisor_search,
       "os-hypervisors:search"),
    _r("GET", V + "/os-hypervisors/{pattern}/servers", misc.hypervisor_servers,
       "os-hypervisors:servers"),
    _r("GET", V + "/os-hypervisors/{hypervisor_id}/uptime", hosts.hypervisor_uptime,
       "os-hypervisors:uptime"),
    # aggregates and hosts (os-hosts to 2.42)
    _r("GET", V + "/os-aggregates", aggregates.listing, "os-aggregates:index"),
    _r("POST", V + "/os-aggregates", aggregates.create, "os-aggregates:create"),
    _r("GET", AGG, aggregates.show, "os-aggregates:show"),
    _r("PUT", AGG, aggregates.update, "os-aggregates:update"),
    _r("DELETE", AGG, aggregates.delete, "os-aggregates:delete"),
    _r("POST", AGG + "/action", aggregates.action, "os-aggregates:show"),
    _r("GET", V + "/os-instance_usage_audit_log", operators.audit_logs,
       "os-instance-usage-audit-log:list"),
    _r("GET", V + "/os-instance_usage_audit_log/{before_timestamp}", operators.audit_log,
       "os-instance-usage-audit-log:show"),
    _r("POST", V + "/os-server-external-events", operators.external_events,
       "os-server-external-events:create"),
    _r("GET", SRV + "/diagnostics", operators.diagnostics, "os-server-diagnostics"),
    _r("GET", V + "/os-hosts", hosts.listing, "os-hosts:list"),
    _r("GET", V + "/os-hosts/{host_name}", hosts.show, "os-hosts:show"),
    _r("PUT", V + "/os-hosts/{host_name}", hosts.update, "os-hosts:update"),
    _r("GET", V + "/os-hosts/{host_name}/reboot", hosts.power_action, "os-hosts:reboot"),
    _r("GET", V + "/os-hosts/{host_name}/shutdown", hosts.power_action, "os-hosts:shutdown"),
    _r("GET", V + "/os-hosts/{host_name}/startup", hosts.power_action, "os-hosts:start"),
    _r("GET", V + "/os-simple-tenant-usage", misc.usage_list, "os-simple-tenant-usage:list"),
    _r("GET", V + "/os-simple-tenant-usage/{project_id}", misc.usage_show,
       "os-simple-tenant-usage:show"),
    # servers
    _r("GET", V + "/servers", servers.list_servers, "servers:index"),
    _r("GET", V + "/servers/detail", servers.list_details, "servers:detail"),
    _r("POST", V + "/servers", servers.create, "servers:create"),
    _r("GET", SRV, servers.show, "servers:show"),
    _r("PUT", SRV, servers.update, "servers:update"),
    _r("DELETE", SRV, servers.delete, "servers:delete"),
    _r("POST", SRV + "/action", server_actions.action, "servers:action"),
    _r("POST", SRV + "/remote-consoles", consoles.create, "os-remote-consoles"),
    _r("GET", V + "/os-console-auth-tokens/{token}", consoles.show_token,
       "os-console-auth-tokens"),
    _r("GET", SRV + "/tags", servers.list_tags, "os-server-tags:index"),
    _r("PUT", SRV + "/tags", servers.replace_tags, "os-server-tags:update_all"),
    _r("DELETE", SRV + "/tags", servers.delete_tags, "os-server-tags:delete_all"),
    _r("GET", SRV + "/tags/{tag}", servers.check_tag, "os-server-tags:show"),
    _r("PUT", SRV + "/tags/{tag}", servers.add_tag, "os-server-tags:update"),
    _r("DELETE", SRV + "/tags/{tag}", servers.delete_tag, "os-server-tags:delete"),
    _r("GET", SRV + "/metadata", servers.list_metadata, "server-metadata:index"),
    _r("POST", SRV + "/metadata", servers.set_metadata, "server-metadata:update"),
    _r("PUT", SRV + "/metadata", servers.set_metadata, "server-metadata:update_all"),
    _r("GET", SRV + "/metadata/{key}", servers.show_metadata_item, "server-metadata:show"),
    _r("PUT", SRV + "/metadata/{key}", servers.set_metadata_item, "server-metadata:create"),
    _r("DELETE", SRV + "/metadata/{key}", servers.delete_metadata_item,
       "server-metadata:delete"),
    Route("GET", SRV + "/os-server-password", admin_actions.show_password,
          admin_actions.PASSWORD_SHOW, target=policy_target),
    Route("DELETE", SRV + "/os-server-password", admin_actions.clear_password,
          admin_actions.PASSWORD_CLEAR, target=policy_target),
    _r("GET", SRV + "/os-instance-actions", server_actions.list_instance_actions,
       "os-instance-actions:list"),
    _r("GET", SRV + "/os-instance-actions/{request_id}", server_actions.show_instance_action,
       "os-instance-actions:show"),
    # networking: ips, the os-security-groups proxy (to 2.35), os-interface
    _r("GET", SRV + "/ips", networking.ips, "ips:index"),
    _r("GET", SRV + "/ips/{network}", networking.ips_network, "ips:show"),
    _r("GET", V + "/os-security-groups", networking.list_groups, "os-security-groups:list"),
    _r("POST", V + "/os-security-groups", networking.create_group,
       "os-security-groups:create"),
    _r("GET", V + "/os-security-groups/{group_id}", networking.show_group,
       "os-security-groups:show"),
    _r("PUT", V + "/os-security-groups/{group_id}", networking.update_group,
       "os-security-groups:update"),
    _r("DELETE", V + "/os-security-groups/{group_id}", networking.delete_group,
       "os-security-groups:delete"),
    _r("DELETE", V + "/os-security-groups", networking.delete_without_id,
       "os-security-groups:delete"),
    _r("POST", V + "/os-security-group-rules", networking.create_rule,
       "os-security-groups:rule:create"),
    _r("DELETE", V + "/os-security-group-rules/{rule_id}", networking.delete_rule,
       "os-security-groups:rule:delete"),
    _r("GET", SRV + "/os-security-groups", networking.server_groups,
       "os-security-groups:list-by-server"),
    _r("GET", SRV + "/os-interface", networking.list_interfaces,
       "os-attach-interfaces:list"),
    _r("POST", SRV + "/os-interface", networking.attach_interface,
       "os-attach-interfaces:create"),
    _r("GET", SRV + "/os-interface/{port_id}", networking.show_interface,
       "os-attach-interfaces:show"),
    _r("DELETE", SRV + "/os-interface/{port_id}", networking.detach_interface,
       "os-attach-interfaces:delete"),
    # the floating IP proxy (to 2.35)
    _r("GET", V + "/os-floating-ips", floating_ips.listing, "os-floating-ips:list"),
    _r("POST", V + "/os-floating-ips", floating_ips.create, "os-floating-ips:create"),
    _r("GET", V + "/os-floating-ips/{fip_id}", floating_ips.show, "os-floating-ips:show"),
    _r("DELETE", V + "/os-floating-ips/{fip_id}", floating_ips.delete,
       "os-floating-ips:delete"),
    # the volume proxy (to 2.35)
    _r("GET", V + "/os-volumes", volumes_proxy.listing, "os-volumes:list"),
    _r("GET", V + "/os-volumes/detail", volumes_proxy.detail, "os-volumes:detail"),
    _r("POST", V + "/os-volumes", volumes_proxy.create, "os-volumes:create"),
    _r("GET", V + "/os-volumes/{volume_id}", volumes_proxy.show, "os-volumes:show"),
    _r("DELETE", V + "/os-volumes/{volume_id}", volumes_proxy.delete, "os-volumes:delete"),
    _r("DELETE", V + "/os-volumes", images.delete_blank, "os-volumes:delete"),
    # the os-networks and os-tenant-networks proxies (to 2.35)
    _r("GET", V + "/os-networks", networking.list_networks, "os-networks:list"),
    _r("GET", V + "/os-networks/{network_id}", networking.show_network, "os-networks:view"),
    _r("GET", V + "/os-tenant-networks", networking.list_tenant_networks,
       "os-tenant-networks:list"),
    _r("GET", V + "/os-tenant-networks/{network_id}", networking.show_tenant_network,
       "os-tenant-networks:show"),
    # volumes on servers
    _r("GET", SRV + "/os-volume_attachments", volume_attachments.listing,
       "os-volumes-attachments:index"),
    _r("POST", SRV + "/os-volume_attachments", volume_attachments.attach,
       "os-volumes-attachments:create"),
    _r("GET", SRV + "/os-volume_attachments/{volume_id}", volume_attachments.show,
       "os-volumes-attachments:show"),
    _r("DELETE", SRV + "/os-volume_attachments/{volume_id}", volume_attachments.detach,
       "os-volumes-attachments:delete"),
    # the image proxy (to 2.35)
    _r("GET", V + "/images", images.list_images, "images:index"),
    _r("GET", V + "/images/detail", images.list_details, "images:index"),
    _r("GET", V + "/images/{image_id}", images.show, "images:show"),
    _r("DELETE", V + "/images/{image_id}", images.delete, "images:delete"),
    _r("DELETE", V + "/images", images.delete_blank, "images:delete"),
    _r("GET", V + "/images/{image_id}/metadata", image_metadata.index, "image-metadata:index"),
    _r("POST", V + "/images/{image_id}/metadata", image_metadata.update,
       "image-metadata:create"),
    _r("PUT", V + "/images/{image_id}/metadata", image_metadata.update,
       "image-metadata:update_all"),
    _r("GET", V + "/images/{image_id}/metadata/{key}", image_metadata.show,
       "image-metadata:show"),
    _r("PUT", V + "/images/{image_id}/metadata/{key}", image_metadata.put_item,
       "image-metadata:update"),
    _r("DELETE", V + "/images/{image_id}/metadata/{key}", image_metadata.delete_item,
       "image-metadata:delete"),
    # server groups
    _r("GET", V + "/os-server-groups", server_actions.list_groups, "os-server-groups:index"),
    _r("POST", V + "/os-server-groups", server_actions.create_group,
       "os-server-groups:create"),
    _r("GET", V + "/os-server-groups/{group_id}", server_actions.show_group,
       "os-server-groups:show"),
    _r("DELETE", V + "/os-server-groups/{group_id}", server_actions.delete_group,
       "os-server-groups:delete"),
]


def _headers(req: ApiRequest) -> dict[str, str]:
    out = MICROVERSIONS.headers(req)
    out["x-compute-request-id"] = req.ctx.request_id
    return out


SERVICE = ServiceApi(name="compute", prefix="/compute", routes=ROUTES, render_fault=nova_fault,
                     prepare=MICROVERSIONS.negotiate, response_headers=_headers)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("compute", "nova", f"{base_url}/compute/v2.1")]


async def bootstrap(runtime: Any, progress: Callable[[str], None]) -> None:
    """Idempotent: what the compute service needs in a new cloud (the default flavors)."""
    await runtime.compute.bootstrap(progress)


__all__ = ["RULES", "SERVICE", "bootstrap", "catalog_entries"]
