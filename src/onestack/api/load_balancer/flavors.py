"""Flavors, flavor profiles, availability zones and availability zone profiles
(``/v2/lbaas/flavors``, ``flavorprofiles``, ``availabilityzones``,
``availabilityzoneprofiles``) and the provider capability lists: thin handlers over
``core.load_balancer.flavors``. Octavia's shapes: profiles by id with their data as JSON
text, flavors by id, availability zones by name; lists in id (name) order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route
from onestack.api.load_balancer.handlers import body, listing, own_target
from onestack.api.load_balancer.policies import API
from onestack.api.load_balancer.schemas import Check, opt, s_bool, s_str, s_uuid
from onestack.core.load_balancer import errors
from onestack.core.load_balancer import flavors as core_flavors
from onestack.core.load_balancer.flavors import (
    AVAILABILITY_ZONE,
    AZ_CAPABILITIES,
    AZ_PROFILE,
    FLAVOR,
    FLAVOR_CAPABILITIES,
    FLAVOR_PROFILE,
    ProfileKind,
    UserKind,
)
from onestack.core.load_balancer.rules import PROVIDERS


def catalog(req: ApiRequest) -> core_flavors.FlavorCatalog:
    catalog: core_flavors.FlavorCatalog = req.runtime.load_balancer.catalog
    return catalog


def _text(limit: int) -> Check:
    return lambda value, name: s_str(value, name, limit)


def fields(kind: str, item: Any, spec: dict[str, Check], required: tuple[str, ...] = ()
           ) -> dict[str, Any]:
    """One body, each field checked (400 naming it); unknown and missing ones refused."""
    if not isinstance(item, dict):
        raise errors.invalid(kind, item, "Value should be a JSON object")
    unknown = sorted(k for k in item if k not in spec)
    if unknown:
        raise errors.invalid(unknown[0], item[unknown[0]], f"Unknown attribute for argument "
                                                           f"{kind}: {', '.join(unknown)}")
    for key in required:
        if item.get(key) is None:
            raise errors.invalid(key, None, "Mandatory field missing.")
    return {key: spec[key](value, key) for key, value in item.items()}


@dataclass(frozen=True)
class Resource:
    """How one of the four resources is served: body keys, path, policy name."""

    key: str  # flavorprofile: the body key
    plural: str  # flavorprofiles
    links: str  # flavorprofile_links
    path: str  # flavorprofiles
    policy: str  # flavor-profile
    param: str  # flavorprofile_id
    post: dict[str, Check]
    put: dict[str, Check]
    required: tuple[str, ...]
    profile: ProfileKind | None = None
    user: UserKind | None = None

    def view(self, row: Any) -> dict[str, Any]:
        if self.profile is not None:
            return {"id": row.id, "name": row.name, "provider_name": row.provider_name,
                    self.profile.data_field: getattr(row, self.profile.data_field)}
        assert self.user is not None
        out = {"id": row.id} if self.user.key == "id" else {}
        return {**out, "name": row.name, "description": row.description,
                "enabled": row.enabled,
                self.user.profile_field: getattr(row, self.user.profile_field)}

    def one(self, row: Any, status: int = 200) -> Response:
        return json_response({self.key: self.view(row)}, status)

    async def index(self, req: ApiRequest) -> Response:
        rows = (await catalog(req).profiles(self.profile) if self.profile is not None
                else await catalog(req).listing(self._user))
        return listing(req, self.plural, [self.view(r) for r in rows], self.links)

    async def show(self, req: ApiRequest) -> Response:
        ident = req.params[self.param]
        if self.profile is not None:
            return self.one(await catalog(req).profile(self.profile, ident))
        return self.one(await catalog(req).get(self._user, ident))

    async def create(self, req: ApiRequest) -> Response:
        values = fields(self.key, await body(req, self.key), self.post, self.required)
        if self.profile is not None:
            return self.one(await catalog(req).create_profile(self.profile, values), 201)
        values.setdefault("enabled", True)
        return self.one(await catalog(req).create(self._user, values), 201)

    async def update(self, req: ApiRequest) -> Response:
        values = fields(self.key, await body(req, self.key), self.put)
        ident = req.params[self.param]
        if self.profile is not None:
            return self.one(await catalog(req).update_profile(self.profile, ident, values))
        for key in ("name", "enabled"):
            if key in values and values[key] is None:
                raise core_flavors.invalid_option(None, key)
        return self.one(await catalog(req).update(self._user, ident, values))

    async def delete(self, req: ApiRequest) -> Response:
        ident = req.params[self.param]
        if self.profile is not None:
            await catalog(req).delete_profile(self.profile, ident)
        else:
            await catalog(req).delete(self._user, ident)
        return Response(status_code=204)

    @property
    def _user(self) -> UserKind:
        assert self.user is not None
        return self.user

    def routes(self, base: str) -> list[Route]:
        path, one, rule = f"{base}/{self.path}", f"{base}/{self.path}/{{{self.param}}}", \
            f"{API}:{self.policy}"
        return [Route("GET", path, self.index, f"{rule}:get_all", target=own_target),
                Route("POST", path, self.create, f"{rule}:post", target=own_target),
                Route("GET", one, self.show, f"{rule}:get_one", target=own_target),
                Route("PUT", one, self.update, f"{rule}:put", target=own_target),
                Route("DELETE", one, self.delete, f"{rule}:delete", target=own_target)]


NAME, DESCRIPTION, DATA = _text(255), opt(_text(255)), _text(4096)


def _profile(key: str, plural: str, links: str, path: str, policy: str, param: str,
             kind: ProfileKind) -> Resource:
    spec = {"name": NAME, "provider_name": NAME, kind.data_field: DATA}
    return Resource(key, plural, links, path, policy, param, spec,
                    {k: opt(v) for k, v in spec.items()}, tuple(spec), profile=kind)


FLAVOR_PROFILES = _profile("flavorprofile", "flavorprofiles", "flavorprofile_links",
                           "flavorprofiles", "flavor-profile", "flavorprofile_id",
                           FLAVOR_PROFILE)
AZ_PROFILES = _profile("availability_zone_profile", "availability_zone_profiles",
                       "availability_zone_profile_links", "availabilityzoneprofiles",
                       "availability-zone-profile", "availability_zone_profile_id",
                       AZ_PROFILE)
FLAVORS = Resource(
    "flavor", "flavors", "flavors_links", "flavors", "flavor", "flavor_id",
    {"name": NAME, "description": DESCRIPTION, "enabled": s_bool,
     "flavor_profile_id": s_uuid},
    {"name": opt(NAME), "description": DESCRIPTION, "enabled": opt(s_bool)},
    ("name", "flavor_profile_id"), user=FLAVOR)
AVAILABILITY_ZONES = Resource(
    "availability_zone", "availability_zones", "availability_zones_links",
    "availabilityzones", "availability-zone", "availability_zone_name",
    {"name": NAME, "description": DESCRIPTION, "enabled": s_bool,
     "availability_zone_profile_id": s_uuid},
    {"description": DESCRIPTION, "enabled": opt(s_bool)},
    ("name", "availability_zone_profile_id"), user=AVAILABILITY_ZONE)
RESOURCES = (FLAVOR_PROFILES, FLAVORS, AZ_PROFILES, AVAILABILITY_ZONES)


# --- providers' capabilities ----------------------------------------------------------------
async def capabilities(req: ApiRequest) -> Response:
    """``GET /providers/{provider}/flavor_capabilities`` (or availability zone ones), with
    Octavia's ``name``/``description`` filters and ``fields``."""
    provider = req.params["provider"]
    if provider not in [p["name"] for p in PROVIDERS]:
        raise errors.validation(f"Provider '{provider}' is not enabled.")
    flavor = req.path.endswith("flavor_capabilities")
    offered = FLAVOR_CAPABILITIES if flavor else AZ_CAPABILITIES
    items = [{"name": k, "description": v} for k, v in offered.items()
             if req.query.get("name") in (None, k)
             and req.query.get("description") in (None, v)]
    wanted = [f for v in req.query.getlist("fields") for f in v.split(",") if f]
    if wanted:
        items = [{k: v for k, v in i.items() if k in wanted} for i in items]
    key = "flavor_capabilities" if flavor else "availability_zone_capabilities"
    return json_response({key: items})


def routes(base: str) -> list[Route]:
    """Every route of the four resources and the two capability lists under ``base``
    (``/v2/lbaas``)."""
    caps = f"{base}/providers/{{provider}}"
    return [*[route for res in RESOURCES for route in res.routes(base)],
            Route("GET", f"{caps}/flavor_capabilities", capabilities,
                  f"{API}:provider-flavor:get_all", target=own_target),
            Route("GET", f"{caps}/availability_zone_capabilities", capabilities,
                  f"{API}:provider-availability-zone:get_all", target=own_target)]
