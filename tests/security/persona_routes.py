"""What the persona suite sends to every route: the route classes (token-free, any token,
open reads, admin-only), values for each path parameter, bodies that reach the ownership
check, and each service's fault body. Used by test_personas.py and test_cross_project.py."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from onestack.api import registry
from onestack.api.common.routing import Route
from tests.security.conftest import Persona, Personas, Resources, Shared

NOT_HERE = {
    "object_store": "Swift ACLs and owner rules: tests/security/test_object_store_personas.py",
    "s3": "signed with EC2 keys, not tokens: tests/security/test_object_store_personas.py",
    "metadata": "served to guests, authenticated by the instance's signed headers "
                "(tests/api/test_metadata.py)",
    "internal": "the agents' API, with its own agent credential and no user tokens "
                "(tests/api/test_agent_http.py)",
    "operator": "admin-only audit trail: no token 401, member and reader 403, admin 200 "
                "(tests/api/test_audit.py); the event stream, a project's own or an admin's "
                "all_projects: no token 401, a member's all_projects 403, another project "
                "sees nothing (tests/api/test_events.py)",
    "metrics": "admin token or the configured bearer token: no token 401, member 403 "
               "(tests/api/test_metrics.py)",
}
SERVICES = ["identity", "compute", "volume", "image", "network", "placement", "load_balancer",
            "key_manager"]

# Routes served without a token, each with its reason. A new auth=False route fails
# test_token_free_routes_are_known until it is listed here.
TOKEN_FREE = {
    ("identity", "GET", "/"): "version discovery",
    ("identity", "GET", "/v3"): "version discovery",
    ("identity", "POST", "/v3/auth/tokens"): "authentication itself",
    ("identity", "POST", "/v3/users/{user_id}/password"): "password change, proven by the "
                                                          "old password",
    ("compute", "GET", "/"): "version discovery",
    ("compute", "GET", "/v2.1"): "version discovery",
    ("compute", "GET", "/v2"): "version discovery",
    ("volume", "GET", "/"): "version discovery",
    ("volume", "GET", "/v3"): "version discovery",
    ("image", "GET", "/"): "version discovery",
    ("image", "GET", "/versions"): "version discovery",
    ("image", "GET", "/v2"): "version discovery",
    ("network", "GET", "/"): "version discovery",
    ("placement", "GET", "/"): "version discovery",
    ("load_balancer", "GET", "/"): "version discovery",
    ("key_manager", "GET", "/"): "version discovery",
    ("key_manager", "GET", "/v1"): "version discovery",
}

# Routes any valid token may use, role-less unscoped ones included (Keystone's own
# defaults: a token's own catalog, projects and domains; regions are public).
ANY_TOKEN = {
    ("identity", "GET", "/v3/auth/projects"),
    ("identity", "GET", "/v3/auth/domains"), ("identity", "GET", "/v3/auth/system"),
    ("identity", "GET", "/v3/regions"), ("identity", "GET", "/v3/regions/{region_id}"),
    ("identity", "GET", "/v3/credentials"),  # filtered to the caller's own
    # unified limits: the registered defaults and the model are public; the list of limits
    # is filtered to the caller's scope (nothing for an unscoped token)
    ("identity", "GET", "/v3/registered_limits"),
    ("identity", "GET", "/v3/registered_limits/{registered_limit_id}"),
    ("identity", "GET", "/v3/limits"), ("identity", "GET", "/v3/limits/model"),
    ("network", "GET", "/v2.0"), ("network", "GET", "/v2.0/extensions"),
    ("network", "GET", "/v2.0/extensions/{alias}"),
}

# Reads of things no project owns, open to every project-scoped user (Nova: flavors,
# zones, limits, quota defaults; Cinder: types, zones, extensions; Glance: schemas, info).
OPEN_READS: dict[str, list[str]] = {
    "compute": [r"/v2\.1/flavors.*", r"/v2\.1/os-availability-zone", r"/v2\.1/limits",
                r"/v2\.1/os-quota-sets/\{project_id\}/defaults", r"/v2\.1/extensions.*"],
    "volume": [r"/extensions", r"/os-availability-zone", r"/limits", r"/types.*",
               r"/group_types(/\{group_type_id\})?"],
    "image": [r"/v2/info/.*", r"/v2/schemas/.*", r"/v2/metadefs/.*"],
    "network": [],
    "identity": [],
    "placement": [],
    "load_balancer": [r"/v2(\.0)?/lbaas/(flavors|availabilityzones)(/.*)?"],
    "key_manager": [],
}

# Admin-only routes (upstream defaults); every other persona is refused with 403.
ADMIN_ONLY: dict[str, list[str]] = {
    "compute": [
        r"(POST|PUT|DELETE) /v2\.1/flavors.*", r"GET /v2\.1/flavors/\{flavor_id\}/os-flavor-"
        r"access", r"GET /v2\.1/os-availability-zone/detail",
        r"(PUT|DELETE) /v2\.1/os-quota-sets/.*", r"(GET|PUT) /v2\.1/os-quota-class-sets/.*",
        r"\w+ /v2\.1/os-services.*", r"\w+ /v2\.1/os-hypervisors.*",
        r"\w+ /v2\.1/os-migrations", r"\w+ /v2\.1/servers/\{server_id\}/migrations.*",
        r"GET /v2\.1/os-simple-tenant-usage", r"\w+ /v2\.1/os-aggregates.*",
        r"\w+ /v2\.1/os-hosts.*", r"GET /v2\.1/os-console-auth-tokens/.*",
        r"GET /v2\.1/os-instance_usage_audit_log.*", r"POST /v2\.1/os-server-external-events",
        r"GET /v2\.1/servers/\{server_id\}/diagnostics"],
    "volume": [r"\w+ /os-services.*", r"GET /os-hosts", r"(PUT|DELETE) /os-quota-sets/.*",
               r"(POST|PUT|DELETE) /types.*", r"GET /types/\{type_id\}/os-volume-type-access",
               r"GET /types/\{type_id\}/encryption.*",
               r"GET /scheduler-stats/get_pools", r"POST /backups/import_record",
               r"GET /backups/\{backup_id\}/export_record",
               r"POST /backups/\{backup_id\}/action", r"\w+ /qos-specs.*",
               r"GET /capabilities/.*", r"GET /os-hosts/.*", r"\w+ /os-quota-class-sets/.*",
               r"(POST|PUT|DELETE) /group_types.*",
               r"GET /group_types/\{group_type_id\}/group_specs.*"],
    # Glance: metadefs are written by admins only (metadef_admin), tasks are admin-only
    "image": [r"(POST|PUT|DELETE) /v2/metadefs/.*", r"\w+ /v2/tasks.*"],
    "network": [r"GET /v2\.0/quotas", r"(PUT|DELETE) /v2\.0/quotas/.*",
                r"\w+ /v2\.0/agents/.*",
                r"GET /v2\.0/(networks|routers)/\{id\}/(dhcp|l3)-agents",
                r"POST /v2\.0/metering/.*", r"\w+ /v2\.0/metering/.*/\{id\}"],
    "placement": [r".*"],
    # Keystone: administration, and what belongs to another user (owner's ids are used).
    "identity": [r".*"],
    # Octavia: quotas of every project and changing them, failover, flavor/AZ management
    # and the provider capability lists.
    "load_balancer": [
        r"GET /v2(\.0)?/lbaas/quotas", r"(PUT|DELETE) /v2(\.0)?/lbaas/quotas/.*",
        r"PUT /v2(\.0)?/lbaas/loadbalancers/\{lb_id\}/failover",
        r"(POST|PUT|DELETE) /v2(\.0)?/lbaas/(flavors|flavorprofiles|availabilityzones|"
        r"availabilityzoneprofiles).*", r"GET /v2(\.0)?/lbaas/(flavorprofiles|"
        r"availabilityzoneprofiles).*", r"GET /v2(\.0)?/lbaas/providers/.*"],
    # Barbican: every project's quotas (key-manager:service-admin or admin)
    "key_manager": [r"\w+ /v1/project-quotas.*"],
}

# Reads a project reader has on its own project in Keystone.
IDENTITY_PROJECT_READS = {
    "/v3/auth/catalog", "/v3/domains/{domain_id}", "/v3/projects/{project_id}",
    "/v3/projects/{project_id}/tags", "/v3/projects/{project_id}/tags/{tag}",
    "/v3/limits/{limit_id}"}

# Writes a reader may make (upstream defaults), each with its reason.
READER_WRITES = {
    ("compute", "POST", "/v2.1/os-keypairs"):
        "Nova: key pairs are the user's own ((rule:context_is_admin) or "
        "user_id:%(user_id)s), any role",
}

# Parameters naming what belongs to the owner *user* (not the project): the reader, another
# user of sec-a, is refused them too (Nova: a key pair is its user's; 404 for others').
USER_OWNED = {("compute", "/v2.1/os-keypairs/{name}")}

# Reads a reader may not make (upstream defaults), each with its reason.
READER_REFUSED_READS = {
    ("image", "GET", "/v2/images/{image_id}/file"):
        "Glance: download_image needs the member role",
}


@dataclass
class World:
    p: Personas
    a: Resources  # sec-a's, the target of every attempt
    b: Resources
    shared: Shared
    ids: dict[str, str] = field(default_factory=dict)  # the rest: types, providers, ...

    def private_ids(self) -> list[str]:
        """What of sec-a's must never show up in another project's lists."""
        a = self.a
        lb = {**lb_world(self), **km_world(self)}
        return [*lb.values(), a.server, a.volume, a.attached_volume, a.snapshot, a.image, a.network,
                a.subnet, a.port, a.server_port, a.router, a.security_group,
                a.security_group_rule, a.floating_ip, a.server_group, a.attachment,
                a.keypair, self.ids["credential_id"]]


def _routes(service: str) -> list[Route]:
    for s in registry.services():
        if s.name == service:
            return s.routes
    raise AssertionError(f"no service {service}")


def _prefix(service: str) -> str:
    return next(s.prefix for s in registry.services() if s.name == service)


# --- path parameters -------------------------------------------------------------------------
# (service, parameter) -> (value, whether it names something of sec-a's). Paths that give one
# name two meanings are told apart by a pattern on the path.
Value = Callable[[World, Persona], tuple[str, bool]]


def _a(attr: str) -> Value:
    return lambda w, _p: (getattr(w.a, attr), True)


def _id(key: str, owned: bool = False) -> Value:
    return lambda w, _p: (w.ids[key], owned)


def _const(value: str) -> Value:
    return lambda _w, _p: (value, False)


def _image_meta_key(w: World) -> str:
    """A property of sec-a's image, set (again) through Nova's image metadata proxy each
    time a route needs it (a member's DELETE of it may have come first)."""
    w.p.owner.ok("POST", f"/compute/v2.1/images/{w.a.image}/metadata",
                 {"metadata": {"m1": "v"}})
    return "m1"


def _transfer(w: World) -> str:
    """A transfer of a second sec-a volume (made at first use; sec-a's own volume stays
    available for the other routes)."""
    if "transfer" not in w.ids:
        owner, v = w.p.owner, f"/volume/v3/{w.a.project_id}"
        vol = owner.ok("POST", f"{v}/volumes", {"volume": {"size": 1}})["volume"]["id"]
        for _ in range(600):
            if owner.ok("GET", f"{v}/volumes/{vol}")["volume"]["status"] == "available":
                break
            time.sleep(0.1)
        w.ids["transfer"] = owner.ok("POST", f"{v}/os-volume-transfer", {
            "transfer": {"volume_id": vol}})["transfer"]["id"]
    return str(w.ids["transfer"])


PARAMS: dict[tuple[str, str], Value | list[tuple[str, Value]]] = {
    ("compute", "flavor_id"): _const("42"),
    ("compute", "key"): [(r"/flavors/", _const("hw:cpu_policy")),
                         (r"/images/", lambda w, _p: (_image_meta_key(w), True)),
                         ("", _const("m1"))],
    ("compute", "alias"): _const("os-hosts"),
    ("compute", "fip_id"): _a("floating_ip"),
    ("compute", "name"): _a("keypair"),
    ("compute", "project_id"): _a("project_id"),
    ("compute", "migration_id"): _const("1"),
    ("compute", "service_id"): _const("1"),
    ("compute", "hypervisor_id"): _const("1"),
    ("compute", "pattern"): _const("compute-test"),
    ("compute", "aggregate_id"): _const("1"),
    ("compute", "host_name"): _const("compute-test"),
    ("compute", "before_timestamp"): _const("2026-01-01 00:00:00"),
    ("compute", "network_id"): _a("network"),
    ("compute", "server_id"): _a("server"),
    ("compute", "tag"): _const("t1"),
    ("compute", "token"): _const("no-such-console-token"),
    ("compute", "request_id"): _id("request_id", True),
    ("compute", "network"): _id("network_label", True),
    ("compute", "group_id"): [(r"/os-security-groups/", _a("security_group")),
                              (r"/os-server-groups/", _a("server_group"))],
    ("compute", "rule_id"): _a("security_group_rule"),
    ("compute", "port_id"): _a("server_port"),
    ("compute", "volume_id"): _a("attached_volume"),
    ("compute", "image_id"): _a("image"),
    # the persona's own project in the URL, as its catalog gives it (sec-a's in the URL is
    # test_volume_url_of_another_project)
    ("volume", "project"): lambda w, p: (p.project_id or w.a.project_id, False),
    ("volume", "action"): _const("disable"),
    ("volume", "attachment_id"): _a("attachment"),
    ("volume", "backup_id"): _id("backup", True),
    ("volume", "key"): [(r"/types/", _const("sec_key")),
                        (r"/encryption/", _const("encryption_key_id")), ("", _const("m1"))],
    ("volume", "encryption_id"): _const("provider"),
    ("volume", "snapshot_id"): _a("snapshot"),
    ("volume", "target_project"): _a("project_id"),
    ("volume", "type_id"): _id("type_id"),
    ("volume", "volume_id"): _a("volume"),
    ("volume", "message_id"): _id("message", True),
    ("volume", "qos_id"): _const("00000000-0000-4000-8000-00000000000c"),
    ("volume", "host"): _const("nowhere"),
    ("volume", "host_name"): _const("nowhere"),
    ("volume", "class_name"): _const("default"),
    # accepting is open to any project holding the key (Cinder): 400 for a wrong one
    ("volume", "transfer_id"): [(r"/accept$", lambda w, _p: (_transfer(w), False)),
                                ("", lambda w, _p: (_transfer(w), True))],
    # members: the reader looks at sec-a's shared image, the other project (a member of
    # it, which may see and accept its own membership) at sec-a's private one
    ("image", "image_id"): [(r"/members", lambda w, p: (
        w.ids["shared_image"] if p is w.p.reader else w.a.image, True)), ("", _a("image"))],
    ("image", "tag"): _const("t1"),
    ("image", "member_id"): lambda w, _p: (w.b.project_id, True),
    ("image", "schema"): [(r"/metadefs/", _const("namespace")), ("", _const("image"))],
    ("image", "object_name"): _const("o1"),
    ("image", "property_name"): _const("p1"),
    ("image", "tag_name"): _const("t1"),
    ("image", "resource_type_name"): _const("OS::Glance::Image"),
    ("image", "task_id"): _const("00000000-0000-4000-8000-00000000000b"),
    ("network", "alias"): _const("router"),
    ("network", "tag"): _const("t1"),
    ("network", "project_id"): _a("project_id"),
    ("network", "network_id"): _a("network"),
    ("network", "id"): [(r"/agents/", _const("agent")),
                        (r"/metering-labels/", lambda w, _p: (_metering(w)[0], False)),
                        (r"/metering-label-rules/", lambda w, _p: (_metering(w)[1], False)),
                        (r"/networks/", _a("network")), (r"/subnets/", _a("subnet")),
                        (r"/subnetpools/", _id("subnetpool", True)),
                        (r"/ports/", _a("port")), (r"/routers/", _a("router")),
                        (r"/floatingips/", _a("floating_ip")),
                        (r"/security-groups/", _a("security_group")),
                        (r"/security-group-rules/", _a("security_group_rule"))],
    ("placement", "uuid"): _id("provider"),
    ("placement", "resource_class"): _const("VCPU"),
    ("placement", "consumer_uuid"): _a("server"),
    ("placement", "name"): [(r"/resource_classes/", _const("VCPU")),
                            (r"/traits/", _const("HW_CPU_X86_AVX"))],
    ("identity", "domain_id"): _const("default"),
    ("identity", "project_id"): _a("project_id"),
    ("identity", "user_id"): lambda w, _p: (w.p.owner.user_id, True),
    ("identity", "group_id"): _id("group_id"),
    ("identity", "role_id"): _id("member_role"),
    ("identity", "prior_role_id"): _id("admin_role"),
    ("identity", "implied_role_id"): _id("member_role"),
    ("identity", "region_id"): _const("RegionOne"),
    ("identity", "service_id"): _id("service_id"),
    ("identity", "endpoint_id"): _id("endpoint_id"),
    ("identity", "application_credential_id"): _id("app_cred", True),
    ("identity", "credential_id"): _id("credential_id", True),
    ("identity", "access"): _id("access", True),
    ("identity", "tag"): _const("t1"),
}

LB = "/load-balancer/v2/lbaas"


def lb_world(w: World) -> dict[str, str]:
    """sec-a's load balancer, made on first need (one fully populated create: a listener,
    its pool with a member and a monitor, an L7 policy with a rule), its objects' ids."""
    if "lb:lb" not in w.ids:
        import time

        owner = w.p.owner
        lb = owner.ok("POST", f"{LB}/loadbalancers", {"loadbalancer": {
            "name": "sec-a-lb", "vip_subnet_id": w.a.subnet, "listeners": [{
                "protocol": "HTTP", "protocol_port": 80, "default_pool": {
                    "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                    "members": [{"address": "10.0.0.99", "protocol_port": 80}],
                    "healthmonitor": {"type": "HTTP", "delay": 5, "timeout": 3,
                                      "max_retries": 2}},
                "l7policies": [{"action": "REJECT", "rules": [{
                    "type": "PATH", "compare_type": "STARTS_WITH", "value": "/x"}]}]}]}}
                       )["loadbalancer"]
        for _ in range(200):
            got = owner.ok("GET", f"{LB}/loadbalancers/{lb['id']}")["loadbalancer"]
            if got["provisioning_status"] == "ACTIVE":
                break
            time.sleep(0.05)
        lis = lb["listeners"][0]
        pool = owner.ok("GET", f"{LB}/pools/{lis['default_pool_id']}")["pool"]
        policy = owner.ok("GET", f"{LB}/l7policies/{lis['l7policies'][0]['id']}")["l7policy"]
        w.ids.update({"lb:lb": lb["id"], "lb:listener": lis["id"], "lb:pool": pool["id"],
                      "lb:member": pool["members"][0]["id"],
                      "lb:healthmonitor": pool["healthmonitor_id"],
                      "lb:l7policy": policy["id"], "lb:l7rule": policy["rules"][0]["id"]})
    return {k: v for k, v in w.ids.items() if k.startswith("lb:")}


def _lb(key: str) -> Value:
    return lambda w, _p: (lb_world(w)[f"lb:{key}"], True)


def lb_catalog(w: World) -> dict[str, str]:
    """A flavor and an availability zone (and their profiles), made by the admin on first
    need: no project owns them."""
    if "lbc:flavor" not in w.ids:
        admin = w.p.admin
        fp = admin.ok("POST", f"{LB}/flavorprofiles", {"flavorprofile": {
            "name": "sec-fp", "provider_name": "haproxy",
            "flavor_data": '{"loadbalancer_topology": "SINGLE"}'}})["flavorprofile"]["id"]
        flavor = admin.ok("POST", f"{LB}/flavors", {"flavor": {
            "name": "sec-flavor", "flavor_profile_id": fp}})["flavor"]["id"]
        azp = admin.ok("POST", f"{LB}/availabilityzoneprofiles", {
            "availability_zone_profile": {"name": "sec-azp", "provider_name": "haproxy",
                                          "availability_zone_data": "{}"}}
                       )["availability_zone_profile"]["id"]
        admin.ok("POST", f"{LB}/availabilityzones", {"availability_zone": {
            "name": "sec-az", "availability_zone_profile_id": azp}})
        w.ids.update({"lbc:flavor": flavor, "lbc:flavorprofile": fp, "lbc:azp": azp,
                      "lbc:az": "sec-az"})
    return {k: v for k, v in w.ids.items() if k.startswith("lbc:")}


def _lbc(key: str) -> Value:
    return lambda w, _p: (lb_catalog(w)[f"lbc:{key}"], False)


PARAMS.update({
    ("load_balancer", "flavor_id"): _lbc("flavor"),
    ("load_balancer", "flavorprofile_id"): _lbc("flavorprofile"),
    ("load_balancer", "availability_zone_profile_id"): _lbc("azp"),
    ("load_balancer", "availability_zone_name"): _lbc("az"),
    ("load_balancer", "lb_id"): _lb("lb"), ("load_balancer", "listener_id"): _lb("listener"),
    ("load_balancer", "pool_id"): _lb("pool"), ("load_balancer", "member_id"): _lb("member"),
    ("load_balancer", "healthmonitor_id"): _lb("healthmonitor"),
    ("load_balancer", "l7policy_id"): _lb("l7policy"),
    ("load_balancer", "l7rule_id"): _lb("l7rule"),
    ("load_balancer", "project_id"): _a("project_id"),
    ("load_balancer", "provider"): _const("haproxy"),
})

KM = "/key-manager/v1"


def km_world(w: World) -> dict[str, str]:
    """sec-a's secret (a payload, metadata key m1), container and order, made on first
    need; their ids."""
    if "km:secret" not in w.ids:
        owner = w.p.owner
        ref = owner.ok("POST", f"{KM}/secrets", {"name": "sec-a-secret", "payload": "x",
                                                 "payload_content_type": "text/plain"})
        secret = ref["secret_ref"].rsplit("/", 1)[-1]
        owner.ok("POST", f"{KM}/secrets/{secret}/metadata", {"key": "m1", "value": "v"})
        ref = owner.ok("POST", f"{KM}/containers", {"type": "generic", "secret_refs": [
            {"name": "s", "secret_ref": f"{w.p.owner.cloud.base_url}{KM}/secrets/{secret}"}]})
        container = ref["container_ref"].rsplit("/", 1)[-1]
        ref = owner.ok("POST", f"{KM}/orders", {"type": "key", "meta": {
            "algorithm": "aes", "bit_length": 128}})
        w.ids.update({"km:secret": secret, "km:container": container,
                      "km:order": ref["order_ref"].rsplit("/", 1)[-1]})
    return {k: v for k, v in w.ids.items() if k.startswith("km:")}


def _km(key: str) -> Value:
    return lambda w, _p: (km_world(w)[f"km:{key}"], True)


PARAMS.update({
    ("key_manager", "secret_id"): _km("secret"),
    ("key_manager", "container_id"): _km("container"),
    ("key_manager", "order_id"): _km("order"),
    ("key_manager", "key"): _const("m1"),
    ("key_manager", "project_id"): _a("project_id"),
    ("key_manager", "store_id"): _const("00000000-0000-4000-8000-00000000000a"),
})

_PARAM = re.compile(r"{(\w+)(?::path)?}")


def fill(service: str, route: Route, w: World, who: Persona) -> tuple[str, bool]:
    """The route's path with values; whether it names something of sec-a's."""
    names_a = False

    def one(m: re.Match[str]) -> str:
        nonlocal names_a
        entry = PARAMS.get((service, m.group(1)))
        if entry is None:
            raise KeyError(f"no value for {{{m.group(1)}}} of {service} {route.path}: add "
                           "it to PARAMS in tests/security/persona_routes.py")
        if isinstance(entry, list):
            found = [v for pattern, v in entry if re.search(pattern, route.path)]
            if not found:
                raise KeyError(f"no value for {{{m.group(1)}}} of {service} {route.path}")
            entry = found[0]
        value, owned = entry(w, who)
        names_a = names_a or owned
        return value

    return _PARAM.sub(one, route.path), names_a


# --- bodies: enough for the request to reach the ownership check -----------------------------
def body(service: str, route: Route, w: World) -> Any:
    a, path = w.a, route.path
    if (service, route.method, path) == ("identity", "POST", "/v3/credentials"):
        return {"credential": {"user_id": w.p.owner.user_id, "project_id": a.project_id,
                               "type": "ec2", "blob": '{"access": "x", "secret": "y"}'}}
    if (service, route.method, path) == ("compute", "POST", "/v2.1/os-floating-ips"):
        return {"pool": w.shared.external_network}
    if service == "network" and route.method == "POST":
        kind = path.rsplit("/", 1)[-1]
        return {
            "networks": {"network": {"name": "x"}},
            "subnets": {"subnet": {"network_id": a.network, "ip_version": 4,
                                   "cidr": "10.81.9.0/24"}},
            "subnetpools": {"subnetpool": {"name": "x", "prefixes": ["10.91.0.0/16"]}},
            "ports": {"port": {"network_id": a.network}},
            "dhcp-networks": {"network_id": a.network},
            "metering-labels": {"metering_label": {"name": "x"}},
            "metering-label-rules": {"metering_label_rule": {
                "metering_label_id": "label", "direction": "ingress",
                "remote_ip_prefix": "10.0.0.0/24"}},
            "routers": {"router": {"name": "x"}},
            "floatingips": {"floatingip": {"floating_network_id": w.shared.external_network}},
            "security-groups": {"security_group": {"name": "x"}},
            "security-group-rules": {"security_group_rule": {
                "security_group_id": a.security_group, "direction": "ingress"}},
        }[kind]
    if service == "network" and route.method == "PUT" and path.endswith("_interface"):
        return {"subnet_id": a.subnet}
    if service == "network" and route.method == "PUT" and path.endswith("{id}"):
        singular = {"security-groups": "security_group", "floatingips": "floatingip",
                    "subnetpools": "subnetpool"}.get(path.split("/")[2],
                                                     path.split("/")[2][:-1])
        return {singular: {"name": "x"} if singular != "floatingip" else {"port_id": None}}
    if service == "load_balancer" and route.method == "POST":
        return lb_body(path, w)
    if service == "volume":
        path = path.removeprefix("/v3/{project}").removeprefix("/v3")
    return BODIES.get((service, route.method, path), {})


def lb_body(path: str, w: World) -> Any:
    """Octavia creates, valid up to the ownership check (which names sec-a's objects)."""
    ids = lb_world(w)
    kind = path.rsplit("/", 1)[-1]
    return {
        "loadbalancers": {"loadbalancer": {"vip_subnet_id": w.a.subnet}},
        "listeners": {"listener": {"loadbalancer_id": ids["lb:lb"], "protocol": "TCP",
                                   "protocol_port": 81}},
        "pools": {"pool": {"loadbalancer_id": ids["lb:lb"], "protocol": "TCP",
                           "lb_algorithm": "ROUND_ROBIN"}},
        "members": {"member": {"address": "10.0.0.98", "protocol_port": 80}},
        "healthmonitors": {"healthmonitor": {"pool_id": ids["lb:pool"], "type": "TCP",
                                             "delay": 5, "timeout": 3, "max_retries": 2}},
        "l7policies": {"l7policy": {"listener_id": ids["lb:listener"], "action": "REJECT"}},
        "rules": {"rule": {"type": "PATH", "compare_type": "STARTS_WITH", "value": "/y"}},
    }.get(kind, {})


BODIES: dict[tuple[str, str, str], Any] = {
    ("compute", "POST", "/v2.1/flavors/{flavor_id}/action"): {
        "addTenantAccess": {"tenant": "someone"}},
    ("compute", "PUT", "/v2.1/servers/{server_id}"): {"server": {"name": "taken"}},
    ("compute", "POST", "/v2.1/servers/{server_id}/action"): {"os-stop": None},
    ("compute", "PUT", "/v2.1/servers/{server_id}/tags"): {"tags": ["x"]},
    ("compute", "POST", "/v2.1/servers/{server_id}/metadata"): {"metadata": {"x": "y"}},
    ("compute", "PUT", "/v2.1/servers/{server_id}/metadata"): {"metadata": {"x": "y"}},
    ("compute", "PUT", "/v2.1/servers/{server_id}/metadata/{key}"): {"meta": {"m1": "x"}},
    ("compute", "PUT", "/v2.1/os-security-groups/{group_id}"): {
        "security_group": {"name": "x", "description": "x"}},
    ("compute", "POST", "/v2.1/servers/{server_id}/remote-consoles"): {
        "remote_console": {"protocol": "serial", "type": "serial"}},
    ("compute", "POST", "/v2.1/servers/{server_id}/os-interface"): {
        "interfaceAttachment": {}},
    ("compute", "POST", "/v2.1/servers/{server_id}/os-volume_attachments"): {
        "volumeAttachment": {"volumeId": "00000000-0000-0000-0000-000000000000"}},
    ("volume", "PUT", "/volumes/{volume_id}"): {"volume": {"name": "taken"}},
    ("volume", "POST", "/volumes/{volume_id}/action"): {"os-extend": {"new_size": 2}},
    ("volume", "POST", "/volumes/{volume_id}/metadata"): {"metadata": {"x": "y"}},
    ("volume", "PUT", "/volumes/{volume_id}/metadata"): {"metadata": {"x": "y"}},
    ("volume", "PUT", "/volumes/{volume_id}/metadata/{key}"): {"meta": {"m1": "x"}},
    ("volume", "PUT", "/snapshots/{snapshot_id}"): {"snapshot": {"name": "taken"}},
    ("volume", "PUT", "/backups/{backup_id}"): {"backup": {"name": "taken"}},
    ("volume", "POST", "/backups/{backup_id}/restore"): {"restore": {}},
    ("volume", "POST", "/os-volume-transfer/{transfer_id}/accept"): {
        "accept": {"auth_key": "wrong"}},
    ("volume", "POST", "/volume-transfers/{transfer_id}/accept"): {
        "accept": {"auth_key": "wrong"}},
    ("volume", "POST", "/snapshots/{snapshot_id}/action"): {
        "os-update_snapshot_status": {"status": "error"}},
    ("volume", "POST", "/snapshots/{snapshot_id}/metadata"): {"metadata": {"x": "y"}},
    ("volume", "PUT", "/snapshots/{snapshot_id}/metadata"): {"metadata": {"x": "y"}},
    ("volume", "PUT", "/snapshots/{snapshot_id}/metadata/{key}"): {"meta": {"m1": "x"}},
    ("volume", "PUT", "/attachments/{attachment_id}"): {"attachment": {"connector": {}}},
    ("image", "POST", "/v2/images"): {"name": "x", "disk_format": "raw",
                                      "container_format": "bare"},
    ("volume", "POST", "/attachments/{attachment_id}/action"): {"os-complete": {}},
    ("image", "PUT", "/v2/images/{image_id}/members/{member_id}"): {"status": "accepted"},
    ("image", "POST", "/v2/images/{image_id}/import"): {"method": {"name": "glance-direct"}},
    ("image", "POST", "/v2/images/{image_id}/members"): {"member": "someone"},
}


def _headers(service: str, route: Route, w: World) -> dict[str, str]:
    out = {"OpenStack-API-Version": {"compute": "compute 2.26", "volume": "volume 3.44",
                                     "placement": "placement 1.30"}.get(service, "")}
    if service == "volume" and "/volume-transfers" in route.path:
        out["OpenStack-API-Version"] = "volume 3.57"  # served from 3.55
    if service == "identity" and route.path == "/v3/auth/tokens":
        out["X-Subject-Token"] = w.ids["subject_token"]
    if service == "image" and route.path.endswith(("/file", "/stage")):
        out["Content-Type"] = "application/octet-stream"
    if service == "image" and route.method == "PATCH":
        out["Content-Type"] = "application/openstack-images-v2.1-json-patch"
    return {k: v for k, v in out.items() if v}


def send(service: str, route: Route, w: World, who: Persona) -> tuple[httpx.Response, bool]:
    path, names_a = fill(service, route, w, who)
    # the versioned volume routes come twice (/v3/... and /v3/{project}/...)
    url = _prefix(service) + path
    headers = _headers(service, route, w)
    if service == "image" and route.method == "PUT" and path.endswith(("/file", "/stage")):
        return who.call(route.method, url, headers=headers, content=b"x"), names_a
    if service == "image" and route.method == "PATCH":
        return who.call(route.method, url, headers=headers, content=b"[]"), names_a
    data = None if route.method in ("GET", "DELETE") else body(service, route, w)
    return who.call(route.method, url, data, headers=headers), names_a


# --- what each service's fault body looks like ----------------------------------------------
def fault_message(service: str, r: httpx.Response) -> str:
    """The message of the service's own fault body (asserting its shape)."""
    data = r.json()
    if service == "identity":
        err = data["error"]
        assert err["code"] == r.status_code and err["title"], data
        return str(err["message"])
    if service in ("compute", "volume"):
        (inner,) = data.values()
        assert inner["code"] == r.status_code, data
        return str(inner["message"])
    if service == "image":
        assert data["code"] == r.status_code and data["title"], data
        return str(data["message"])
    if service == "network":
        err = data["NeutronError"]
        assert err["type"], data
        return str(err["message"])
    if service == "load_balancer":
        assert data["faultcode"] == "Client" and "debuginfo" in data, data
        return str(data["faultstring"])
    if service == "key_manager":
        assert data["code"] == r.status_code and data["title"], data
        return str(data["description"])
    if service == "placement":
        err = data["errors"][0]
        assert err["status"] == r.status_code, data
        return str(err["detail"])
    raise AssertionError(service)


def _match(patterns: list[str], text: str) -> bool:
    return any(re.fullmatch(p, text) for p in patterns)


def kind(service: str, route: Route) -> str:
    """any-token, admin, open-read, project-read or project-write."""
    key = (service, route.method, route.path)
    path = route.path
    if service == "volume":
        path = path.removeprefix("/v3/{project}").removeprefix("/v3")
    if key in ANY_TOKEN:
        return "any-token"
    if service == "identity" and route.method == "GET" and path in IDENTITY_PROJECT_READS:
        return "project-read"
    if _match(ADMIN_ONLY[service], f"{route.method} {path}"):
        return "admin"
    if route.method == "GET" and _match(OPEN_READS[service], path):
        return "open-read"
    return "project-read" if route.method == "GET" else "project-write"


def enumerated(service: str) -> Iterator[Route]:
    for route in _routes(service):
        if route.auth:
            yield route


def _metering(w: World) -> tuple[str, str]:
    """An admin's metering label and its rule (admin-only resources), made on first need."""
    if "metering_label" not in w.ids:
        m = "/networking/v2.0/metering"
        label = w.p.admin.ok("POST", f"{m}/metering-labels", {"metering_label": {
            "name": "sec-meter"}})["metering_label"]["id"]
        w.ids["metering_label"] = label
        w.ids["metering_rule"] = w.p.admin.ok("POST", f"{m}/metering-label-rules", {
            "metering_label_rule": {"metering_label_id": label, "direction": "ingress",
                                    "remote_ip_prefix": "10.0.0.0/24"}}
        )["metering_label_rule"]["id"]
    return w.ids["metering_label"], w.ids["metering_rule"]


def _trust(w: World, _p: Persona) -> tuple[str, bool]:
    """sec-a's owner's trust (member on sec-a, to the admin user), made on first need."""
    if "trust" not in w.ids:
        owner = w.p.owner
        w.ids["trust"] = owner.ok("POST", "/identity/v3/OS-TRUST/trusts", {"trust": {
            "trustor_user_id": owner.user_id, "trustee_user_id": w.p.admin.user_id,
            "project_id": w.a.project_id, "impersonation": False,
            "roles": [{"id": w.ids["member_role"]}]}})["trust"]["id"]
    return w.ids["trust"], True


PARAMS[("identity", "trust_id")] = _trust


def _group_type(w: World, _p: Persona) -> tuple[str, bool]:
    """A public group type (an admin's; no project owns it), made on first need."""
    if "group_type" not in w.ids:
        w.ids["group_type"] = w.p.admin.ok(
            "POST", "/volume/v3/group_types", {"group_type": {"name": "sec-group-type"}},
            headers={"OpenStack-API-Version": "volume 3.11"})["group_type"]["id"]
    return w.ids["group_type"], False


PARAMS[("volume", "group_type_id")] = _group_type


def _limits(w: World, _p: Persona) -> dict[str, str]:
    """A registered limit of the compute service and sec-a's own limit on it, made once."""
    if "limit" not in w.ids:
        import uuid

        admin, i, name = w.p.admin, "/identity/v3", f"sec-a-widgets-{uuid.uuid4().hex[:8]}"
        reg = admin.ok("POST", f"{i}/registered_limits", {"registered_limits": [{
            "service_id": w.ids["service_id"], "resource_name": name,
            "default_limit": 5}]})["registered_limits"][0]["id"]
        w.ids["registered_limit"] = reg
        w.ids["limit"] = admin.ok("POST", f"{i}/limits", {"limits": [{
            "service_id": w.ids["service_id"], "project_id": w.a.project_id,
            "resource_name": name, "resource_limit": 7}]})["limits"][0]["id"]
    return {"registered_limit": w.ids["registered_limit"], "limit": w.ids["limit"]}


PARAMS[("identity", "registered_limit_id")] = lambda w, p: (
    _limits(w, p)["registered_limit"], False)
PARAMS[("identity", "limit_id")] = lambda w, p: (_limits(w, p)["limit"], True)


def _endpoint_group(w: World, _p: Persona) -> tuple[str, bool]:
    """An endpoint group (the identity service's endpoints), made on first need."""
    if "endpoint_group" not in w.ids:
        w.ids["endpoint_group"] = w.p.admin.ok(
            "POST", "/identity/v3/OS-EP-FILTER/endpoint_groups", {"endpoint_group": {
                "name": "sec-group", "filters": {"service_id": w.ids["service_id"]}}}
        )["endpoint_group"]["id"]
    return w.ids["endpoint_group"], False


PARAMS[("identity", "endpoint_group_id")] = _endpoint_group


def _metadef_namespace(w: World, _p: Persona) -> tuple[str, bool]:
    """A public metadefs namespace (admins write metadefs, everyone reads public ones),
    holding what the item routes name: object o1, property p1, tag t1, an association."""
    if "metadef_ns" not in w.ids:
        w.ids["metadef_ns"] = w.p.admin.ok("POST", "/image/v2/metadefs/namespaces", {
            "namespace": "OS::Sec::Personas", "visibility": "public",
            "resource_type_associations": [{"name": "OS::Glance::Image"}],
            "objects": [{"name": "o1"}], "properties": {"p1": {"title": "P1",
                                                               "type": "string"}},
            "tags": [{"name": "t1"}]})["namespace"]
    return w.ids["metadef_ns"], False


PARAMS[("image", "namespace_name")] = _metadef_namespace


def _access_rule(w: World, _p: Persona) -> tuple[str, bool]:
    """An access rule of sec-a's owner (made with an application credential), on first need."""
    if "access_rule" not in w.ids:
        owner = w.p.owner
        w.ids["access_rule"] = owner.ok(
            "POST", f"/identity/v3/users/{owner.user_id}/application_credentials",
            {"application_credential": {"name": f"sec-ar-{time.monotonic_ns()}", "access_rules": [
                {"service": "compute", "method": "GET", "path": "/v2.1/servers"}]}}
        )["application_credential"]["access_rules"][0]["id"]
    return w.ids["access_rule"], True


PARAMS[("identity", "access_rule_id")] = _access_rule
PARAMS[("identity", "group")] = _const("ldap")
PARAMS[("identity", "option")] = _const("url")


def _policy_blob(w: World, _p: Persona) -> tuple[str, bool]:
    """A policy blob of the admin's (the deprecated /v3/policies store), made on first need."""
    if "policy_blob" not in w.ids:
        w.ids["policy_blob"] = w.p.admin.ok("POST", "/identity/v3/policies", {"policy": {
            "type": "application/json", "blob": "{}"}})["policy"]["id"]
    return w.ids["policy_blob"], False


PARAMS[("identity", "policy_id")] = _policy_blob


def _consumer(w: World, _p: Persona) -> tuple[str, bool]:
    """An OAuth1 consumer of the admin's, made on first need."""
    if "consumer" not in w.ids:
        w.ids["consumer"] = w.p.admin.ok("POST", "/identity/v3/OS-OAUTH1/consumers", {
            "consumer": {"description": "sec"}})["consumer"]["id"]
    return w.ids["consumer"], False


PARAMS[("identity", "consumer_id")] = _consumer
