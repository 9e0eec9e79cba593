"""RequestContext: who is asking, in which scope, with which roles."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


def new_request_id() -> str:
    return f"req-{uuid.uuid4()}"


@dataclass
class RequestContext:
    request_id: str = field(default_factory=new_request_id)
    user_id: str | None = None
    user_name: str | None = None
    user_domain_id: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    project_domain_id: str | None = None
    domain_id: str | None = None  # set for domain-scoped tokens
    domain_name: str | None = None
    system_scope: str | None = None  # "all" for system-scoped tokens
    roles: list[str] = field(default_factory=list)
    role_ids: list[str] = field(default_factory=list)
    auth_token: str | None = None
    audit_ids: list[str] = field(default_factory=list)
    application_credential_id: str | None = None
    # the application credential's access rules, if it has any: only these calls are allowed
    access_rules: list[dict[str, str]] = field(default_factory=list)
    is_admin: bool = False  # internal callers (bootstrap, agents)
    global_request_id: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None or self.is_admin

    @property
    def scope(self) -> str:
        """The token's scope: project, domain, system or unscoped."""
        if self.project_id is not None:
            return "project"
        if self.domain_id is not None:
            return "domain"
        if self.system_scope is not None:
            return "system"
        return "unscoped"

    @property
    def scope_text(self) -> str:
        if self.scope == "unscoped":
            return "unscoped"
        return f"{self.scope}-scoped"

    @property
    def has_admin_role(self) -> bool:
        return self.is_admin or "admin" in self.roles

    def policy_credentials(self) -> dict[str, Any]:
        """The credential dict the policy engine checks against (oslo.policy's names)."""
        return {
            "user_id": self.user_id,
            "user_domain_id": self.user_domain_id,
            "project_id": self.project_id,
            "project_domain_id": self.project_domain_id,
            "domain_id": self.domain_id,
            "system_scope": self.system_scope,
            "roles": self.roles,
            "is_admin": self.is_admin,
            "token.project.domain.id": self.project_domain_id,
            "token.domain.id": self.domain_id,
            "token.user.domain.id": self.user_domain_id,
        }

    @classmethod
    def admin(cls) -> RequestContext:
        return cls(is_admin=True, roles=["admin", "member", "reader"], system_scope="all")
