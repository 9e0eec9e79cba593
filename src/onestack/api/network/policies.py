"""Neutron's default policy: admins everything, members their own project's resources.

What a project may *see* (its own resources, shared and external networks and their subnets,
ports on its networks) is decided by the core's queries; these rules decide what it may do.

The port attributes that reach other tenants' traffic (port security, address pairs, chosen
addresses and MACs, ``network:*`` device owners) are the network owner's, as in Neutron's
``neutron/conf/policies/port.py``: a port on someone else's shared network gets an address
the network picks, its security groups and anti-spoofing, nothing more. Port targets carry
``network:project_id``, ``network:shared`` and ``network_device`` (the new device_owner
starts with ``network:``).
"""

from __future__ import annotations

from onestack.api.common.policy import Rule, project_scoped

ADMIN = "rule:net_admin"
MEMBER_OWNER = f"{ADMIN} or (role:member and project_id:%(project_id)s)"
READER = f"{ADMIN} or role:reader"
NET_OWNER = f"{ADMIN} or (role:member and project_id:%(network:project_id)s)"
NET_OWNER_OR_SHARED = f"{NET_OWNER} or rule:shared"

BASE = [
    Rule("net_admin", "role:admin"),
    Rule("net_owner", "project_id:%(project_id)s"),
    Rule("shared", "'True':%(network:shared)s"),
    Rule("network_device", "'True':%(network_device)s"),
]
# (action, attribute) -> rule, for ports; Neutron's defaults.
PORT_ATTRIBUTES = {
    "device_owner": f"not rule:network_device or {NET_OWNER}",
    "mac_address": NET_OWNER,
    "fixed_ips": NET_OWNER_OR_SHARED,
    "fixed_ips:ip_address": NET_OWNER,
    "fixed_ips:subnet_id": NET_OWNER_OR_SHARED,
    "port_security_enabled": NET_OWNER,
    "allowed_address_pairs": NET_OWNER,
    "allowed_address_pairs:mac_address": NET_OWNER,
    "allowed_address_pairs:ip_address": NET_OWNER,
}
PORT_UPDATE_ONLY = {"fixed_ips": NET_OWNER, "mac_address": ADMIN}
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

AGENT_RULES = ["get_agent", "update_agent", "delete_agent", "get_dhcp-networks",
               "create_dhcp-network", "delete_dhcp-network", "get_dhcp-agents",
               "get_l3-routers", "get_l3-agents"]


def _crud(kind: str) -> list[Rule]:
    return [Rule(f"create_{kind}", MEMBER_OWNER), Rule(f"get_{kind}", READER),
            Rule(f"update_{kind}", MEMBER_OWNER), Rule(f"delete_{kind}", MEMBER_OWNER)]


RULES: list[Rule] = project_scoped([  # Neutron's rules serve project-scoped tokens
    *BASE,
    *[rule for kind in KINDS for rule in _crud(kind)],
    Rule("create_subnet", f"{ADMIN} or (role:member and project_id:%(network:project_id)s)"),
    *[Rule(f"{action}_{kind}:{attr}", ADMIN)
      for kind, attrs in ADMIN_ONLY_ATTRIBUTES.items() for attr in attrs
      for action in ("create", "update")],
    *[Rule(f"get_{kind}:{attr}", ADMIN) for kind, attrs in HIDDEN.items() for attr in attrs],
    *[Rule(f"create_port:{attr}", check) for attr, check in PORT_ATTRIBUTES.items()],
    *[Rule(f"update_port:{attr}", PORT_UPDATE_ONLY.get(attr, check))
      for attr, check in PORT_ATTRIBUTES.items()],
    Rule("create_router:external_gateway_info:enable_snat", ADMIN),
    Rule("create_router:external_gateway_info:external_fixed_ips", ADMIN),
    Rule("update_router:external_gateway_info:enable_snat", ADMIN),
    Rule("update_router:external_gateway_info:external_fixed_ips", ADMIN),
    Rule("add_router_interface", MEMBER_OWNER),
    Rule("remove_router_interface", MEMBER_OWNER),
    # agents, metering: admins only; their lists answer others with none (Neutron filters)
    Rule("list_agents", READER),
    Rule("get_service_provider", READER),
    Rule("list_metering_labels", READER),
    Rule("list_metering_label_rules", READER),
    *[Rule(f"{action}_{kind}", ADMIN) for kind in ("metering_label", "metering_label_rule")
      for action in ("get", "create", "delete")],
    *[Rule(name, ADMIN) for name in AGENT_RULES],
    Rule("get_quota", f"{ADMIN} or project_id:%(project_id)s"),
    Rule("update_quota", ADMIN),
    Rule("delete_quota", ADMIN),
])
