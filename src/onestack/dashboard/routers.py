"""Routers (external gateway, interfaces) and floating IPs (allocate, associate with an
instance's port, disassociate, release), all through the Networking API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import MICRO, NEUTRON, NOVA, Page, page
from onestack.dashboard.web import Web, redirect


async def external_networks(p: Page) -> list[dict[str, Any]]:
    return list((await p.get(f"{NEUTRON}/networks?router:external=True"))["networks"])


async def routers(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = (await p.get(f"{NEUTRON}/routers"))["routers"]
    ports = (await p.get(f"{NEUTRON}/ports?device_owner=network:router_interface"))["ports"]
    subnets = {s["id"]: s for s in (await p.get(f"{NEUTRON}/subnets"))["subnets"]}
    nets = {n["id"]: n for n in (await p.get(f"{NEUTRON}/networks"))["networks"]}
    interfaces: dict[str, list[dict[str, Any]]] = {}
    for port in ports:
        for ip in port.get("fixed_ips", []):
            interfaces.setdefault(port["device_id"], []).append(
                {"subnet": subnets.get(ip["subnet_id"], {"id": ip["subnet_id"]}),
                 "ip": ip["ip_address"]})
    return await p.render("routers.html", routers=found, interfaces=interfaces,
                          subnets=subnets, networks=nets,
                          external=[n for n in nets.values() if n.get("router:external")])


async def router_create(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    body: dict[str, Any] = {"name": str(form.get("name", ""))}
    if form.get("external_network"):
        body["external_gateway_info"] = {"network_id": str(form["external_network"])}
    await p.post(f"{NEUTRON}/routers", {"router": body})
    return redirect(f"{p.base}/routers")


async def router_action(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    router_id, action = request.path_params["router_id"], request.path_params["action"]
    subnet = str(form.get("subnet_id", ""))
    if action == "delete":
        await web.client.delete(f"{NEUTRON}/routers/{router_id}", p.token)
    elif action in ("add_interface", "remove_interface"):
        verb = action.replace("_", "_router_")  # add_router_interface, remove_...
        await web.client.call("PUT", f"{NEUTRON}/routers/{router_id}/{verb}", p.token,
                              json={"subnet_id": subnet})
    else:
        raise ApiError(404, f"There is no router action {action}.")
    return redirect(f"{p.base}/routers")


async def floating_ips(web: Web, request: Request) -> Response:
    p = await page(web, request)
    fips = (await p.get(f"{NEUTRON}/floatingips"))["floatingips"]
    servers = (await p.get(f"{NOVA}/servers", headers=MICRO))["servers"]
    ports = {q["id"]: q for q in (await p.get(f"{NEUTRON}/ports?device_owner=compute:nova")
                                  )["ports"]}
    names = {s["id"]: s["name"] for s in servers}
    for fip in fips:
        port = ports.get(fip.get("port_id") or "")
        fip["instance"] = names.get(port["device_id"], port["device_id"]) if port else ""
    return await p.render("floating_ips.html", fips=fips, servers=servers,
                          external=await external_networks(p))


async def fip_allocate(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    await p.post(f"{NEUTRON}/floatingips", {"floatingip": {
        "floating_network_id": str(form.get("network_id", ""))}})
    return redirect(f"{p.base}/floating-ips")


async def fip_action(web: Web, request: Request) -> Response:
    p = await page(web, request)
    form = await web.form(request, p.session)
    fip_id, action = request.path_params["fip_id"], request.path_params["action"]
    path = f"{NEUTRON}/floatingips/{fip_id}"
    if action == "release":
        await web.client.delete(path, p.token)
    elif action == "disassociate":
        await web.client.call("PUT", path, p.token, json={"floatingip": {"port_id": None}})
    elif action == "associate":
        server_id = str(form.get("server_id", ""))
        ports = (await p.get(f"{NEUTRON}/ports?device_id={server_id}"))["ports"] \
            if server_id else []
        if not ports:
            raise ApiError(400, "The instance has no port to give the floating IP to.")
        await web.client.call("PUT", path, p.token,
                              json={"floatingip": {"port_id": ports[0]["id"]}})
    else:
        raise ApiError(404, f"There is no floating IP action {action}.")
    return redirect(f"{p.base}/floating-ips")


P = "/project/{project_id}"
ROUTES = [
    (P + "/routers", routers, ("GET",)),
    (P + "/routers", router_create, ("POST",)),
    (P + "/routers/{router_id}/{action}", router_action, ("POST",)),
    (P + "/floating-ips", floating_ips, ("GET",)),
    (P + "/floating-ips", fip_allocate, ("POST",)),
    (P + "/floating-ips/{fip_id}/{action}", fip_action, ("POST",)),
]
