"""Who may do what: account owners, resellers, container ACLs (Swift's keystoneauth rules).

X-Container-Read / X-Container-Write hold comma-separated elements:
``.r:<referrer>`` (``.r:*``: anyone, no token needed; ``.r:-host`` denies a host),
``.rlistings`` (referrers may also list the container), ``<project>:<user>`` with ids or
names and ``*`` wildcards, or a role name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlparse

from onestack.core.object_store.base import RESELLER_PREFIX
from onestack.errors import BadRequest, Forbidden, Unauthorized

_REFERRER_DESIGNATORS = (".r", ".ref", ".referer", ".referrer")


# Swift keystoneauth's operator_roles (DevStack: admin, member; Swift's own default also
# swiftoperator): they make the caller the account's owner. project_reader_roles: GET and
# HEAD on the account, never its owner (no ACLs or temp URL keys shown, no writes).
OPERATOR_ROLES = frozenset({"admin", "member", "swiftoperator"})
READER_ROLES = frozenset({"reader"})


@dataclass(frozen=True)
class TempUrlScope:
    """What a valid temp URL lets its request reach, as Swift's tempurl middleware scopes
    it: the signing key's account, and its container when a container key signed it."""

    account: str
    container: str | None = None

    def covers(self, account: str, container: str) -> bool:
        return account == self.account and self.container in (None, container)


@dataclass
class Caller:
    """The request's identity, as the object store sees it."""

    user_id: str | None = None
    user_name: str | None = None
    project_id: str | None = None
    project_name: str | None = None
    roles: list[str] = field(default_factory=list)
    reseller: bool = False  # ResellerAdmin: operator on every account
    referrer: str | None = None
    # Set when a valid temp URL authorizes the request: what it reaches.
    tempurl: TempUrlScope | None = None

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def _has(self, wanted: frozenset[str]) -> bool:
        return any(r.lower() in wanted for r in self.roles)

    def _project_account(self, account: str) -> bool:
        return (self.authenticated and self.project_id is not None
                and account == RESELLER_PREFIX + self.project_id)

    def owns(self, account: str) -> bool:
        """Swift's swift_owner: an operator role on the account's project (or reseller)."""
        if self.reseller:
            return True
        return self._project_account(account) and self._has(OPERATOR_ROLES)

    def reads(self, account: str) -> bool:
        """GET/HEAD anywhere in the account: its owners and the project's readers."""
        return self.owns(account) or (self._project_account(account)
                                      and self._has(READER_ROLES))

    def temp_url_covers(self, account: str, container: str) -> bool:
        return self.tempurl is not None and self.tempurl.covers(account, container)

    def deny(self, message: str = "") -> Exception:
        if not self.authenticated:
            return Unauthorized(message or "This server could not verify that you are "
                                "authorized to access the document you requested.")
        return Forbidden(message or "Access was denied to this resource.")


@dataclass(frozen=True)
class Acl:
    referrers: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    listings: bool = False


def parse_acl(value: str | None) -> Acl:
    """Parse a container ACL; BadRequest on an unknown designator or an empty referrer."""
    if not value:
        return Acl()
    referrers: list[str] = []
    groups: list[str] = []
    listings = False
    for raw in value.split(","):
        item = raw.strip()
        if not item:
            continue
        if item.startswith("."):
            if item == ".rlistings":
                listings = True
                continue
            designator, _, rest = item.partition(":")
            if designator not in _REFERRER_DESIGNATORS or not _:
                raise BadRequest(f"Unknown designator {designator!r} in ACL: {value!r}")
            rest = rest.strip()
            if not rest or rest == "-":
                raise BadRequest(f"No host/domain value after referrer designation in ACL: "
                                 f"{value!r}")
            referrers.append(rest)
        else:
            groups.append(item)
    return Acl(tuple(referrers), tuple(groups), listings)


def clean_acl(name: str, value: str) -> str:
    """Validate an ACL header value (400 when malformed); returns it stripped."""
    if name.lower() not in ("x-container-read", "x-container-write"):
        return value
    acl = parse_acl(value)
    if name.lower() == "x-container-write" and acl.referrers:
        raise BadRequest("Referrers not allowed in write ACL: " + repr(value))
    return value.strip()


def referrer_allowed(referrer: str | None, allowed: tuple[str, ...]) -> bool:
    """Swift's referrer_allowed: last matching rule wins; '*' matches everyone."""
    host = urlparse(referrer).hostname or "" if referrer else ""
    result = False
    for rule in allowed:
        negate = rule.startswith("-")
        pattern = rule[1:] if negate else rule
        if pattern == "*" or (host and (
                host == pattern or (pattern.startswith(".") and host.endswith(pattern)))):
            result = not negate
    return result


def group_allowed(caller: Caller, groups: tuple[str, ...]) -> bool:
    if not caller.authenticated or not groups:
        return False
    wanted = set(groups)
    for project in (caller.project_id, caller.project_name, "*"):
        for user in (caller.user_id, caller.user_name, "*"):
            if project and user and f"{project}:{user}" in wanted:
                return True
    lowered = {g.lower() for g in groups}
    return any(role.lower() in lowered for role in caller.roles)


def may_read_object(caller: Caller, account: str, container: str,
                    read_acl: str | None) -> bool:
    if caller.reads(account) or caller.temp_url_covers(account, container):
        return True
    acl = parse_acl(read_acl)
    return referrer_allowed(caller.referrer, acl.referrers) or group_allowed(caller, acl.groups)


def may_list(caller: Caller, account: str, read_acl: str | None) -> bool:
    if caller.reads(account):
        return True
    acl = parse_acl(read_acl)
    if acl.listings and referrer_allowed(caller.referrer, acl.referrers):
        return True
    return group_allowed(caller, acl.groups)


def may_write_object(caller: Caller, account: str, container: str,
                     write_acl: str | None) -> bool:
    if caller.owns(account) or caller.temp_url_covers(account, container):
        return True
    return group_allowed(caller, parse_acl(write_acl).groups)


def require_owner(caller: Caller, account: str) -> None:
    if not caller.owns(account):
        raise caller.deny()


def require_reader(caller: Caller, account: str) -> None:
    if not caller.reads(account):
        raise caller.deny()
