"""Token validation for every service: X-Auth-Token -> RequestContext, and the access rules
of application credentials (keystonemiddleware's check, done here for every service)."""

from __future__ import annotations

import functools
import re

from onestack.context import RequestContext
from onestack.core.identity.auth import TokenData
from onestack.core.identity.service import Identity
from onestack.errors import NotFound, Unauthorized


def context_from_token(data: TokenData, ctx: RequestContext) -> RequestContext:
    p = data.payload
    ctx.user_id = data.user.id
    ctx.user_name = data.user.name
    ctx.user_domain_id = data.user.domain_id
    if data.project is not None:
        ctx.project_id = data.project.id
        ctx.project_name = data.project.name
        ctx.project_domain_id = data.project.domain_id
    if data.domain is not None:
        ctx.domain_id = data.domain.id
        ctx.domain_name = data.domain.name
    if p.scope == "system":
        ctx.system_scope = "all"
    ctx.roles = data.role_names
    ctx.role_ids = [r.id for r in data.roles]
    ctx.auth_token = data.token
    ctx.audit_ids = list(p.audit_ids)
    ctx.application_credential_id = p.app_cred_id
    ctx.access_rules = list(data.app_cred.access_rules) if data.app_cred is not None else []
    return ctx


async def authenticate_request(identity: Identity, token: str | None,
                               ctx: RequestContext) -> bool:
    """Fill ctx from a valid token; False when the token is absent or invalid."""
    if not token:
        return False
    try:
        data = await identity.auth.validate(token)
    except NotFound:
        return False
    context_from_token(data, ctx)
    return True


# The catalog types a service answers to in an access rule (ServiceApi.name -> types).
_SERVICE_TYPES = {"volume": ("block-storage", "volumev3", "volume"),
                  "object_store": ("object-store",), "key_manager": ("key-manager",),
                  "load_balancer": ("load-balancer",)}


@functools.lru_cache(maxsize=1024)
def _path_regex(pattern: str) -> re.Pattern[str]:
    """keystonemiddleware's path match: '*' (and a '{name}') is one segment, '**' any."""
    out = ""
    for m in re.finditer(r"(?P<tag>{[^}]*})|(?P<rec>\*\*)|(?P<one>\*)|(?P<lit>[^{}*]+)",
                         pattern):
        if m.group("tag") or m.group("one"):
            out += r"[^/]+"
        elif m.group("rec"):
            out += ".*"
        else:
            out += re.escape(m.group("lit"))
    return re.compile(f"^{out}$")


def access_allowed(rules: list[dict[str, str]], service: str, method: str, path: str) -> bool:
    types = _SERVICE_TYPES.get(service, (service,))
    return any(r.get("service") in types and r.get("method") == method
               and _path_regex(r.get("path", "")).match(path.rstrip("/") or "/")
               for r in rules)


def enforce_access_rules(ctx: RequestContext, service: str, method: str, path: str,
                         required: bool) -> None:
    """A token from an application credential with access rules may make only the calls
    they list (service type, method, path relative to the service's endpoint). Where a
    token is optional (version documents, Swift's public containers) the request goes on
    as an anonymous one instead."""
    if not ctx.access_rules or access_allowed(ctx.access_rules, service, method, path):
        return
    if required:
        raise Unauthorized(f"The application credential's access rules do not allow "
                           f"{method} {path} on {service}.")
    anonymous = RequestContext(request_id=ctx.request_id,
                               global_request_id=ctx.global_request_id)
    ctx.__dict__.update(anonymous.__dict__)
