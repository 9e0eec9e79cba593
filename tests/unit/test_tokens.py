from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from onestack.core.identity.keys import KeyRepository
from onestack.core.identity.tokens import TokenCodec, TokenPayload, new_audit_id
from onestack.errors import NotFound


def payload(**kw: object) -> TokenPayload:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
    base = dict(user_id="a" * 32, methods=("password",), scope="project", scope_id="b" * 32,
                issued_at=now, expires_at=now + dt.timedelta(hours=1),
                audit_ids=(new_audit_id(),), app_cred_id=None)
    base.update(kw)
    return TokenPayload(**base)  # type: ignore[arg-type]


def test_roundtrip_keeps_every_field(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    codec = TokenCodec(repo)
    for p in (payload(), payload(scope="unscoped", scope_id=None),
              payload(methods=("password", "token"), audit_ids=("x", "y")),
              payload(scope="system", scope_id="all", app_cred_id="c" * 32)):
        token = codec.encode(p)
        assert "=" not in token and len(token) < 400
        assert codec.decode(token) == p


def test_garbage_and_foreign_tokens_are_not_found(tmp_path: Path) -> None:
    a = KeyRepository(tmp_path / "a")
    a.setup()
    b = KeyRepository(tmp_path / "b")
    b.setup()
    token = TokenCodec(a).encode(payload())
    with pytest.raises(NotFound):
        TokenCodec(b).decode(token)
    for junk in ("", "abc", "gAAAAA" + "x" * 100, token[:-5]):
        with pytest.raises(NotFound):
            TokenCodec(a).decode(junk)


def test_rotation_keeps_recent_tokens_valid(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repo.setup()
    codec = TokenCodec(repo)
    old = codec.encode(payload())
    repo.rotate()
    assert codec.decode(old)  # previous primary is now a secondary
    repo.rotate()
    repo.rotate()  # the key that made `old` is pruned now
    with pytest.raises(NotFound):
        codec.decode(old)
    assert sorted(int(p.name) for p in (tmp_path / "keys").iterdir()) == [0, 3, 4]


def test_staged_key_decrypts_before_rotation(tmp_path: Path) -> None:
    """Another API server that rotated first can hand us tokens made with our staged key."""
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    staged = (tmp_path / "keys" / "0").read_bytes()
    from cryptography.fernet import Fernet

    foreign = Fernet(staged).encrypt(b'[1,"u",1,0,null,0,1,["a"],null]').decode().rstrip("=")
    assert TokenCodec(repo).decode(foreign).user_id == "u"
