"""Policy: oslo.policy's check language, defaults per service, overridable by a YAML file.

Rules are parsed once. ``enforce`` is the one place a request is authorized; each route
names its rule in its service's route table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from onestack.context import RequestContext
from onestack.errors import ConfigError, Forbidden

Check = Callable[[dict[str, Any], Mapping[str, Any], "Enforcer"], bool]
_MISSING = object()
_SUBST = re.compile(r"^%\((?P<key>[^)]+)\)s$")


def _true(_c: dict[str, Any], _t: Mapping[str, Any], _e: Enforcer) -> bool:
    return True


def _false(_c: dict[str, Any], _t: Mapping[str, Any], _e: Enforcer) -> bool:
    return False


def _lookup(target: Mapping[str, Any], key: str) -> Any:
    if key in target:
        return target[key]
    value: Any = target
    for part in key.split("."):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return _MISSING
    return value


def _atom(token: str) -> Check:
    if token == "@":
        return _true
    if token == "!":
        return _false
    if ":" not in token:
        raise ConfigError(f"bad policy check {token!r}: expected kind:match")
    kind, match = token.split(":", 1)
    if kind == "rule":
        return lambda c, t, e: e.check_rule(match, c, t)
    if kind == "role":
        wanted = match.lower()
        return lambda c, t, e: wanted in c["_roles_lower"]
    subst = _SUBST.match(match)

    def resolve(target: Mapping[str, Any]) -> Any:
        return _lookup(target, subst.group("key")) if subst else match

    if kind.startswith(("'", '"')) and kind.endswith(kind[0]):
        literal = kind[1:-1]
        return lambda c, t, e: str(resolve(t)) == literal
    if kind in ("None", "True", "False"):
        const = {"None": None, "True": True, "False": False}[kind]
        return lambda c, t, e: resolve(t) is const if const is None else resolve(t) == const

    def generic(c: dict[str, Any], t: Mapping[str, Any], _e: Enforcer) -> bool:
        value = resolve(t)
        if value is _MISSING or value is None:
            return False
        have = c.get(kind)
        if kind == "is_admin":
            return bool(have) == (str(value).lower() in ("1", "true"))
        if isinstance(have, list):
            return str(value) in [str(x) for x in have]
        return have is not None and str(have) == str(value)

    return generic


def _tokenize(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.split():
        tok = raw
        while tok.startswith("("):
            out.append("(")
            tok = tok[1:]
        trailing = 0
        while tok.endswith(")") and not tok.endswith(")s"):
            trailing += 1
            tok = tok[:-1]
        if tok:
            out.append(tok)
        out.extend(")" * trailing)
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0

    def parse(self) -> Check:
        if not self.tokens:
            return _true
        check = self._or()
        if self.pos != len(self.tokens):
            raise ConfigError(f"cannot parse policy {self.text!r}")
        return check

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> Check:
        parts = [self._and()]
        while self._peek() == "or":
            self.pos += 1
            parts.append(self._and())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: any(p(c, t, e) for p in parts)

    def _and(self) -> Check:
        parts = [self._not()]
        while self._peek() == "and":
            self.pos += 1
            parts.append(self._not())
        if len(parts) == 1:
            return parts[0]
        return lambda c, t, e: all(p(c, t, e) for p in parts)

    def _not(self) -> Check:
        if self._peek() == "not":
            self.pos += 1
            inner = self._not()
            return lambda c, t, e: not inner(c, t, e)
        return self._atom()

    def _atom(self) -> Check:
        tok = self._peek()
        if tok is None:
            raise ConfigError(f"policy {self.text!r} ends too early")
        self.pos += 1
        if tok == "(":
            inner = self._or()
            if self._peek() != ")":
                raise ConfigError(f"unbalanced parentheses in policy {self.text!r}")
            self.pos += 1
            return inner
        return _atom(tok)


def parse(text: str) -> Check:
    return _Parser(text).parse()


@dataclass
class Rule:
    name: str
    check_str: str
    description: str = ""
    # The token scopes the rule serves (oslo.policy's scope_types): ("project",) for a
    # project's resources. None: any scope. A caller of another scope is refused before the
    # check string is looked at (admins excepted), so a token without a project never acts
    # on the pseudo-project "".
    scope_types: tuple[str, ...] | None = None


def project_scoped(rules: list[Rule]) -> list[Rule]:
    """The rules, each serving project-scoped tokens only (Nova, Cinder, Glance, Neutron)."""
    for rule in rules:
        rule.scope_types = ("project",)
    return rules


class Enforcer:
    def __init__(self, defaults: list[Rule], override_file: str | Path | None = None) -> None:
        self.rules: dict[str, Rule] = {r.name: r for r in defaults}
        if override_file:
            self._load_overrides(Path(override_file))
        self._scopes = {r.name: r.scope_types for r in defaults if r.scope_types}
        self._compiled = {name: parse(rule.check_str) for name, rule in self.rules.items()}

    def _load_overrides(self, path: Path) -> None:
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read policy file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"policy file {path} must map rule names to check strings")
        for name, check in data.items():
            self.rules[str(name)] = Rule(str(name), str(check))

    def check_rule(self, name: str, creds: dict[str, Any], target: Mapping[str, Any]) -> bool:
        check = self._compiled.get(name)
        return bool(check and check(creds, target, self))

    @staticmethod
    def credentials(ctx: RequestContext) -> dict[str, Any]:
        creds = ctx.policy_credentials()
        creds["_roles_lower"] = {r.lower() for r in ctx.roles}
        return creds

    def scope_refusal(self, rule: str, ctx: RequestContext) -> str | None:
        """Why the caller's token scope cannot serve ``rule`` (None: it can). Admins pass:
        a system-scoped admin still lists and manages every project's resources."""
        scopes = self._scopes.get(rule)
        if not scopes or ctx.is_admin or ctx.scope in scopes or ctx.has_admin_role:
            return None
        wanted = " or ".join(scopes)
        return (f"The action {rule} needs a {wanted}-scoped token, and this token is "
                f"{ctx.scope_text}. Authenticate with a {wanted} scope (e.g. set "
                f"OS_PROJECT_NAME and OS_PROJECT_DOMAIN_NAME) on which you hold a role.")

    def authorize(self, rule: str, ctx: RequestContext, target: Mapping[str, Any]) -> bool:
        if ctx.is_admin:
            return True
        if rule not in self._compiled:
            raise ConfigError(f"no policy rule named {rule}")
        if self.scope_refusal(rule, ctx) is not None:
            return False
        return self.check_rule(rule, self.credentials(ctx), target)

    def enforce_scope(self, rule: str, ctx: RequestContext) -> None:
        """Refuse a token of the wrong scope, before a route's target looks anything up
        (an unscoped token learns nothing, not even whether an id exists)."""
        refusal = self.scope_refusal(rule, ctx)
        if refusal is not None:
            raise Forbidden(refusal)

    def enforce(self, rule: str, ctx: RequestContext, target: Mapping[str, Any]) -> None:
        self.enforce_scope(rule, ctx)
        if not self.authorize(rule, ctx, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {rule}.")
