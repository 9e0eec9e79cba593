"""Octavia's default policy (``octavia/policies/``): the load-balancer_* roles of Octavia's
own model and Keystone's default reader/member/admin personas, both served. Every rule
serves project-scoped tokens."""

from __future__ import annotations

from onestack.api.common.policy import Rule, project_scoped

API = "os_load-balancer_api"
BASE = [
    Rule("context_is_admin", "role:admin or role:load-balancer_admin"),
    Rule("load-balancer:owner", "project_id:%(project_id)s"),
    Rule("load-balancer:observer_and_owner",
         "(role:load-balancer_observer or role:reader) and rule:load-balancer:owner"),
    Rule("load-balancer:global_observer", "role:load-balancer_global_observer"),
    Rule("load-balancer:member_and_owner",
         "(role:load-balancer_member or role:member) and rule:load-balancer:owner"),
    Rule("load-balancer:admin", "is_admin:True or role:admin or role:load-balancer_admin"),
    Rule("load-balancer:read",
         "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
         "rule:load-balancer:member_and_owner or rule:load-balancer:admin"),
    Rule("load-balancer:read-global",
         "rule:load-balancer:global_observer or rule:load-balancer:admin"),
    Rule("load-balancer:write", "rule:load-balancer:member_and_owner or "
                                "rule:load-balancer:admin"),
    Rule("load-balancer:read-quota",
         "rule:load-balancer:observer_and_owner or rule:load-balancer:global_observer or "
         "rule:load-balancer:member_and_owner or role:load-balancer_quota_admin or "
         "rule:load-balancer:admin"),
    Rule("load-balancer:read-quota-global",
         "rule:load-balancer:global_observer or role:load-balancer_quota_admin or "
         "rule:load-balancer:admin"),
    Rule("load-balancer:write-quota",
         "role:load-balancer_quota_admin or rule:load-balancer:admin"),
]
READ, READ_GLOBAL, WRITE = ("rule:load-balancer:read", "rule:load-balancer:read-global",
                            "rule:load-balancer:write")
ADMIN = "rule:load-balancer:admin"


def _crud(kind: str, global_list: bool = True) -> list[Rule]:
    rules = [Rule(f"{API}:{kind}:get_all", READ), Rule(f"{API}:{kind}:post", WRITE),
             Rule(f"{API}:{kind}:get_one", READ), Rule(f"{API}:{kind}:put", WRITE),
             Rule(f"{API}:{kind}:delete", WRITE)]
    if global_list:
        rules.append(Rule(f"{API}:{kind}:get_all-global", READ_GLOBAL))
    return rules


def _catalog(kind: str, read: str) -> list[Rule]:
    """Flavors and availability zones (and their profiles): written by admins only."""
    return [Rule(f"{API}:{kind}:get_all", read), Rule(f"{API}:{kind}:get_one", read),
            Rule(f"{API}:{kind}:post", ADMIN), Rule(f"{API}:{kind}:put", ADMIN),
            Rule(f"{API}:{kind}:delete", ADMIN)]


RULES: list[Rule] = project_scoped([
    *BASE,
    *_crud("loadbalancer"), Rule(f"{API}:loadbalancer:get_stats", READ),
    Rule(f"{API}:loadbalancer:get_status", READ),
    Rule(f"{API}:loadbalancer:put_failover", ADMIN),
    *_crud("listener"), Rule(f"{API}:listener:get_stats", READ),
    *_crud("pool"), *_crud("member", False), *_crud("healthmonitor"), *_crud("l7policy"),
    *_crud("l7rule", False),
    Rule(f"{API}:quota:get_all", "rule:load-balancer:read-quota-global"),
    Rule(f"{API}:quota:get_all-global", "rule:load-balancer:read-quota-global"),
    Rule(f"{API}:quota:get_one", "rule:load-balancer:read-quota"),
    Rule(f"{API}:quota:get_defaults", "rule:load-balancer:read-quota"),
    Rule(f"{API}:quota:put", "rule:load-balancer:write-quota"),
    Rule(f"{API}:quota:delete", "rule:load-balancer:write-quota"),
    Rule(f"{API}:provider:get_all", READ),
    Rule(f"{API}:provider-flavor:get_all", ADMIN),
    Rule(f"{API}:provider-availability-zone:get_all", ADMIN),
    *_catalog("flavor", READ), *_catalog("flavor-profile", ADMIN),
    *_catalog("availability-zone", READ), *_catalog("availability-zone-profile", ADMIN),
])
