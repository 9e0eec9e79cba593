"""Security groups: list, create, delete, and a rule editor with presets (SSH, HTTP,
ICMP from anywhere) beside the full form."""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import NEUTRON, page
from onestack.dashboard.web import Web, redirect

PRESETS: dict[str, dict[str, Any]] = {
    "ssh": {"protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
    "http": {"protocol": "tcp", "port_range_min": 80, "port_range_max": 80},
    "https": {"protocol": "tcp", "port_range_min": 443, "port_range_max": 443},
    "icmp": {"protocol": "icmp"},
}


async def groups(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = (await p.get(f"{NEUTRON}/security-groups?project_id={p.project_id}"))[
        "security_groups"]
    return await p.render("security_groups.html", groups=found)


async def group(web: Web, request: Request) -> Response:
    p = await page(web, request)
    sg = (await p.get(f"{NEUTRON}/security-groups/{request.path_params['group_id']}"))[
        "security_group"]
    names = {g["id"]: g["name"] for g in (await p.get(f"{NEUTRON}/security-groups"))[
        "security_groups"]}
    rules = sorted(sg["security_group_rules"], key=lambda r: (
        r["direction"], r["ethertype"], r.get("protocol") or "", r.get("port_range_min") or 0))
    return await p.render("security_group.html", group=sg, rules=rules, names=names,
                          presets=list(PRESETS))


async def group_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    made = (await p.post(f"{NEUTRON}/security-groups", {"security_group": {
        "name": str(form.get("name", "")),
        "description": str(form.get("description", ""))}}))["security_group"]
    return redirect(f"{p.base}/security-groups/{made['id']}")


async def group_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"{NEUTRON}/security-groups/{request.path_params['group_id']}",
                            p.token)
    return redirect(f"{p.base}/security-groups")


def _port(form: FormData, key: str) -> int | None:
    value = str(form.get(key, "")).strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise ApiError(400, f"{key.replace('_', ' ')} must be a port number.") from exc


def rule_body(form: FormData, group_id: str) -> dict[str, Any]:
    preset = str(form.get("preset", ""))
    if preset:
        if preset not in PRESETS:
            raise ApiError(400, f"There is no rule preset {preset}.")
        rule: dict[str, Any] = {"direction": "ingress", "ethertype": "IPv4",
                                "remote_ip_prefix": "0.0.0.0/0", **PRESETS[preset]}
    else:
        rule = {"direction": str(form.get("direction", "ingress")),
                "ethertype": str(form.get("ethertype", "IPv4"))}
        if form.get("protocol"):
            rule["protocol"] = str(form["protocol"])
        for key in ("port_range_min", "port_range_max"):
            if (port := _port(form, key)) is not None:
                rule[key] = port
        if form.get("remote_ip_prefix"):
            rule["remote_ip_prefix"] = str(form["remote_ip_prefix"])
    rule["security_group_id"] = group_id
    return rule


async def rule_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    group_id = request.path_params["group_id"]
    await p.post(f"{NEUTRON}/security-group-rules",
                 {"security_group_rule": rule_body(form, group_id)})
    return redirect(f"{p.base}/security-groups/{group_id}")


async def rule_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(
        f"{NEUTRON}/security-group-rules/{request.path_params['rule_id']}", p.token)
    return redirect(f"{p.base}/security-groups/{request.path_params['group_id']}")


P = "/project/{project_id}/security-groups"
ROUTES = [
    (P, groups, ("GET",)),
    (P, group_create, ("POST",)),
    (P + "/{group_id}", group, ("GET",)),
    (P + "/{group_id}/delete", group_delete, ("POST",)),
    (P + "/{group_id}/rules", rule_create, ("POST",)),
    (P + "/{group_id}/rules/{rule_id}/delete", rule_delete, ("POST",)),
]
