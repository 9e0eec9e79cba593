"""Server-side dashboard sessions: the Keystone tokens never leave the server.

The browser holds only a random session id (HttpOnly, SameSite=Strict cookie). The store is
in this process's memory: sessions end when Onestack restarts, and with several API
processes a load balancer must keep a browser on one process (sticky) -- documented in
docs/dashboard.md. Each session carries its own CSRF token, checked on every POST.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

COOKIE = "onestack_session"
LOGIN_COOKIE = "onestack_login_csrf"
IDLE_SECONDS = 3600


@dataclass
class Session:
    sid: str
    user_id: str
    user_name: str
    domain: str
    unscoped: str  # the token the password bought; project tokens are rescoped from it
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    projects: dict[str, str] = field(default_factory=dict)  # project id -> its name
    tokens: dict[str, str] = field(default_factory=dict)  # project id -> scoped token
    regions: list[str] = field(default_factory=list)  # from the service catalog
    seen: float = field(default_factory=lambda: time.monotonic())

    def csrf_ok(self, sent: str | None) -> bool:
        return bool(sent) and hmac.compare_digest(self.csrf, str(sent))

    def all_tokens(self) -> list[str]:
        return list(dict.fromkeys([self.unscoped, *self.tokens.values()]))


class SessionStore:
    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self.idle = idle_seconds
        self._sessions: dict[str, Session] = {}

    def create(self, user_id: str, user_name: str, domain: str, unscoped: str) -> Session:
        self._expire()
        session = Session(secrets.token_urlsafe(32), user_id, user_name, domain, unscoped)
        self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        session = self._sessions.get(sid)
        if session is None:
            return None
        now = time.monotonic()
        if now - session.seen > self.idle:
            self._sessions.pop(sid, None)
            return None
        session.seen = now
        return session

    def drop(self, sid: str) -> Session | None:
        return self._sessions.pop(sid, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s.sid for s in self._sessions.values() if now - s.seen > self.idle]:
            self._sessions.pop(sid, None)


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two optional strings (both present)."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
