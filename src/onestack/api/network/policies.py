"""Neutron's default policy: admins everything, members their own project's resources.

What a project may *see* (its own resources, shared and external networks and their subnets,
ports on its networks) is decided by the core's queries; these rules decide what it may do.
"""

from __future__ import annotations

from onestack.api.common.policy import Rule

ADMIN = "rule:net_admin"
MEMBER_OWNER = f"{ADMIN} or (role:member and project_id:%(project_id)s)"
READER = f"{ADMIN} or role:reader"
NET_OWNER = f"{ADMIN} or project_id:%(network:project_id)s"

BASE = [
    Rule("net_admin", "role:admin"),
    Rule("net_owner", "project_id:%(project_id)s"),
]
ADMIN_ONLY_ATTRIBUTES = {
    "network": ["shared", "router:external", "provider:network_type",
                "provider:physical_network", "provider:segmentation_id"],
    "port": ["binding:host_id", "binding:profile"],
    "subnetpool": ["shared", "is_default"],
    "floatingip": ["floating_ip_address"],
}
HIDDEN = {
    "network": ["provider:network_type", "provider:physical_network",
                "provider:segmentation_id"],
    "port": ["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"],
}
KINDS = ["network", "subnet", "subnetpool", "port", "router", "floatingip", "security_group",
         "security_group_rule"]


def _crud(kind: str) -> list[Rule]:
    return [Rule(f"create_{kind}", MEMBER_OWNER), Rule(f"get_{kind}", READER),
            Rule(f"update_{kind}", MEMBER_OWNER), Rule(f"delete_{kind}", MEMBER_OWNER)]


RULES: list[Rule] = [
    *BASE,
    *[rule for kind in KINDS for rule in _crud(kind)],
    Rule("create_subnet", f"{ADMIN} or (role:member and project_id:%(network:project_id)s)"),
    *[Rule(f"{action}_{kind}:{attr}", ADMIN)
      for kind, attrs in ADMIN_ONLY_ATTRIBUTES.items() for attr in attrs
      for action in ("create", "update")],
    *[Rule(f"get_{kind}:{attr}", ADMIN) for kind, attrs in HIDDEN.items() for attr in attrs],
    Rule("create_port:fixed_ips:ip_address", NET_OWNER),
    Rule("create_port:mac_address", NET_OWNER),
    Rule("update_port:fixed_ips:ip_address", f"{ADMIN} or project_id:%(project_id)s"),
    Rule("update_port:mac_address", ADMIN),
    Rule("create_router:external_gateway_info:enable_snat", ADMIN),
    Rule("create_router:external_gateway_info:external_fixed_ips", ADMIN),
    Rule("update_router:external_gateway_info:enable_snat", ADMIN),
    Rule("update_router:external_gateway_info:external_fixed_ips", ADMIN),
    Rule("add_router_interface", MEMBER_OWNER),
    Rule("remove_router_interface", MEMBER_OWNER),
    Rule("get_quota", f"{ADMIN} or project_id:%(project_id)s"),
    Rule("update_quota", ADMIN),
    Rule("delete_quota", ADMIN),
]
