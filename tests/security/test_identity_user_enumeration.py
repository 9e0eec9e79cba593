"""No user-id oracle: an unknown user id gets the answer a wrong password gets, after as
long (one bcrypt check either way), on token issue and on the self-service password change;
a disabled account says so only to a caller who knows its password."""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.server import CloudThread, RunningCloud


@pytest.fixture(scope="module")
def slow_hash() -> Iterator[RunningCloud]:
    """bcrypt at a cost where a skipped check would show (about 50 ms here)."""
    thread = CloudThread(password_hash_rounds=10, lockout_failure_attempts=0)
    yield thread.start()
    thread.stop()


def _token(c: RunningCloud, user: dict[str, object], password: str) -> httpx.Response:
    return httpx.post(f"{c.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {**user, "password": password}}}}})


def _change(c: RunningCloud, user_id: str, original: str) -> httpx.Response:
    return httpx.post(f"{c.auth_url}/users/{user_id}/password", json={"user": {
        "original_password": original, "password": uuid.uuid4().hex}})


def _median(call: Callable[[], httpx.Response]) -> tuple[float, httpx.Response]:
    times, last = [], None
    for _ in range(5):
        started = time.perf_counter()
        last = call()
        times.append(time.perf_counter() - started)
    assert last is not None
    return statistics.median(times), last


def _same_answer(c: RunningCloud, known: Callable[[], httpx.Response],
                 unknown: Callable[[], httpx.Response]) -> None:
    t_known, r_known = _median(known)
    t_unknown, r_unknown = _median(unknown)
    assert r_known.status_code == r_unknown.status_code == 401, (r_known.text, r_unknown.text)
    assert r_known.json() == r_unknown.json()
    assert t_unknown > 0.5 * t_known, (t_unknown, t_known)


def test_token_issue(slow_hash: RunningCloud) -> None:
    demo = slow_hash.accounts["demo"]
    _same_answer(slow_hash, lambda: _token(slow_hash, {"id": demo.user_id}, "wrong"),
                 lambda: _token(slow_hash, {"id": uuid.uuid4().hex}, "wrong"))
    _same_answer(slow_hash,
                 lambda: _token(slow_hash, {"name": demo.username,
                                            "domain": {"id": "default"}}, "wrong"),
                 lambda: _token(slow_hash, {"name": uuid.uuid4().hex,
                                            "domain": {"id": "default"}}, "wrong"))


def test_password_change(slow_hash: RunningCloud) -> None:
    demo = slow_hash.accounts["demo"]
    _same_answer(slow_hash, lambda: _change(slow_hash, demo.user_id, "wrong"),
                 lambda: _change(slow_hash, uuid.uuid4().hex, "wrong"))


def test_a_disabled_account_tells_only_its_password_holder(slow_hash: RunningCloud) -> None:
    c = slow_hash
    admin = {"X-Auth-Token": c.admin_token()}
    name, password = f"off-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = httpx.post(f"{c.auth_url}/users", headers=admin, json={"user": {
        "name": name, "password": password, "domain_id": "default",
        "enabled": False}}).json()["user"]
    wrong = _token(c, {"id": user["id"]}, "wrong")
    unknown = _token(c, {"id": uuid.uuid4().hex}, "wrong")
    assert wrong.status_code == 401 and wrong.json() == unknown.json()
    right = _token(c, {"id": user["id"]}, password)
    assert right.status_code == 401 and "disabled" in right.json()["error"]["message"]
