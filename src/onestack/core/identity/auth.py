"""Authentication (password, token, application credential), scoping and token validation."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from onestack.config import IdentityConfig
from onestack.core.identity.cache import Coherence
from onestack.core.identity.catalog import Catalog
from onestack.core.identity.credentials import Credentials
from onestack.core.identity.resources import Resources
from onestack.core.identity.roles import SYSTEM, Roles
from onestack.core.identity.tokens import (
    TokenCodec,
    TokenPayload,
    canonical_methods,
    new_audit_id,
)
from onestack.core.identity.trusts import TrustRef, Trusts
from onestack.core.identity.users import Users
from onestack.db.models import ApplicationCredential, Domain, Project, RevocationEvent, Role, User
from onestack.db.models.base import utcnow
from onestack.errors import BadRequest, Forbidden, NotFound, Unauthorized


@dataclass
class TokenData:
    """A validated token with everything its body shows."""

    token: str
    payload: TokenPayload
    user: User
    user_domain: Domain
    roles: list[Role] = field(default_factory=list)
    project: Project | None = None
    project_domain: Domain | None = None
    domain: Domain | None = None
    app_cred: ApplicationCredential | None = None
    password_expires_at: dt.datetime | None = None
    trust: TrustRef | None = None

    @property
    def role_names(self) -> list[str]:
        return [r.name for r in self.roles]


class Auth:
    def __init__(self, cfg: IdentityConfig, coherence: Coherence, codec: TokenCodec,
                 users: Users, resources: Resources, roles: Roles, creds: Credentials,
                 catalog: Catalog, trusts: Trusts) -> None:
        self.cfg = cfg
        self.coherence = coherence
        self.codec = codec
        self.users = users
        self.resources = resources
        self.roles = roles
        self.creds = creds
        self.catalog = catalog
        self.trusts = trusts
        self._events: list[RevocationEvent] = []
        self._events_gen = -1
        self._catalogs: dict[tuple[str | None, str | None], tuple[int, list[Any]]] = {}

    # --- issuing -------------------------------------------------------------------------
    async def authenticate(self, auth: dict[str, Any]) -> TokenData:
        identity = auth["identity"]
        methods: list[str] = identity["methods"]
        if not methods:
            raise BadRequest("identity.methods must name at least one method.")
        parent: TokenData | None = None
        app_cred: ApplicationCredential | None = None
        user: User | None = None
        for method in methods:
            if method not in identity and method != "token":
                raise BadRequest(f"identity.{method} is missing for method {method}.")
            if method == "password":
                user = await self._password(identity["password"])
            elif method == "token":
                tok = identity.get("token") or {}
                if not tok.get("id"):
                    raise BadRequest("identity.token.id is required for the token method.")
                try:
                    parent = await self.validate(tok["id"])
                except NotFound as exc:
                    raise NotFound("Could not find token: the token is invalid, expired or "
                                   "revoked.") from exc
                if parent.app_cred is not None:
                    raise Unauthorized("A token created with an application credential cannot "
                                       "be rescoped.")
                if parent.trust is not None:
                    raise Forbidden("A trust-scoped token cannot be rescoped.")
                user = parent.user
            elif method == "application_credential":
                user, app_cred = await self._app_cred(identity["application_credential"])
            else:
                raise Unauthorized(f"Attempted to authenticate with an unsupported method: "
                                   f"{method}.")
        assert user is not None
        trust: TrustRef | None = None
        requested = auth.get("scope")
        if isinstance(requested, dict) and "OS-TRUST:trust" in requested:
            if app_cred is not None:
                raise Forbidden("Application credentials cannot request a trust scope.")
            trust = await self._trust_scope(requested, user)
            scope, scope_id = (("project", trust.trust.project_id) if trust.trust.project_id
                               else ("unscoped", None))
        else:
            scope, scope_id = await self._scope(requested, user, app_cred)
        now = utcnow()
        audit: tuple[str, ...]
        if parent is not None:
            expires = parent.payload.expires_at
            audit = (new_audit_id(), parent.payload.audit_ids[-1])
            used = canonical_methods(("token", *parent.payload.methods))
        else:
            expires = now + dt.timedelta(seconds=self.cfg.token_expiration)
            audit = (new_audit_id(),)
            used = canonical_methods(methods)
        if app_cred is not None and app_cred.expires_at is not None:
            expires = min(expires, app_cred.expires_at)
        if trust is not None and trust.trust.expires_at is not None:
            expires = min(expires, trust.trust.expires_at)
        payload = TokenPayload(user_id=user.id, methods=used, scope=scope, scope_id=scope_id,
                               issued_at=now, expires_at=expires, audit_ids=audit,
                               app_cred_id=app_cred.id if app_cred else None,
                               trust_id=trust.trust.id if trust else None)
        token = self.codec.encode(payload)
        data = await self._load(token, payload)
        if trust is not None:
            await self.trusts.consume(trust.trust)
        return data

    async def _trust_scope(self, scope: dict[str, Any], user: User) -> TrustRef:
        """The trust a trustee scopes a token to (Keystone: 404 for a trust gone, expired or
        used up; 403 for a caller who is not its trustee)."""
        spec = scope["OS-TRUST:trust"]
        if not isinstance(spec, dict) or not isinstance(spec.get("id"), str) or not spec["id"]:
            raise BadRequest("scope.OS-TRUST:trust.id is required.")
        trust = await self.trusts.get(spec["id"])
        if trust.trust.trustee_user_id != user.id:
            raise Forbidden("User is not a trustee.")
        try:
            trustor = await self.users.get_user(trust.trust.trustor_user_id)
        except NotFound as exc:
            raise Forbidden("The trustor no longer exists.") from exc
        if not trustor.enabled:
            raise Forbidden("The trustor is disabled.")
        if trust.trust.project_id:
            try:
                project = await self.resources.get_project(trust.trust.project_id)
            except NotFound as exc:
                raise Forbidden(f"Project {trust.trust.project_id} no longer exists.") from exc
            if not project.enabled:
                raise Forbidden(f"Project {project.id} is disabled.")
        await self.trusts.token_role_ids(trust)
        return trust

    async def _find_user(self, spec: dict[str, Any]) -> User:
        try:
            if spec.get("id"):
                return await self.users.get_user(spec["id"])
            if not spec.get("name"):
                raise BadRequest("A user needs an id, or a name and a domain.")
            dom_spec = spec.get("domain")
            if not dom_spec or not (dom_spec.get("id") or dom_spec.get("name")):
                raise BadRequest("A user given by name needs its domain (id or name).")
            domain = await self.resources.find_domain(id=dom_spec.get("id"),
                                                      name=dom_spec.get("name"))
            return await self.users.find_user(spec["name"], domain.id)
        except NotFound as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc

    async def _password(self, spec: dict[str, Any]) -> User:
        user_spec = spec.get("user") or {}
        if "password" not in user_spec:
            raise BadRequest("identity.password.user.password is required.")
        password = str(user_spec["password"])
        try:
            user = await self._find_user(user_spec)
        except Unauthorized:
            # as long as a wrong password takes, and the same answer: no user-id oracle
            await self.users.hasher.check_decoy(password)
            raise
        # the password first: without it, nothing is said about the account's state
        await self.users.check_password(user, password)
        await self._check_user_usable(user)
        return user

    async def _check_user_usable(self, user: User) -> None:
        if not user.enabled:
            raise Unauthorized(f"The account is disabled for user: {user.id}.")
        domain = await self.resources.get_domain(user.domain_id)
        if not domain.enabled:
            raise Unauthorized(f"The domain of user {user.id} is disabled.")

    async def _app_cred(self, spec: dict[str, Any]) -> tuple[User, ApplicationCredential]:
        secret = spec.get("secret")
        if not secret:
            raise BadRequest("identity.application_credential.secret is required.")
        try:
            if spec.get("id"):
                cred = await self.creds.get_app_cred(spec["id"])
            elif spec.get("name") and spec.get("user"):
                owner = await self._find_user(spec["user"])
                cred = await self.creds.find_app_cred(owner.id, spec["name"])
            else:
                raise BadRequest("An application credential needs an id, or a name and a user.")
        except NotFound as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc
        if not await self.creds.check_app_cred_secret(cred, secret):
            raise Unauthorized("The request you have made requires authentication.")
        if self.creds.expired(cred.expires_at):
            raise Unauthorized(f"Application credential {cred.id} has expired.")
        user = await self.users.get_user(cred.user_id)
        await self._check_user_usable(user)
        return user, cred

    async def _scope(self, scope: Any, user: User,
                     app_cred: ApplicationCredential | None) -> tuple[str, str | None]:
        if app_cred is not None:
            if scope and not (isinstance(scope, dict) and scope.get("project", {}).get("id")
                              == app_cred.project_id):
                raise Unauthorized("Application credentials cannot request a scope.")
            await self._require_roles(user, "project", app_cred.project_id)
            return "project", app_cred.project_id
        if scope is None or scope == "unscoped":
            if user.default_project_id:
                try:
                    project = await self.resources.get_project(user.default_project_id)
                    if project.enabled and await self.roles.effective_role_ids(
                            user.id, "project", project.id):
                        return "project", project.id
                except NotFound:
                    pass
            return "unscoped", None
        if not isinstance(scope, dict):
            raise BadRequest("scope must be an object with a project, domain or system.")
        if "project" in scope:
            spec = scope["project"] or {}
            try:
                if spec.get("id"):
                    project = await self.resources.get_project(spec["id"])
                else:
                    dom = spec.get("domain") or {}
                    if not spec.get("name") or not (dom.get("id") or dom.get("name")):
                        raise BadRequest("A project scope needs an id, or a name and a domain.")
                    domain = await self.resources.find_domain(id=dom.get("id"),
                                                              name=dom.get("name"))
                    found = await self.resources.list_projects(
                        {"name": spec["name"], "domain_id": domain.id})
                    if not found:
                        raise NotFound(f"Could not find project: {spec['name']}.")
                    project = found[0]
            except NotFound as exc:
                raise Unauthorized(str(exc)) from exc
            if not project.enabled:
                raise Unauthorized(f"Project {project.id} is disabled.")
            domain = await self.resources.get_domain(project.domain_id)
            if not domain.enabled:
                raise Unauthorized(f"The domain of project {project.id} is disabled.")
            await self._require_roles(user, "project", project.id)
            return "project", project.id
        if "domain" in scope:
            spec = scope["domain"] or {}
            try:
                domain = await self.resources.find_domain(id=spec.get("id"),
                                                          name=spec.get("name"))
            except NotFound as exc:
                raise Unauthorized(str(exc)) from exc
            if not domain.enabled:
                raise Unauthorized(f"Domain {domain.id} is disabled.")
            await self._require_roles(user, "domain", domain.id)
            return "domain", domain.id
        if "system" in scope:
            if scope["system"] != {"all": True}:
                raise BadRequest("The system scope must be {\"all\": true}.")
            await self._require_roles(user, SYSTEM, SYSTEM)
            return "system", "all"
        raise BadRequest("scope must name a project, a domain or the system.")

    async def _require_roles(self, user: User, target: str, target_id: str) -> None:
        held = await self.roles.effective_role_ids(user.id, target, target_id)
        if not await self.roles.global_roles(held):
            raise Unauthorized(f"User {user.id} has no access to {target} {target_id}.")

    # --- validating ----------------------------------------------------------------------
    async def validate(self, token: str, allow_expired: bool = False) -> TokenData:
        """The token's data, or NotFound when it is invalid, expired or revoked."""
        await self.coherence.refresh()
        now = utcnow()
        cached = self.coherence.get_token(token)
        if isinstance(cached, TokenData) and cached.payload.expires_at > now:
            return cached
        payload = self.codec.decode(token)
        if payload.expires_at <= now:
            window = dt.timedelta(seconds=self.cfg.allow_expired_window)
            if not allow_expired or payload.expires_at + window <= now:
                raise NotFound("The token has expired.")
        data = await self._load(token, payload)
        if await self._revoked(data):
            raise NotFound("The token has been revoked.")
        if payload.expires_at > now:
            self.coherence.put_token(token, data)
        return data

    async def _events_now(self) -> list[RevocationEvent]:
        gen = self.coherence.generation
        if gen != self._events_gen:
            horizon = utcnow() - dt.timedelta(
                seconds=self.cfg.token_expiration + self.cfg.allow_expired_window)
            async with self.users.read() as s:
                self._events = list((await s.execute(select(RevocationEvent).where(
                    RevocationEvent.revoked_at >= horizon))).scalars())
            self._events_gen = gen
        return self._events

    async def _revoked(self, d: TokenData) -> bool:
        p = d.payload
        domains = {d.user_domain.id, d.domain.id if d.domain else None,
                   d.project.domain_id if d.project else None}
        for ev in await self._events_now():
            if p.issued_at > ev.issued_before:
                continue
            if ev.audit_id and ev.audit_id != p.audit_ids[0]:
                continue
            if ev.user_id and ev.user_id != p.user_id:
                continue
            if ev.project_id and ev.project_id != p.project_id:
                continue
            if ev.domain_id and ev.domain_id not in domains:
                continue
            if ev.application_credential_id and ev.application_credential_id != p.app_cred_id:
                continue
            return True
        return False

    async def _user(self, user_id: str) -> tuple[User, Domain]:
        try:
            user = await self.users.get_user(user_id)
            user_domain = await self.resources.get_domain(user.domain_id)
        except NotFound as exc:
            raise NotFound("The token's user no longer exists.") from exc
        if not user.enabled or not user_domain.enabled:
            raise NotFound("The token's user or its domain is disabled.")
        return user, user_domain

    async def _token_trust(self, p: TokenPayload) -> TrustRef:
        """The trust of a trust-scoped token, still in force (its roles checked later)."""
        assert p.trust_id
        try:
            trust = await self.trusts.get(p.trust_id, usable=False)
        except NotFound as exc:
            raise NotFound("The token's trust was deleted or has expired.") from exc
        if trust.trust.trustee_user_id != p.user_id:
            raise NotFound("The token's user is not the trust's trustee.")
        await self._user(p.user_id)  # the trustee, even when the token shows the trustor
        return trust

    async def _load(self, token: str, p: TokenPayload) -> TokenData:
        trust = await self._token_trust(p) if p.trust_id else None
        shown = trust.trust.trustor_user_id if trust and trust.trust.impersonation \
            else p.user_id
        user, user_domain = await self._user(shown)
        current = await self.users.current_password(user.id)
        data = TokenData(token=token, payload=p, user=user, user_domain=user_domain,
                         password_expires_at=current.expires_at if current else None,
                         trust=trust)
        role_ids: set[str] = set()
        try:
            if p.scope == "project":
                assert p.scope_id
                data.project = await self.resources.get_project(p.scope_id)
                data.project_domain = await self.resources.get_domain(data.project.domain_id)
                if not data.project.enabled or not data.project_domain.enabled:
                    raise NotFound("The token's project or its domain is disabled.")
                if trust is None:
                    role_ids = await self.roles.effective_role_ids(user.id, "project",
                                                                   p.scope_id)
            elif p.scope == "domain":
                assert p.scope_id
                data.domain = await self.resources.get_domain(p.scope_id)
                if not data.domain.enabled:
                    raise NotFound("The token's domain is disabled.")
                role_ids = await self.roles.effective_role_ids(user.id, "domain", p.scope_id)
            elif p.scope == "system":
                role_ids = await self.roles.effective_role_ids(user.id, SYSTEM, SYSTEM)
        except NotFound as exc:
            raise NotFound(f"The token's scope is no longer valid: {exc.message}") from exc
        if trust is not None:
            try:
                role_ids = await self.trusts.token_role_ids(trust)
            except (Forbidden, NotFound) as exc:
                raise NotFound(f"The token's trust no longer delegates: {exc.message}") from exc
        if p.app_cred_id:
            try:
                data.app_cred = await self.creds.get_app_cred(p.app_cred_id)
            except NotFound as exc:
                raise NotFound("The token's application credential was deleted.") from exc
            allowed = set((await self.creds.app_cred_roles([p.app_cred_id]))[p.app_cred_id])
            role_ids &= allowed
        roles = await self.roles.global_roles(role_ids)  # as Keystone: no domain roles
        if p.scope != "unscoped" and not roles:
            raise NotFound(f"User {user.id} no longer has a role on the token's {p.scope}.")
        data.roles = sorted(roles, key=lambda r: r.name)
        return data

    async def catalog_for(self, data: TokenData) -> list[dict[str, Any]]:
        key = (data.payload.project_id, data.user.id)
        hit = self._catalogs.get(key)
        if hit is not None and hit[0] == self.coherence.generation:
            return hit[1]
        cat = await self.catalog.build(data.payload.project_id, data.user.id)
        if len(self._catalogs) > 5000:
            self._catalogs.clear()
        self._catalogs[key] = (self.coherence.generation, cat)
        return cat

    async def revoke(self, data: TokenData) -> None:
        async with self.users.write() as s:
            s.add(RevocationEvent(audit_id=data.payload.audit_ids[0],
                                  issued_before=utcnow()))
