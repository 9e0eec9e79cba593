"""Domain-specific configuration (/v3/domains/{id}/config) over raw HTTP with real tokens:
kept and served per domain with Keystone's rules (whitelisted options, the LDAP password
stored and never shown, the defaults), admin-only, 403 naming what is not supported."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import unique
from tests.support.server import RunningCloud

CONFIG = {"identity": {"driver": "ldap"},
          "ldap": {"url": "ldap://ldap.example:389/", "user_tree_dn": "ou=Users,dc=ex,dc=org",
                   "password": "s3cret"}}


class Client:
    def __init__(self, c: RunningCloud, token: str) -> None:
        self.url, self.h = c.auth_url, {"X-Auth-Token": token}

    def __call__(self, method: str, path: str, body: Any = None,
                 status: int = 200) -> Any:
        r = httpx.request(method, f"{self.url}{path}", json=body, headers=self.h)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None


def test_domain_config_lifecycle(cloud: RunningCloud) -> None:
    admin = Client(cloud, cloud.admin_token())
    dom = admin("POST", "/domains", {"domain": {"name": unique("dc")}}, 201)["domain"]["id"]
    cfg = f"/domains/{dom}/config"
    admin("GET", cfg, status=404)
    shown = {"identity": CONFIG["identity"],
             "ldap": {k: v for k, v in CONFIG["ldap"].items() if k != "password"}}
    assert admin("PUT", cfg, {"config": CONFIG}, 201)["config"] == shown
    assert admin("GET", cfg)["config"] == shown  # the password is kept, never shown
    admin("GET", f"{cfg}/ldap/password", status=404)
    assert admin("GET", f"{cfg}/ldap")["config"] == {"ldap": shown["ldap"]}
    assert admin("GET", f"{cfg}/ldap/url")["config"] == {"url": CONFIG["ldap"]["url"]}
    # a group update may add options; an option update names that option only
    got = admin("PATCH", f"{cfg}/identity",
                {"config": {"identity": {"driver": "ldap2", "list_limit": 7}}})["config"]
    assert got["identity"] == {"driver": "ldap2", "list_limit": 7} and "ldap" in got
    got = admin("PATCH", f"{cfg}/ldap/url", {"config": {"url": "ldap://b/"}})["config"]
    assert got["ldap"]["url"] == "ldap://b/"
    admin("PATCH", f"{cfg}/ldap/suffix", {"config": {"suffix": "x"}}, 404)  # not set yet
    admin("DELETE", f"{cfg}/identity/driver", status=204)
    admin("GET", f"{cfg}/identity/driver", status=404)
    admin("DELETE", f"{cfg}/identity", status=204)
    admin("GET", f"{cfg}/identity", status=404)
    # PUT again replaces the whole config (200: it existed)
    assert admin("PUT", cfg, {"config": {"ldap": {"url": "ldap://c/"}}})["config"] == {
        "ldap": {"url": "ldap://c/"}}
    # Keystone's 403 for what a domain config cannot hold, naming it
    for bad, word in (({"nova": {"x": 1}}, "nova"), ({"ldap": {"colour": 1}}, "colour"),
                      ({"ldap": "url"}, "ldap"), ({}, "No options")):
        r = httpx.put(f"{cloud.auth_url}{cfg}", json={"config": bad}, headers=admin.h)
        assert r.status_code == 403 and word in r.json()["error"]["message"], r.text
    r = httpx.put(f"{cloud.auth_url}{cfg}", json={"conf": {}}, headers=admin.h)
    assert r.status_code == 400 and "config" in r.json()["error"]["message"], r.text
    # readers of another kind cannot read it; members cannot write it
    demo = Client(cloud, cloud.token("demo"))
    demo("GET", cfg, status=403)
    demo("PUT", cfg, {"config": CONFIG}, 403)
    demo("DELETE", cfg, status=403)
    # defaults: Keystone's, the sensitive ones refused
    defaults = admin("GET", "/domains/config/default")["config"]
    assert defaults["identity"]["driver"] == "sql" and "password" not in defaults["ldap"]
    assert admin("GET", "/domains/config/ldap/default")["config"]["ldap"] == defaults["ldap"]
    assert admin("GET", "/domains/config/ldap/url/default")["config"] == {
        "url": "ldap://localhost"}
    admin("GET", "/domains/config/ldap/password/default", status=403)
    admin("GET", "/domains/config/nova/default", status=403)
    # deleting the domain takes its config along
    admin("DELETE", cfg, status=204)
    admin("GET", cfg, status=404)
    admin("PUT", cfg, {"config": CONFIG}, 201)
    admin("PATCH", f"/domains/{dom}", {"domain": {"enabled": False}})
    admin("DELETE", f"/domains/{dom}", status=204)
    admin("GET", cfg, status=404)
