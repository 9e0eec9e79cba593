"""The network topology picture, drawn on the server as SVG: external networks, routers,
the project's networks and its instances in four rows, lines for gateways, router
interfaces and instance ports. Shown as an <img>, so nothing in it can run."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from onestack.dashboard.pages import MICRO, NEUTRON, NOVA, page
from onestack.dashboard.web import Web

BOX_W, BOX_H, GAP, ROW_H, MARGIN = 130, 34, 20, 90, 20
MAX_SERVERS = 60
COLORS = {"ext": ("#ffe7c2", "#a0620a"), "router": ("#e5f5e9", "#15703a"),
          "net": ("#d7e8ff", "#1d4f91"), "server": ("#f1f1f1", "#555")}


@dataclass
class Node:
    id: str
    label: str
    kind: str
    x: int = 0
    y: int = 0


@dataclass
class Picture:
    rows: list[list[Node]] = field(default_factory=list)
    edges: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""


def layout(networks: list[dict[str, Any]], routers: list[dict[str, Any]],
           ports: list[dict[str, Any]], servers: list[dict[str, Any]]) -> Picture:
    external = [n for n in networks if n.get("router:external")]
    internal = [n for n in networks if not n.get("router:external")]
    pic = Picture()
    shown = servers[:MAX_SERVERS]
    if len(servers) > len(shown):
        pic.note = f"{len(servers) - len(shown)} more instances not drawn"
    pic.rows = [
        [Node(n["id"], n.get("name") or n["id"][:8], "ext") for n in external],
        [Node(r["id"], r.get("name") or r["id"][:8], "router") for r in routers],
        [Node(n["id"], n.get("name") or n["id"][:8], "net") for n in internal],
        [Node(s["id"], s.get("name") or s["id"][:8], "server") for s in shown],
    ]
    drawn = {node.id for row in pic.rows for node in row}
    for r in routers:
        gateway = (r.get("external_gateway_info") or {}).get("network_id")
        if gateway:
            pic.edges.append((r["id"], gateway))
    for port in ports:
        owner = str(port.get("device_owner") or "")
        if owner == "network:router_interface" or owner.startswith("compute:"):
            pic.edges.append((port["device_id"], port["network_id"]))
    pic.edges = sorted({e for e in pic.edges if e[0] in drawn and e[1] in drawn})
    return pic


def svg(pic: Picture) -> str:
    width = max([len(row) for row in pic.rows] + [1]) * (BOX_W + GAP) + 2 * MARGIN
    height = len(pic.rows) * ROW_H + 2 * MARGIN + (20 if pic.note else 0)
    where: dict[str, Node] = {}
    for i, row in enumerate(pic.rows):
        offset = (width - len(row) * (BOX_W + GAP) + GAP) // 2
        for j, node in enumerate(row):
            node.x, node.y = offset + j * (BOX_W + GAP), MARGIN + i * ROW_H
            where[node.id] = node
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" '
           'font-size="12">']
    for a, b in pic.edges:
        na, nb = where[a], where[b]
        top, bottom = (na, nb) if na.y < nb.y else (nb, na)
        out.append(f'<line x1="{top.x + BOX_W // 2}" y1="{top.y + BOX_H}" '
                   f'x2="{bottom.x + BOX_W // 2}" y2="{bottom.y}" stroke="#888" '
                   'stroke-width="1.5"/>')
    for node in where.values():
        label = escape(node.label if len(node.label) <= 18 else node.label[:17] + "…")
        fill, stroke = COLORS[node.kind]
        out.append(f'<g data-id="{escape(node.id)}"><rect class="{node.kind}" '
                   f'x="{node.x}" y="{node.y}" width="{BOX_W}" height="{BOX_H}" rx="5" '
                   f'fill="{fill}" stroke="{stroke}"/>'
                   f'<text x="{node.x + BOX_W // 2}" y="{node.y + 21}" '
                   f'text-anchor="middle">{label}</text></g>')
    if pic.note:
        out.append(f'<text x="{MARGIN}" y="{height - 8}">{escape(pic.note)}</text>')
    out.append("</svg>")
    return "".join(out)


async def topology(web: Web, request: Request) -> Response:
    p = await page(web, request)
    networks = (await p.get(f"{NEUTRON}/networks"))["networks"]
    routers = (await p.get(f"{NEUTRON}/routers"))["routers"]
    ports = (await p.get(f"{NEUTRON}/ports"))["ports"]
    servers = (await p.get(f"{NOVA}/servers?limit={MAX_SERVERS + 1}", headers=MICRO))[
        "servers"]
    return Response(svg(layout(networks, routers, ports, servers)),
                    media_type="image/svg+xml")


ROUTES = [("/project/{project_id}/networks/topology.svg", topology, ("GET",))]
