"""Octavia v2 route table, served under both /v2 and /v2.0."""

from __future__ import annotations

from onestack.api.common.routing import Route, ServiceApi
from onestack.api.load_balancer import flavors, misc
from onestack.api.load_balancer import handlers as h
from onestack.api.load_balancer.handlers import Kind
from onestack.api.load_balancer.policies import API, RULES
from onestack.api.load_balancer.views import octavia_fault
from onestack.core.identity.bootstrap import ServiceEntry

R = Route


def _kind(kind: Kind, path: str) -> list[Route]:
    one = f"{path}/{{{kind.id_param}}}"
    rule = f"{API}:{kind.kind}"
    routes = [
        R("GET", path, kind.index, f"{rule}:get_all",
          target=kind.parent_target if kind.parent_param else h.own_target),
        R("POST", path, kind.create, f"{rule}:post", target=kind.create_target),
        R("GET", one, kind.show, f"{rule}:get_one", target=kind.target),
        R("PUT", one, kind.update, f"{rule}:put", target=kind.target),
        R("DELETE", one, kind.delete, f"{rule}:delete", target=kind.target),
    ]
    if kind.kind == "listener":
        routes.append(R("GET", f"{one}/stats", kind.stats, f"{rule}:get_stats",
                        target=kind.target))
    return routes


def _v2(v: str) -> list[Route]:
    b = f"{v}/lbaas"
    lb, one = f"{b}/loadbalancers", f"{b}/loadbalancers/{{lb_id}}"
    rule = f"{API}:loadbalancer"
    return [
        R("GET", lb, h.list_lbs, f"{rule}:get_all", target=h.own_target),
        R("POST", lb, h.create_lb, f"{rule}:post", target=h.lb_create_target),
        R("GET", one, h.show_lb, f"{rule}:get_one", target=h.lb_target),
        R("PUT", one, h.update_lb, f"{rule}:put", target=h.lb_target),
        R("DELETE", one, h.delete_lb, f"{rule}:delete", target=h.lb_target),
        R("GET", f"{one}/status", h.lb_status, f"{rule}:get_status", target=h.lb_target),
        R("GET", f"{one}/stats", h.lb_stats, f"{rule}:get_stats", target=h.lb_target),
        R("PUT", f"{one}/failover", h.failover, f"{rule}:put_failover", target=h.lb_target),
        *_kind(h.LISTENERS, f"{b}/listeners"),
        *_kind(h.POOLS, f"{b}/pools"),
        *_kind(h.MEMBERS, f"{b}/pools/{{pool_id}}/members"),
        R("PUT", f"{b}/pools/{{pool_id}}/members", h.batch_members, f"{API}:member:put",
          target=h.MEMBERS.parent_target),
        *_kind(h.MONITORS, f"{b}/healthmonitors"),
        *_kind(h.L7POLICIES, f"{b}/l7policies"),
        *_kind(h.L7RULES, f"{b}/l7policies/{{l7policy_id}}/rules"),
        R("GET", f"{b}/quotas", misc.list_quotas, f"{API}:quota:get_all",
          target=h.own_target),
        R("GET", f"{b}/quotas/{{project_id}}", misc.get_quota, f"{API}:quota:get_one",
          target=misc.project_target),
        R("GET", f"{b}/quotas/{{project_id}}/default", misc.default_quota,
          f"{API}:quota:get_defaults", target=misc.project_target),
        R("PUT", f"{b}/quotas/{{project_id}}", misc.put_quota, f"{API}:quota:put",
          target=misc.project_target),
        R("DELETE", f"{b}/quotas/{{project_id}}", misc.delete_quota, f"{API}:quota:delete",
          target=misc.project_target),
        R("GET", f"{b}/providers", misc.providers, f"{API}:provider:get_all",
          target=h.own_target),
        *flavors.routes(b),
    ]


ROUTES: list[Route] = [R("GET", "/", misc.versions, auth=False), *_v2("/v2"), *_v2("/v2.0")]

SERVICE = ServiceApi(name="load_balancer", prefix="/load-balancer", routes=ROUTES,
                     render_fault=octavia_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("load-balancer", "octavia", f"{base_url}/load-balancer")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
