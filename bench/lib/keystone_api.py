"""The few Keystone v3 calls the benches need, the same for Onestack and upstream."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lib.procs import BenchError
from lib.rawhttp import Response, call


@dataclass(frozen=True)
class Identity:
    """Where a Keystone v3 API answers: `prefix` is "" upstream, "/identity" on Onestack."""

    host: str
    port: int
    prefix: str

    def path(self, path: str) -> str:
        return self.prefix + path

    def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: Any = None,
        expect: tuple[int, ...] = (200, 201, 204),
        headers: dict[str, str] | None = None,
    ) -> Response:
        all_headers = dict(headers or {})
        if token:
            all_headers["X-Auth-Token"] = token
        response = call(self.host, self.port, method, self.path(path), all_headers, body)
        if response.status not in expect:
            text = response.body[:500].decode("utf-8", "replace")
            raise BenchError(f"{method} {self.path(path)} answered {response.status}: {text}")
        return response


def password_auth(
    user: str,
    password: str,
    user_domain: dict[str, str],
    project: str,
    project_domain: dict[str, str],
) -> dict[str, Any]:
    """A project-scoped password authentication request body.

    Domains are given as {"id": ...} or {"name": ...}.
    """
    return {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"name": user, "domain": user_domain, "password": password}},
            },
            "scope": {"project": {"name": project, "domain": project_domain}},
        }
    }


def password_auth_bytes(*args: Any) -> bytes:
    return json.dumps(password_auth(*args)).encode()


def issue_token(identity: Identity, auth_body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """POST /v3/auth/tokens; return the token and the token body."""
    response = identity.call("POST", "/v3/auth/tokens", body=auth_body, expect=(201,))
    token = response.headers.get("x-subject-token")
    if not token:
        raise BenchError("POST /v3/auth/tokens answered 201 without X-Subject-Token")
    return token, response.json()["token"]


def find_by_name(identity: Identity, token: str, collection: str, name: str) -> dict[str, Any]:
    """Look an entity up by name, filtering on the client (works with or without ?name=)."""
    items = identity.call("GET", f"/v3/{collection}", token).json()[collection]
    for item in items:
        if item["name"] == name:
            return dict(item)
    raise BenchError(f"no {collection[:-1]} named {name!r} in GET /v3/{collection}")


def create(
    identity: Identity, token: str, collection: str, entity: dict[str, Any]
) -> dict[str, Any]:
    """POST /v3/<collection>; an existing entity of that name (409) is looked up instead."""
    singular = collection[:-1]
    response = identity.call(
        "POST", f"/v3/{collection}", token, {singular: entity}, expect=(201, 409)
    )
    if response.status == 409:
        return find_by_name(identity, token, collection, entity["name"])
    return dict(response.json()[singular])


@dataclass(frozen=True)
class Deployment:
    """A running Keystone-compatible service and how to become its admin."""

    name: str
    identity: Identity
    admin_auth: dict[str, Any]  # password_auth() body for the admin, project-scoped
    startup_s: float  # from launch to the first 200 (after any one-off setup)
    details: dict[str, Any]  # versions and settings, for the report
