from __future__ import annotations

from pathlib import Path

import pytest

from onestack.api.common.policy import Enforcer, Rule, project_scoped
from onestack.context import RequestContext
from onestack.errors import ConfigError, Forbidden


def ctx(roles: list[str], **kw: object) -> RequestContext:
    return RequestContext(user_id=str(kw.get("user_id", "u1")), roles=roles,
                          project_id=kw.get("project_id", "p1"),  # type: ignore[arg-type]
                          system_scope=kw.get("system_scope"))  # type: ignore[arg-type]


def enforcer(**rules: str) -> Enforcer:
    return Enforcer([Rule("admin_required", "role:admin or is_admin:1"),
                     *(Rule(k.replace("__", ":"), v) for k, v in rules.items())])


def test_role_and_rule_checks() -> None:
    e = enforcer(x="rule:admin_required")
    assert e.authorize("x", ctx(["admin"]), {})
    assert not e.authorize("x", ctx(["member"]), {})


def test_target_substitution_and_parentheses() -> None:
    e = enforcer(x="rule:admin_required or (role:reader and project_id:%(target.project.id)s)")
    assert e.authorize("x", ctx(["reader"]), {"target.project.id": "p1"})
    assert not e.authorize("x", ctx(["reader"]), {"target.project.id": "p2"})
    assert not e.authorize("x", ctx(["member"]), {"target.project.id": "p1"})


def test_not_literals_and_none() -> None:
    e = enforcer(a="not role:reader", b="'member':%(target.role.name)s",
                 c="None:%(target.domain_id)s", d="@", f="!", s="role:reader and system_scope:all")
    assert e.authorize("a", ctx(["member"]), {})
    assert not e.authorize("a", ctx(["reader"]), {})
    assert e.authorize("b", ctx([]), {"target.role.name": "member"})
    assert e.authorize("c", ctx([]), {"target.domain_id": None})
    assert not e.authorize("c", ctx([]), {"target.domain_id": "x"})
    assert e.authorize("d", ctx([]), {}) and not e.authorize("f", ctx([]), {})
    assert e.authorize("s", ctx(["reader"], system_scope="all"), {})
    assert not e.authorize("s", ctx(["reader"]), {})


def test_nested_lookup_and_missing_target_fails_closed() -> None:
    e = enforcer(x="user_id:%(target.credential.user_id)s")
    assert e.authorize("x", ctx([]), {"target": {"credential": {"user_id": "u1"}}})
    assert not e.authorize("x", ctx([]), {})


def test_enforce_raises_forbidden_with_rule_name() -> None:
    e = enforcer(x="role:admin")
    with pytest.raises(Forbidden, match="x"):
        e.enforce("x", ctx(["member"]), {})


def test_bad_policy_is_config_error(tmp_path: object) -> None:
    with pytest.raises(ConfigError):
        enforcer(x="role:admin or (role:member")
    with pytest.raises(ConfigError):
        enforcer(x="nocolon")


def test_override_file(tmp_path: pytest.TempPathFactory) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "policy.yaml"
    path.write_text('"x": "role:auditor"\n')
    e = Enforcer([Rule("x", "role:admin")], path)
    assert e.authorize("x", ctx(["auditor"]), {})
    assert not e.authorize("x", ctx(["admin"]), {})


def test_project_scoped_rules_refuse_other_scopes_before_the_check() -> None:
    """A rule serving project tokens refuses unscoped, domain- and system-scoped callers
    (even with "@"), saying which scope is needed; admins pass."""
    e = Enforcer(project_scoped([Rule("open", "@"), Rule("mine", "project_id:%(project_id)s")]))
    unscoped = RequestContext(user_id="u1")
    domain = RequestContext(user_id="u1", domain_id="default", roles=["reader"])
    system = RequestContext(user_id="u1", system_scope="all", roles=["reader"])
    for who, text in ((unscoped, "unscoped"), (domain, "domain-scoped"),
                      (system, "system-scoped")):
        assert not e.authorize("open", who, {})
        with pytest.raises(Forbidden, match=f"needs a project-scoped token.*{text}"):
            e.enforce_scope("open", who)
        with pytest.raises(Forbidden, match="OS_PROJECT_NAME"):
            e.enforce("mine", who, {"project_id": None})
    assert e.authorize("open", ctx(["reader"]), {})
    assert e.authorize("mine", ctx(["reader"]), {"project_id": "p1"})
    assert e.authorize("open", RequestContext(user_id="u1", system_scope="all",
                                              roles=["admin"]), {})


def test_scope_survives_an_override_file(tmp_path: Path) -> None:
    """An operator's policy file changes the check string, not the scope it serves."""
    f = tmp_path / "policy.yaml"
    f.write_text('open: "@"\n')
    e = Enforcer(project_scoped([Rule("open", "!")]), f)
    assert e.authorize("open", ctx(["reader"]), {})
    assert not e.authorize("open", RequestContext(user_id="u1"), {})
