"""One set of thin handlers for every Neutron collection: list, show, create (single and
bulk), update, delete and tags. Each collection is a `Kind` (see kinds.py): its names, its
core store, its view and the attributes it takes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.network import common
from onestack.api.network.common import Check
from onestack.core.network.errors import PolicyNotAuthorized, TagNotFound

Render = Callable[[ApiRequest, list[Any]], Awaitable[list[dict[str, Any]]]]
CreateHook = Callable[[ApiRequest, list[dict[str, Any]]], Awaitable[dict[str, Any]]]


@dataclass
class Kind:
    singular: str  # network: the body key and the policy rule suffix
    plural: str  # networks: the list key
    path: str  # /v2.0/networks
    store: Callable[[Any], Any]  # Runtime -> the core object (search/get/create/...)
    render: Render
    post: dict[str, Check]
    put: dict[str, Check]
    required: tuple[str, ...] = ()
    model: Any = None  # the table, for tags
    id_param: str = "id"
    target_extra: Callable[[Any], dict[str, Any]] = field(default=lambda _obj: {})
    before_create: CreateHook | None = None
    network_scoped: bool = False  # subnets, ports: the policy target names the network owner
    list_rule: str | None = None  # the list's policy rule (default: get_<singular>)

    def core(self, req: ApiRequest) -> Any:
        return self.store(req.runtime)

    # --- policy targets ------------------------------------------------------------------
    async def obj_target(self, req: ApiRequest) -> dict[str, Any]:
        """Loads the object (404 when the caller may not see it) for the policy check."""
        obj = await self.core(req).get(req.ctx, req.params[self.id_param])
        req.state["obj"] = obj
        return {"project_id": obj.project_id, "tenant_id": obj.project_id,
                **self.target_extra(obj)}

    async def create_target(self, req: ApiRequest) -> dict[str, Any]:
        items, _bulk = await common.body_items(req, self.singular, self.plural, self.post,
                                               self.required)
        req.state["items"] = items
        own = req.ctx.project_id or ""
        projects = [i["project_id"] for i in items if i.get("project_id", own) != own]
        project = projects[0] if projects else own
        target = {"project_id": project, "tenant_id": project}
        if self.network_scoped:
            nets = [await req.runtime.network.networks.get(req.ctx, str(i["network_id"]))
                    for i in items]
            req.state["nets"] = nets
            others = [n.project_id for n in nets if n.project_id != project]
            target["network:project_id"] = others[0] if others else project
        return target

    async def network_target(self, req: ApiRequest, obj: Any, data: dict[str, Any]
                             ) -> dict[str, Any]:
        """What attribute rules of a network's subnet or port ask about: the network's
        owner and sharing, and whether the port's (new) device_owner is a network device."""
        if not self.network_scoped:
            return {}
        net = await req.runtime.network.networks.facts(str(obj.network_id))
        return _network_facts(net, data.get("device_owner", getattr(obj, "device_owner", "")))

    # --- handlers --------------------------------------------------------------------------
    async def index(self, req: ApiRequest) -> Response:
        q, fields = common.list_query(req)
        page = await self.core(req).search(req.ctx, q)
        items = await self.render(req, page.items)
        return common.listing(req, self.plural, items, page, q, fields)

    async def show(self, req: ApiRequest) -> Response:
        _q, fields = common.list_query(req)
        item = (await self.render(req, [req.state["obj"]]))[0]
        return common.respond({self.singular: common.select_fields(item, fields)})

    async def create(self, req: ApiRequest) -> Response:
        items = req.state["items"]
        body = await req.json()
        bulk = self.plural in body
        nets = req.state.get("nets", [])
        for index, item in enumerate(items):
            target = {"project_id": item.get("project_id") or req.ctx.project_id}
            if nets:
                target.update(_network_facts(nets[index], item.get("device_owner")))
            self.check_attributes(req, "create", item, target)
        extra = await self.before_create(req, items) if self.before_create else {}
        created = await self.core(req).create(req.ctx, items, **extra)
        rendered = await self.render(req, created)
        if bulk:
            return common.respond({self.plural: rendered}, status=201)
        return common.respond({self.singular: rendered[0]}, status=201)

    async def update(self, req: ApiRequest) -> Response:
        data = await common.body_update(req, self.singular, self.put)
        obj = req.state["obj"]
        target = {"project_id": obj.project_id, **self.target_extra(obj),
                  **await self.network_target(req, obj, data)}
        self.check_attributes(req, "update", data, target)
        updated = await self.core(req).update(req.ctx, req.params[self.id_param], data,
                                              common.if_match(req))
        return common.respond({self.singular: (await self.render(req, [updated]))[0]})

    async def delete(self, req: ApiRequest) -> Response:
        await self.core(req).delete(req.ctx, req.params[self.id_param], common.if_match(req))
        return common.no_content()

    def check_attributes(self, req: ApiRequest, action: str, data: dict[str, Any],
                         target: dict[str, Any]) -> None:
        """Attribute rules, as Neutron checks them: ``create_network:shared``,
        ``update_port:binding:host_id``, and for attributes made of dicts (fixed_ips,
        allowed_address_pairs, external_gateway_info) each key given in them too
        (``create_port:fixed_ips:ip_address``)."""
        policy = req.runtime.policy
        for key, value in data.items():
            subs: set[str] = set()
            if isinstance(value, list):
                subs = {k for item in value if isinstance(item, dict)
                        for k, v in item.items() if v is not None}
            elif isinstance(value, dict):
                subs = set(value)
            base = f"{action}_{self.singular}:{key}"
            for rule in (base, *(f"{base}:{sub}" for sub in sorted(subs))):
                if rule in policy.rules and not policy.authorize(rule, req.ctx, target):
                    raise PolicyNotAuthorized(f"rule:{rule}")

    # --- tags ------------------------------------------------------------------------------
    async def get_tags(self, req: ApiRequest) -> Response:
        return common.respond({"tags": [t.tag for t in req.state["obj"].tag_rows]})

    async def check_tag(self, req: ApiRequest) -> Response:
        if req.params["tag"] not in [t.tag for t in req.state["obj"].tag_rows]:
            raise TagNotFound(req.params["tag"])
        return common.no_content()

    async def put_tags(self, req: ApiRequest) -> Response:
        body = await req.json()
        if not isinstance(body, dict) or "tags" not in body:
            raise common.bad("tags", "a body {\"tags\": [...]} is required")
        tags = common.a_tags(body["tags"], "tags")
        out = await req.runtime.network.tags.replace(self.model, req.params[self.id_param],
                                                     tags)
        return common.respond({"tags": out})

    async def put_tag(self, req: ApiRequest) -> Response:
        tag = common.a_tags([req.params["tag"]], "tag")[0]
        await req.runtime.network.tags.add(self.model, req.params[self.id_param], tag)
        return Response(status_code=201)

    async def delete_tags(self, req: ApiRequest) -> Response:
        await req.runtime.network.tags.replace(self.model, req.params[self.id_param], [])
        return common.no_content()

    async def delete_tag(self, req: ApiRequest) -> Response:
        await req.runtime.network.tags.remove(self.model, req.params[self.id_param],
                                              req.params["tag"])
        return common.no_content()


def _network_facts(net: Any, device_owner: Any) -> dict[str, Any]:
    return {"network:project_id": net.project_id, "network:tenant_id": net.project_id,
            "network:shared": bool(net.shared),
            "network_device": str(device_owner or "").startswith("network:")}
