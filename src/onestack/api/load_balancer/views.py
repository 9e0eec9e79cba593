"""Octavia's response shapes, rendered from a load balancer's tree, and its fault body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from onestack.core.load_balancer.base import Tree
from onestack.core.load_balancer.rules import DEFAULTS
from onestack.db.models.load_balancer import LbObject
from onestack.errors import OnestackError

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest

HIDDEN = ("own_port", "stats")
STATS = ("bytes_in", "bytes_out", "active_connections", "total_connections",
         "request_errors")


def octavia_fault(exc: OnestackError, _req: ApiRequest | None
                  ) -> tuple[dict[str, Any], dict[str, str]]:
    code = "Server" if exc.status >= 500 and exc.status != 501 else "Client"
    return {"faultcode": code, "faultstring": exc.message, "debuginfo": None}, dict(exc.headers)


def _time(value: Any) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S") if value is not None else None


def _ids(objs: list[LbObject]) -> list[dict[str, str]]:
    return [{"id": o.id} for o in objs]


def _common(obj: Any) -> dict[str, Any]:
    return {"id": obj.id, "project_id": obj.project_id, "tenant_id": obj.project_id,
            "provisioning_status": obj.provisioning_status,
            "operating_status": obj.operating_status, "admin_state_up": obj.admin_state_up,
            "created_at": _time(obj.created_at), "updated_at": _time(obj.updated_at)}


def _attrs(kind: str, obj: Any) -> dict[str, Any]:
    return {k: obj.attrs.get(k, v) for k, v in DEFAULTS[kind].items() if k not in HIDDEN}


def loadbalancer(tree: Tree, full: bool = False) -> dict[str, Any]:
    lb = tree.lb
    listeners, pools = tree.of("listener"), tree.of("pool")
    return {**_common(lb), "name": lb.name, "description": lb.description,
            **_attrs("loadbalancer", lb), "provider": lb.provider,
            "vip_address": lb.vip_address, "vip_port_id": lb.vip_port_id,
            "vip_subnet_id": lb.vip_subnet_id, "vip_network_id": lb.vip_network_id,
            "vip_vnic_type": "normal", "additional_vips": [],
            "listeners": [obj(tree, x) for x in listeners] if full else _ids(listeners),
            "pools": [obj(tree, x) for x in pools] if full else _ids(pools)}


def obj(tree: Tree, o: LbObject) -> dict[str, Any]:
    out = {**_common(o), **_attrs(o.kind, o)}
    if o.kind != "l7rule":
        out["name"] = o.name
    if o.kind in ("listener", "pool", "l7policy"):
        out["description"] = o.description
    lb_ref = [{"id": tree.lb.id}]
    if o.kind == "listener":
        out["loadbalancers"] = lb_ref
        out["l7policies"] = _ids(tree.of("l7policy", o.id))
    elif o.kind == "pool":
        users = [x for x in tree.of("listener") if x.attrs.get("default_pool_id") == o.id]
        for policy in tree.of("l7policy"):
            if policy.attrs.get("redirect_pool_id") == o.id:
                lis = tree.get(policy.parent_id)
                if lis is not None and lis not in users:
                    users.append(lis)
        monitors = tree.of("healthmonitor", o.id)
        out.update(loadbalancers=lb_ref, listeners=_ids(users),
                   members=_ids(tree.of("member", o.id)),
                   healthmonitor_id=monitors[0].id if monitors else None)
    elif o.kind == "healthmonitor":
        out["pools"] = [{"id": o.parent_id}]
    elif o.kind == "l7policy":
        out.update(listener_id=o.parent_id, position=o.position,
                   rules=_ids(tree.of("l7rule", o.id)))
    return out


def status_tree(tree: Tree) -> dict[str, Any]:
    def short(o: Any, **extra: Any) -> dict[str, Any]:
        return {"id": o.id, "name": o.name, "provisioning_status": o.provisioning_status,
                "operating_status": o.operating_status, **extra}

    def pool(p: LbObject) -> dict[str, Any]:
        out = short(p, members=[short(m, address=m.attrs["address"],
                                      protocol_port=m.attrs["protocol_port"])
                                for m in tree.of("member", p.id)])
        monitors = tree.of("healthmonitor", p.id)
        if monitors:
            out["health_monitor"] = short(monitors[0], type=monitors[0].attrs["type"])
        return out

    listeners = []
    for lis in tree.of("listener"):
        ids = [lis.attrs.get("default_pool_id")] + [
            x.attrs.get("redirect_pool_id") for x in tree.of("l7policy", lis.id)]
        pools = [p for p in tree.of("pool") if p.id in ids]
        listeners.append(short(lis, pools=[pool(p) for p in pools]))
    return {"statuses": {"loadbalancer": short(tree.lb, listeners=listeners)}}


def stats(o: Any) -> dict[str, Any]:
    have = o.attrs.get("stats") or {}
    return {"stats": {k: int(have.get(k, 0)) for k in STATS}}
