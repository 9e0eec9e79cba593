"""Application-credential access rules matched as keystonemiddleware matches them: the
service type, the exact method, and the path where '*' (or '{name}') is one segment and
'**' any number of them; a token whose rules do not allow the call gets 401, or goes on as
an anonymous one where a token is optional."""

from __future__ import annotations

import pytest

from onestack.api.common.auth import access_allowed, enforce_access_rules
from onestack.context import RequestContext
from onestack.errors import Unauthorized

RULES = [{"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"},
         {"service": "object-store", "method": "PUT", "path": "/v1/**"},
         {"service": "block-storage", "method": "GET", "path": "/v3/{project_id}/volumes"}]


@pytest.mark.parametrize("service, method, path, allowed", [
    ("compute", "GET", "/v2.1/servers/abc/ips", True),
    ("compute", "GET", "/v2.1/servers/abc/ips/", True),
    ("compute", "GET", "/v2.1/servers/a/b/ips", False),
    ("compute", "GET", "/v2.1/servers//ips", False),
    ("compute", "HEAD", "/v2.1/servers/abc/ips", False),
    ("compute", "POST", "/v2.1/servers/abc/ips", False),
    ("image", "GET", "/v2.1/servers/abc/ips", False),
    ("object_store", "PUT", "/v1/AUTH_p/c/deep/er/o", True),
    ("object_store", "GET", "/v1/AUTH_p/c/o", False),
    ("volume", "GET", "/v3/p1/volumes", True),
    ("volume", "GET", "/v3/p1/volumes/detail", False),
])
def test_matching(service: str, method: str, path: str, allowed: bool) -> None:
    assert access_allowed(RULES, service, method, path) is allowed


def test_literal_parts_are_not_patterns() -> None:
    rules = [{"service": "compute", "method": "GET", "path": "/v2.1/os-keypairs.x"}]
    assert not access_allowed(rules, "compute", "GET", "/v2.1/os-keypairsYx")


def test_enforcement() -> None:
    ctx = RequestContext(user_id="u", project_id="p", roles=["member"], access_rules=RULES)
    enforce_access_rules(ctx, "compute", "GET", "/v2.1/servers/s/ips", True)
    with pytest.raises(Unauthorized):
        enforce_access_rules(ctx, "compute", "GET", "/v2.1/flavors", True)
    enforce_access_rules(ctx, "object_store", "GET", "/v1/AUTH_p/c", False)
    assert ctx.user_id is None and ctx.roles == [] and not ctx.authenticated
    free = RequestContext(user_id="u", roles=["admin"])  # no rules: anything
    enforce_access_rules(free, "compute", "DELETE", "/v2.1/servers/x", True)
