"""The dashboard's server-side session store and CSRF check (no cloud needed)."""

from __future__ import annotations

import pytest

from onestack.dashboard.client import fault_message
from onestack.dashboard.session import SessionStore, same


def test_sessions_are_random_and_expire_when_idle(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("onestack.dashboard.session.time.monotonic", lambda: clock[0])
    store = SessionStore(idle_seconds=60)
    a = store.create("u1", "alice", "Default", "tok-a")
    b = store.create("u2", "bob", "Default", "tok-b")
    assert a.sid != b.sid and len(a.sid) >= 40 and a.csrf != b.csrf
    clock[0] += 59
    assert store.get(a.sid) is a  # use keeps it alive
    clock[0] += 59
    assert store.get(a.sid) is a
    assert store.get(b.sid) is None  # b was idle 118 s
    assert store.get(None) is None and store.get("forged") is None
    assert store.drop(a.sid) is a and store.get(a.sid) is None


def test_csrf_check_needs_the_sessions_own_token() -> None:
    store = SessionStore()
    a = store.create("u1", "alice", "Default", "tok-a")
    b = store.create("u2", "bob", "Default", "tok-b")
    assert a.csrf_ok(a.csrf)
    assert not a.csrf_ok(b.csrf) and not a.csrf_ok("") and not a.csrf_ok(None)
    assert same("x", "x") and not same("x", "y") and not same(None, None) and not same("", "")


def test_fault_messages_of_every_service_shape() -> None:
    import httpx

    def msg(body: object, status: int = 403) -> str:
        return fault_message(httpx.Response(status, json=body))

    assert msg({"forbidden": {"code": 403, "message": "nova says no"}}) == "nova says no"
    assert msg({"error": {"code": 401, "message": "keystone says no"}}) == "keystone says no"
    assert msg({"NeutronError": {"type": "X", "message": "neutron says no"}}) == \
        "neutron says no"
    assert fault_message(httpx.Response(500, text="plain")) == "plain"
