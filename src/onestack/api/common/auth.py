"""Token validation for every service: X-Auth-Token -> RequestContext."""

from __future__ import annotations

from onestack.context import RequestContext
from onestack.core.identity.auth import TokenData
from onestack.core.identity.service import Identity
from onestack.errors import NotFound


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
