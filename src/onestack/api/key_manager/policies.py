"""Barbican's default policy (``barbican/common/policies/``), with its legacy roles served
beside Keystone's personas: ``creator`` acts as ``member``, ``observer`` as ``reader``.
A secret or container is its project's: members and admins of the project use it, readers
read it, unless its ACL turned project access off (then its creator, the project's admins
and the ACL's users only); the ACL's users read it from any project."""

from __future__ import annotations

from onestack.api.common.policy import Rule, project_scoped

MEMBER = "(role:member or role:creator or role:admin)"
READER = f"(role:reader or role:observer or {MEMBER[1:-1]})"
SERVICE_ADMIN = "(role:admin or role:key-manager:service-admin)"


def _kind_rules(kind: str) -> list[Rule]:
    t = f"target.{kind}"
    return [
        Rule(f"{kind}_project_match", f"project_id:%({t}.project_id)s"),
        Rule(f"{kind}_project_reader", f"{READER} and rule:{kind}_project_match"),
        Rule(f"{kind}_project_member", f"{MEMBER} and rule:{kind}_project_match"),
        Rule(f"{kind}_project_admin", f"role:admin and rule:{kind}_project_match"),
        Rule(f"{kind}_owner", f"user_id:%({t}.creator_id)s"),
        Rule(f"{kind}_is_not_private", f"True:%({t}.read_project_access)s"),
        Rule(f"{kind}_acl_read", f"'read':%({t}.read)s"),
        # who reads it, and who changes it
        Rule(f"{kind}_read", f"rule:{kind}_project_admin or (rule:{kind}_project_member and "
                             f"rule:{kind}_owner) or (rule:{kind}_project_reader and "
                             f"rule:{kind}_is_not_private) or rule:{kind}_acl_read"),
        Rule(f"{kind}_write", f"rule:{kind}_project_admin or (rule:{kind}_project_member and "
                              f"rule:{kind}_owner) or (rule:{kind}_project_member and "
                              f"rule:{kind}_is_not_private)"),
        # consumers: the users who may read it register their use of it
        Rule(f"{kind}_use", f"rule:{kind}_write or rule:{kind}_acl_read"),
    ]


READ_SECRET, WRITE_SECRET, USE_SECRET = ("rule:secret_read", "rule:secret_write",
                                         "rule:secret_use")
READ_CONTAINER, WRITE_CONTAINER, USE_CONTAINER = ("rule:container_read",
                                                  "rule:container_write",
                                                  "rule:container_use")
ORDER = "project_id:%(target.order.project_id)s"

RULES: list[Rule] = project_scoped([
    *_kind_rules("secret"), *_kind_rules("container"),
    # a cloud admin sees and deletes any project's secret, never reads its payload
    Rule("secret:get", f"role:admin or {READ_SECRET}"), Rule("secret:decrypt", READ_SECRET),
    Rule("secret:put", WRITE_SECRET), Rule("secret:delete", f"role:admin or {WRITE_SECRET}"),
    Rule("secrets:post", MEMBER), Rule("secrets:get", READER),
    Rule("secret_meta:get", READ_SECRET), Rule("secret_meta:post", WRITE_SECRET),
    Rule("secret_meta:put", WRITE_SECRET), Rule("secret_meta:delete", WRITE_SECRET),
    Rule("secret_acls:get", READ_SECRET), Rule("secret_acls:put_patch", WRITE_SECRET),
    Rule("secret_acls:delete", WRITE_SECRET),
    Rule("secret_consumers:get", READ_SECRET), Rule("secret_consumers:post", USE_SECRET),
    Rule("secret_consumers:delete", USE_SECRET),
    Rule("containers:post", MEMBER), Rule("containers:get", READER),
    Rule("container:get", READ_CONTAINER), Rule("container:delete", WRITE_CONTAINER),
    Rule("container_secret:post", WRITE_CONTAINER),
    Rule("container_secret:delete", WRITE_CONTAINER),
    Rule("container_acls:get", READ_CONTAINER),
    Rule("container_acls:put_patch", WRITE_CONTAINER),
    Rule("container_acls:delete", WRITE_CONTAINER),
    Rule("container_consumers:get", READ_CONTAINER),
    Rule("container_consumers:post", USE_CONTAINER),
    Rule("container_consumers:delete", USE_CONTAINER),
    Rule("orders:post", MEMBER), Rule("orders:get", READER),
    Rule("order:get", f"{READER} and {ORDER}"), Rule("order:delete", f"{MEMBER} and {ORDER}"),
    Rule("quotas:get", READER),
    Rule("project_quotas:get", SERVICE_ADMIN), Rule("project_quotas:put", SERVICE_ADMIN),
    Rule("project_quotas:delete", SERVICE_ADMIN),
    Rule("secretstores:get", READER), Rule("secretstores:get_global_default", READER),
    Rule("secretstore:get", READER),
])
