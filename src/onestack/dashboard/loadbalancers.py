"""Load balancers (Octavia API): the project's load balancers with their VIP, floating
IP, listeners and status; delete (cascade)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.pages import NEUTRON, page
from onestack.dashboard.web import Web, redirect

LBAAS = "/load-balancer/v2/lbaas"


async def loadbalancers(web: Web, request: Request) -> Response:
    p = await page(web, request)
    found = (await p.get(f"{LBAAS}/loadbalancers"))["loadbalancers"]
    listeners = {x["id"]: x for x in (await p.get(f"{LBAAS}/listeners"))["listeners"]}
    fips = {f["port_id"]: f["floating_ip_address"]
            for f in (await p.get(f"{NEUTRON}/floatingips"))["floatingips"] if f["port_id"]}
    return await p.render("loadbalancers.html", loadbalancers=found, listeners=listeners,
                          fips=fips)


async def loadbalancer_delete(web: Web, request: Request) -> Response:
    p = await page(web, request)
    await web.form(request, p.session)
    await web.client.delete(f"{LBAAS}/loadbalancers/{request.path_params['lb_id']}"
                            "?cascade=true", p.token)
    return redirect(f"{p.base}/load-balancers")


P = "/project/{project_id}/load-balancers"
ROUTES = [
    (P, loadbalancers, ("GET",)),
    (P + "/{lb_id}/delete", loadbalancer_delete, ("POST",)),
]
