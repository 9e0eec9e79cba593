"""Keystone v3 response shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.core.identity.auth import TokenData
from onestack.core.identity.roles import Grant
from onestack.db.models import (
    ApplicationCredential,
    Credential,
    Domain,
    Endpoint,
    Group,
    Project,
    Region,
    Role,
    Service,
    User,
)
from onestack.db.models.identity import EndpointGroup, Limit, RegisteredLimit, Trust


def isotime(value: dt.datetime | None, subsecond: bool = True) -> str | None:
    if value is None:
        return None
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ" if subsecond else "%Y-%m-%dT%H:%M:%SZ"
    return value.strftime(fmt)


def naive_isotime(value: dt.datetime | None) -> str | None:
    """Application credentials render expires_at as Keystone does: no zone suffix."""
    return value.isoformat() if value is not None else None


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(body, status, headers)


def no_content() -> Response:
    return Response(status_code=204)


def listing(req: ApiRequest, key: str, items: list[dict[str, Any]]) -> Response:
    self_url = str(req.http.url).split("?")[0]
    if req.http.url.query:
        self_url += "?" + req.http.url.query
    limit = req.runtime.settings.identity.list_limit
    body: dict[str, Any] = {key: items[:limit] if limit else items,
                            "links": {"self": self_url, "previous": None, "next": None}}
    if limit and len(items) > limit:
        body["truncated"] = True
    return respond(body)


def _links(req: ApiRequest, path: str) -> dict[str, str]:
    return {"self": req.url(path)}


def domain(req: ApiRequest, d: Domain) -> dict[str, Any]:
    return {**d.extra, "id": d.id, "name": d.name, "description": d.description,
            "enabled": d.enabled, "tags": list(d.tags), "options": {},
            "links": _links(req, f"/v3/domains/{d.id}")}


def project(req: ApiRequest, p: Project, tags: list[str],
            parents: list[Project] | None = None) -> dict[str, Any]:
    out = {**p.extra, "id": p.id, "name": p.name, "domain_id": p.domain_id,
           "description": p.description, "enabled": p.enabled,
           "parent_id": p.parent_id or p.domain_id, "is_domain": False, "tags": tags,
           "options": {}, "links": _links(req, f"/v3/projects/{p.id}")}
    if parents is not None:
        out["parents"] = [{"project": {"id": x.id, "name": x.name, "domain_id": x.domain_id,
                                       "parent_id": x.parent_id or x.domain_id}}
                          for x in parents]
    return out


def domain_project(req: ApiRequest, d: Domain) -> dict[str, Any]:
    """A domain seen as the project that acts as it (is_domain=true)."""
    return {**d.extra, "id": d.id, "name": d.name, "description": d.description,
            "enabled": d.enabled, "domain_id": None, "parent_id": None, "is_domain": True,
            "tags": list(d.tags), "options": {}, "links": _links(req, f"/v3/projects/{d.id}")}


def user(req: ApiRequest, u: User, password_expires_at: dt.datetime | None) -> dict[str, Any]:
    out: dict[str, Any] = {**u.extra, "id": u.id, "name": u.name, "domain_id": u.domain_id,
                           "enabled": u.enabled,
                           "password_expires_at": isotime(password_expires_at),
                           "options": dict(u.options),
                           "links": _links(req, f"/v3/users/{u.id}")}
    if u.default_project_id:
        out["default_project_id"] = u.default_project_id
    if u.description is not None:
        out["description"] = u.description
    return out


def group(req: ApiRequest, g: Group) -> dict[str, Any]:
    return {**g.extra, "id": g.id, "name": g.name, "domain_id": g.domain_id,
            "description": g.description, "links": _links(req, f"/v3/groups/{g.id}")}


def role(req: ApiRequest, r: Role) -> dict[str, Any]:
    out: dict[str, Any] = {**r.extra, "id": r.id, "name": r.name,
                           "domain_id": r.domain_id or None, "description": r.description,
                           "options": dict(r.options), "links": _links(req, f"/v3/roles/{r.id}")}
    return out


def role_ref(req: ApiRequest, r: Role) -> dict[str, Any]:
    return {"id": r.id, "name": r.name, "links": _links(req, f"/v3/roles/{r.id}")}


def region(req: ApiRequest, r: Region) -> dict[str, Any]:
    return {**r.extra, "id": r.id, "description": r.description,
            "parent_region_id": r.parent_region_id, "links": _links(req, f"/v3/regions/{r.id}")}


def service(req: ApiRequest, s: Service) -> dict[str, Any]:
    return {**s.extra, "id": s.id, "type": s.type, "name": s.name,
            "description": s.description, "enabled": s.enabled,
            "links": _links(req, f"/v3/services/{s.id}")}


def endpoint(req: ApiRequest, e: Endpoint) -> dict[str, Any]:
    return {**e.extra, "id": e.id, "interface": e.interface, "region_id": e.region_id,
            "region": e.region_id, "service_id": e.service_id, "url": e.url,
            "enabled": e.enabled, "links": _links(req, f"/v3/endpoints/{e.id}")}


def app_cred(req: ApiRequest, c: ApplicationCredential, roles: list[Role],
             secret: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id, "name": c.name, "description": c.description, "user_id": c.user_id,
        "project_id": c.project_id, "expires_at": naive_isotime(c.expires_at),
        "unrestricted": c.unrestricted, "system": None,
        "roles": [{"id": r.id, "name": r.name, "domain_id": r.domain_id or None}
                  for r in roles],
        "access_rules": list(c.access_rules),
        "links": _links(req, f"/v3/users/{c.user_id}/application_credentials/{c.id}"),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def credential(req: ApiRequest, c: Credential, blob: str) -> dict[str, Any]:
    return {**c.extra, "id": c.id, "user_id": c.user_id, "project_id": c.project_id,
            "type": c.type, "blob": blob, "links": _links(req, f"/v3/credentials/{c.id}")}


def trust(req: ApiRequest, t: Trust, roles: list[Role] | None) -> dict[str, Any]:
    """A trust as Keystone shows it; ``roles`` None: the summary of a listing."""
    path = f"/v3/OS-TRUST/trusts/{t.id}"
    out: dict[str, Any] = {
        **t.extra, "id": t.id, "trustor_user_id": t.trustor_user_id,
        "trustee_user_id": t.trustee_user_id, "project_id": t.project_id,
        "impersonation": t.impersonation, "expires_at": isotime(t.expires_at),
        "remaining_uses": t.remaining_uses, "redelegated_trust_id": t.redelegated_trust_id,
        "redelegation_count": t.redelegation_count, "deleted_at": None,
        "links": _links(req, path)}
    if roles is not None:
        out["roles"] = [role(req, r) for r in roles]
        out["roles_links"] = {"self": req.url(path + "/roles"), "next": None, "previous": None}
    return out


def registered_limit(req: ApiRequest, r: RegisteredLimit) -> dict[str, Any]:
    return {"id": r.id, "service_id": r.service_id, "region_id": r.region_id or None,
            "resource_name": r.resource_name, "default_limit": r.default_limit,
            "description": r.description, "links": _links(req, f"/v3/registered_limits/{r.id}")}


def limit(req: ApiRequest, x: Limit) -> dict[str, Any]:
    return {"id": x.id, "project_id": x.project_id or None, "domain_id": x.domain_id or None,
            "service_id": x.service_id, "region_id": x.region_id or None,
            "resource_name": x.resource_name, "resource_limit": x.resource_limit,
            "description": x.description, "links": _links(req, f"/v3/limits/{x.id}")}


def endpoint_group(req: ApiRequest, g: EndpointGroup) -> dict[str, Any]:
    return {"id": g.id, "name": g.name, "description": g.description,
            "filters": dict(g.filters),
            "links": _links(req, f"/v3/OS-EP-FILTER/endpoint_groups/{g.id}")}


def token_body(data: TokenData, catalog: list[dict[str, Any]] | None) -> dict[str, Any]:
    p = data.payload
    user_body: dict[str, Any] = {
        "domain": {"id": data.user_domain.id, "name": data.user_domain.name},
        "id": data.user.id, "name": data.user.name,
        "password_expires_at": isotime(data.password_expires_at),
    }
    tok: dict[str, Any] = {
        "methods": list(p.methods), "user": user_body, "audit_ids": list(p.audit_ids),
        "expires_at": isotime(p.expires_at), "issued_at": isotime(p.issued_at),
    }
    if data.project is not None and data.project_domain is not None:
        tok["project"] = {"domain": {"id": data.project_domain.id,
                                     "name": data.project_domain.name},
                          "id": data.project.id, "name": data.project.name}
        tok["is_domain"] = False
    elif data.domain is not None:
        tok["domain"] = {"id": data.domain.id, "name": data.domain.name}
    elif p.scope == "system":
        tok["system"] = {"all": True}
    if p.scope != "unscoped":
        tok["roles"] = [{"id": r.id, "name": r.name} for r in data.roles]
    if data.trust is not None:
        t = data.trust.trust
        tok["OS-TRUST:trust"] = {"id": t.id, "impersonation": t.impersonation,
                                 "trustee_user": {"id": t.trustee_user_id},
                                 "trustor_user": {"id": t.trustor_user_id}}
    if data.app_cred is not None:
        tok["application_credential"] = {"id": data.app_cred.id, "name": data.app_cred.name,
                                         "restricted": not data.app_cred.unrestricted}
    if catalog is not None and p.scope != "unscoped":
        tok["catalog"] = catalog
    return {"token": tok}


def assignment(req: ApiRequest, g: Grant, names: dict[str, dict[str, Any]] | None
               ) -> dict[str, Any]:
    """One entry of GET /v3/role_assignments (names: include_names lookups)."""
    names = names or {}
    actor: dict[str, Any] = {"id": g.actor_id}
    actor.update(names.get(g.actor_id, {}))
    role_body: dict[str, Any] = {"id": g.role_id}
    role_body.update(names.get(g.role_id, {}))
    if g.target_kind == "system":
        scope: dict[str, Any] = {"system": {"all": True}}
    else:
        target: dict[str, Any] = {"id": g.target_id}
        target.update(names.get(g.target_id, {}))
        scope = {g.target_kind: target}
    if g.inherited:
        scope["OS-INHERIT:inherited_to"] = "projects"
    if g.target_kind == "system":
        path = f"/v3/system/{g.actor_kind}s/{g.actor_id}/roles/{g.role_id}"
    elif g.via_target is not None:
        kind = "domains" if g.target_kind == "project" else "projects"
        path = (f"/v3/OS-INHERIT/{kind}/{g.via_target}/{g.actor_kind}s/{g.actor_id}/roles/"
                f"{g.role_id}/inherited_to_projects")
    else:
        path = f"/v3/{g.target_kind}s/{g.target_id}/{g.actor_kind}s/{g.actor_id}/roles/{g.role_id}"
    if g.via_group is not None:
        path = (f"/v3/{g.target_kind}s/{g.target_id}/groups/{g.via_group}/roles/"
                f"{g.prior_role or g.role_id}")
    links: dict[str, str] = {"assignment": req.url(path)}
    if g.via_group is not None:
        links["membership"] = req.url(f"/v3/groups/{g.via_group}/users/{g.actor_id}")
    if g.prior_role is not None:
        links["prior_role"] = req.url(f"/v3/roles/{g.prior_role}")
    return {"role": role_body, g.actor_kind: actor, "scope": scope, "links": links}
