"""Fernet tokens: an encrypted, authenticated payload; no database row per token."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken

from onestack.core.identity.keys import KeyRepository
from onestack.errors import NotFound

METHODS = ("password", "token", "application_credential", "external", "totp", "oauth1", "mapped")
SCOPES = ("unscoped", "project", "domain", "system")
_EPOCH = dt.datetime(1970, 1, 1)


def canonical_methods(methods: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Methods in the one order a token can carry them (so issue and validate agree)."""
    return tuple(m for m in METHODS if m in methods)


def new_audit_id() -> str:
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")


def _to_us(value: dt.datetime) -> int:
    return (value - _EPOCH) // dt.timedelta(microseconds=1)


def _from_us(value: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=value)


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    scope: str  # one of SCOPES
    scope_id: str | None
    issued_at: dt.datetime
    expires_at: dt.datetime
    audit_ids: tuple[str, ...] = field(default_factory=tuple)
    app_cred_id: str | None = None
    trust_id: str | None = None  # a trust-scoped token: user_id is the trustee

    @property
    def project_id(self) -> str | None:
        return self.scope_id if self.scope == "project" else None

    @property
    def domain_id(self) -> str | None:
        return self.scope_id if self.scope == "domain" else None


class TokenCodec:
    def __init__(self, keys: KeyRepository) -> None:
        self.keys = keys

    def encode(self, p: TokenPayload) -> str:
        bits = sum(1 << METHODS.index(m) for m in p.methods)
        raw = [
            1, p.user_id, bits, SCOPES.index(p.scope), p.scope_id,
            _to_us(p.issued_at), _to_us(p.expires_at), list(p.audit_ids), p.app_cred_id,
        ]
        if p.trust_id is not None:
            raw.append(p.trust_id)
        data = json.dumps(raw, separators=(",", ":")).encode()
        return self.keys.fernet().encrypt(data).decode().rstrip("=")

    def decode(self, token: str) -> TokenPayload:
        """Decrypt and parse; raises NotFound for anything that is not our token."""
        try:
            padded = token + "=" * (-len(token) % 4)
            raw = json.loads(self.keys.fernet().decrypt(padded.encode()))
            version, user_id, bits, scope, scope_id, issued, expires, audit_ids, app_cred = raw[:9]
            trust_id = raw[9] if len(raw) == 10 else None
            if len(raw) not in (9, 10):
                raise ValueError("unknown token layout")
            if version != 1:
                raise ValueError("unknown token version")
            methods = tuple(m for i, m in enumerate(METHODS) if bits & (1 << i))
            return TokenPayload(
                user_id=user_id, methods=methods, scope=SCOPES[scope], scope_id=scope_id,
                issued_at=_from_us(issued), expires_at=_from_us(expires),
                audit_ids=tuple(audit_ids), app_cred_id=app_cred, trust_id=trust_id,
            )
        except (InvalidToken, ValueError, TypeError, IndexError, UnicodeError) as exc:
            raise NotFound("Could not recognize Fernet token") from exc
