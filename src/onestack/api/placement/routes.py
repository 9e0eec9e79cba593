"""Placement route table: method, path, handler, policy rule; microversions 1.0 to 1.36."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.microversions import Microversions, fmt, hooks
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.placement import (
    allocations,
    candidates,
    classes,
    inventories,
    providers,
    views,
)
from onestack.api.placement.policies import RULES
from onestack.core.identity.bootstrap import ServiceEntry

MICROVERSIONS = Microversions("placement", (1, 0), (1, 36))
R = Route
P = "placement:"
RP = "/resource_providers/{uuid}"


async def root(req: ApiRequest) -> Response:
    mv = MICROVERSIONS
    return views.respond({"versions": [{
        "id": "v1.0", "max_version": fmt(mv.maximum), "min_version": fmt(mv.minimum),
        "status": "CURRENT", "links": [{"rel": "self", "href": ""}]}]})


def _since(version: tuple[int, int], handler: object) -> object:
    """Routes added by a later microversion answer 404 to earlier ones, as upstream."""
    from onestack.api.common.microversions import req_version
    from onestack.errors import NotFound

    async def versioned(req: ApiRequest) -> Response:
        if req_version(req) < version:
            raise NotFound(f"The resource could not be found: {req.path} needs microversion "
                           f"{fmt(version)} or later.")
        assert callable(handler)
        response: Response = await handler(req)
        return response

    return versioned


def _r(method: str, path: str, handler: object, rule: str,
       since: tuple[int, int] | None = None) -> Route:
    fn = _since(since, handler) if since else handler
    return R(method, path, fn, P + rule)  # type: ignore[arg-type]


ROUTES: list[Route] = [
    R("GET", "/", root, auth=False),
    _r("GET", "/resource_providers", providers.listing, "resource_providers:list"),
    _r("POST", "/resource_providers", providers.create, "resource_providers:create"),
    _r("GET", RP, providers.show, "resource_providers:show"),
    _r("PUT", RP, providers.update, "resource_providers:update"),
    _r("DELETE", RP, providers.delete, "resource_providers:delete"),
    _r("GET", RP + "/inventories", inventories.get_all, "resource_providers:inventories:list"),
    _r("PUT", RP + "/inventories", inventories.put_all, "resource_providers:inventories:update"),
    _r("POST", RP + "/inventories", inventories.create, "resource_providers:inventories:create"),
    _r("DELETE", RP + "/inventories", inventories.delete_all,
       "resource_providers:inventories:delete", (1, 5)),
    _r("GET", RP + "/inventories/{resource_class}", inventories.show,
       "resource_providers:inventories:show"),
    _r("PUT", RP + "/inventories/{resource_class}", inventories.put_one,
       "resource_providers:inventories:update"),
    _r("DELETE", RP + "/inventories/{resource_class}", inventories.delete_one,
       "resource_providers:inventories:delete"),
    _r("GET", RP + "/usages", inventories.provider_usages, "resource_providers:usages"),
    _r("GET", "/usages", inventories.project_usages, "usages", (1, 9)),
    _r("GET", RP + "/aggregates", providers.get_aggregates, "resource_providers:aggregates:list",
       (1, 1)),
    _r("PUT", RP + "/aggregates", providers.put_aggregates,
       "resource_providers:aggregates:update", (1, 1)),
    _r("GET", RP + "/traits", providers.get_traits, "resource_providers:traits:list", (1, 6)),
    _r("PUT", RP + "/traits", providers.put_traits, "resource_providers:traits:update", (1, 6)),
    _r("DELETE", RP + "/traits", providers.delete_traits, "resource_providers:traits:delete",
       (1, 6)),
    _r("GET", RP + "/allocations", allocations.of_provider,
       "resource_providers:allocations:list"),
    _r("GET", "/allocations/{consumer_uuid}", allocations.get, "allocations:list"),
    _r("PUT", "/allocations/{consumer_uuid}", allocations.put, "allocations:update"),
    _r("DELETE", "/allocations/{consumer_uuid}", allocations.delete, "allocations:delete"),
    _r("POST", "/allocations", allocations.post, "allocations:manage", (1, 13)),
    _r("GET", "/allocation_candidates", candidates.listing, "allocation_candidates:list",
       (1, 10)),
    _r("GET", "/resource_classes", classes.list_classes, "resource_classes:list", (1, 2)),
    _r("POST", "/resource_classes", classes.create_class, "resource_classes:create", (1, 2)),
    _r("GET", "/resource_classes/{name}", classes.show_class, "resource_classes:show", (1, 2)),
    _r("PUT", "/resource_classes/{name}", classes.put_class, "resource_classes:update", (1, 2)),
    _r("DELETE", "/resource_classes/{name}", classes.delete_class, "resource_classes:delete",
       (1, 2)),
    _r("GET", "/traits", classes.list_traits, "traits:list", (1, 6)),
    _r("GET", "/traits/{name}", classes.show_trait, "traits:show", (1, 6)),
    _r("PUT", "/traits/{name}", classes.put_trait, "traits:update", (1, 6)),
    _r("DELETE", "/traits/{name}", classes.delete_trait, "traits:delete", (1, 6)),
]

_prepare, _headers = hooks(MICROVERSIONS)
SERVICE = ServiceApi(name="placement", prefix="/placement", routes=ROUTES,
                     render_fault=views.placement_fault, prepare=_prepare,
                     response_headers=_headers)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("placement", "placement", f"{base_url}/placement")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
