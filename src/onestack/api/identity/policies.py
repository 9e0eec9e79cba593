"""Keystone's default policy rules for the admin, member and reader personas."""

from __future__ import annotations

from onestack.api.common.policy import Rule

ADMIN = "rule:admin_required"
SYSTEM_READER = "(role:reader and system_scope:all)"
ADMIN_OR_READER = f"{ADMIN} or {SYSTEM_READER}"
ADMIN_OR_OWNER = f"{ADMIN} or {SYSTEM_READER} or user_id:%(target.user.id)s"
# Writes on a user's own credentials: a system reader reads them, it does not make or
# remove them (a key made for another user signs as that user).
ADMIN_OR_SELF = f"{ADMIN} or user_id:%(target.user.id)s"
ADMIN_OR_TARGET_PROJECT = f"{ADMIN} or {SYSTEM_READER} or project_id:%(target.project.id)s"
ADMIN_OR_CRED_OWNER = f"{ADMIN} or user_id:%(target.credential.user_id)s"
DOMAIN_READER = "(role:reader and domain_id:%(target.domain.id)s)"
TRUSTOR = "user_id:%(target.trust.trustor_user_id)s"
TRUSTEE = "user_id:%(target.trust.trustee_user_id)s"
TRUST_PARTY = f"{ADMIN_OR_READER} or {TRUSTOR} or {TRUSTEE}"


# The domain manager persona (Keystone 2024.2, SCS-0302): `manager` on a domain, with a token
# scoped to it, manages the users, projects and role assignments of that domain only, and
# grants only the roles below (never admin).
def manager_of(kind: str) -> str:
    return f"(role:manager and token.domain.id:%(target.{kind}.domain_id)s)"


MANAGER_LISTS = "(role:manager and token.domain.id:%(domain_id)s)"
MANAGER_MEMBERSHIP = ("(role:manager and token.domain.id:%(target.group.domain_id)s and "
                      "token.domain.id:%(target.user.domain_id)s)")
MANAGED_ROLE = ("(None:%(target.role.domain_id)s and ('manager':%(target.role.name)s or "
                "'member':%(target.role.name)s or 'reader':%(target.role.name)s))")
MANAGER_GRANT = ("(role:manager and (token.domain.id:%(target.user.domain_id)s or "
                 "token.domain.id:%(target.group.domain_id)s) and "
                 "(token.domain.id:%(target.project.domain_id)s or "
                 "token.domain.id:%(target.domain.id)s))")

BASE = [
    Rule("admin_required", "role:admin or is_admin:1"),
    Rule("service_role", "role:service"),
    Rule("service_or_admin", "rule:admin_required or rule:service_role"),
    Rule("owner", "user_id:%(user_id)s"),
    Rule("admin_or_owner", "rule:admin_required or rule:owner"),
    Rule("token_subject", "user_id:%(target.token.user_id)s"),
    Rule("admin_or_token_subject", "rule:admin_required or rule:token_subject"),
    Rule("service_admin_or_token_subject", "rule:service_or_admin or rule:token_subject"),
]


def _crud(kind: str, read: str, write: str = ADMIN, plural: str | None = None) -> list[Rule]:
    plural = plural or kind + "s"
    return [
        Rule(f"identity:get_{kind}", read),
        Rule(f"identity:list_{plural}", read),
        Rule(f"identity:create_{kind}", write),
        Rule(f"identity:update_{kind}", write),
        Rule(f"identity:delete_{kind}", write),
    ]


RULES: list[Rule] = [
    *BASE,
    Rule("identity:check_token", "rule:admin_or_token_subject or " + SYSTEM_READER),
    Rule("identity:validate_token", "rule:service_admin_or_token_subject or " + SYSTEM_READER),
    Rule("identity:revoke_token", "rule:admin_or_token_subject"),
    *_crud("domain", ADMIN_OR_READER),
    Rule("identity:get_domain",
         f"{ADMIN_OR_READER} or token.project.domain.id:%(target.domain.id)s or "
         f"{DOMAIN_READER}"),
    Rule("identity:list_domains", f"{ADMIN_OR_READER} or role:manager"),
    *_crud("project", f"{ADMIN_OR_READER} or {MANAGER_LISTS}",
           f"{ADMIN} or {manager_of('project')}"),
    Rule("identity:get_project", f"{ADMIN_OR_TARGET_PROJECT} or {manager_of('project')}"),
    Rule("identity:list_user_projects", f"{ADMIN_OR_OWNER} or {manager_of('user')}"),
    Rule("identity:list_project_tags", ADMIN_OR_TARGET_PROJECT),
    Rule("identity:get_project_tag", ADMIN_OR_TARGET_PROJECT),
    Rule("identity:update_project_tags", ADMIN),
    Rule("identity:create_project_tag", ADMIN),
    Rule("identity:delete_project_tag", ADMIN),
    Rule("identity:delete_project_tags", ADMIN),
    *_crud("user", f"{ADMIN_OR_READER} or {MANAGER_LISTS}", f"{ADMIN} or {manager_of('user')}"),
    Rule("identity:get_user", f"{ADMIN_OR_OWNER} or {manager_of('user')}"),
    Rule("identity:list_groups_for_user", ADMIN_OR_OWNER),
    Rule("identity:list_projects_for_user", ""),
    Rule("identity:list_domains_for_user", ""),
    Rule("identity:change_password", "user_id:%(target.user.id)s"),
    *_crud("group", f"{ADMIN_OR_READER} or {manager_of('group')}",
           f"{ADMIN} or {manager_of('group')}"),
    Rule("identity:list_groups", f"{ADMIN_OR_READER} or {MANAGER_LISTS}"),
    Rule("identity:list_users_in_group", f"{ADMIN_OR_READER} or {manager_of('group')}"),
    Rule("identity:add_user_to_group", f"{ADMIN} or {MANAGER_MEMBERSHIP}"),
    Rule("identity:remove_user_from_group", f"{ADMIN} or {MANAGER_MEMBERSHIP}"),
    Rule("identity:check_user_in_group", f"{ADMIN_OR_READER} or {MANAGER_MEMBERSHIP}"),
    *_crud("role", ADMIN_OR_READER),
    Rule("identity:list_roles", f"{ADMIN_OR_READER} or role:manager"),
    Rule("identity:get_role", f"{ADMIN_OR_READER} or (role:manager and {MANAGED_ROLE})"),
    *_crud("domain_role", ADMIN_OR_READER),
    Rule("identity:create_implied_role", ADMIN),
    Rule("identity:get_implied_role", ADMIN_OR_READER),
    Rule("identity:list_implied_roles", ADMIN_OR_READER),
    Rule("identity:list_role_inference_rules", ADMIN_OR_READER),
    Rule("identity:check_implied_role", ADMIN_OR_READER),
    Rule("identity:delete_implied_role", ADMIN),
    Rule("identity:check_grant", f"{ADMIN_OR_READER} or {MANAGER_GRANT}"),
    Rule("identity:list_grants", f"{ADMIN_OR_READER} or {MANAGER_GRANT}"),
    Rule("identity:create_grant", f"{ADMIN} or ({MANAGER_GRANT} and {MANAGED_ROLE})"),
    Rule("identity:revoke_grant", f"{ADMIN} or ({MANAGER_GRANT} and {MANAGED_ROLE})"),
    Rule("identity:check_system_grant_for_user", ADMIN_OR_READER),
    Rule("identity:list_system_grants_for_user", ADMIN_OR_READER),
    Rule("identity:create_system_grant_for_user", ADMIN),
    Rule("identity:revoke_system_grant_for_user", ADMIN),
    Rule("identity:check_system_grant_for_group", ADMIN_OR_READER),
    Rule("identity:list_system_grants_for_group", ADMIN_OR_READER),
    Rule("identity:create_system_grant_for_group", ADMIN),
    Rule("identity:revoke_system_grant_for_group", ADMIN),
    Rule("identity:list_role_assignments",
         f"{ADMIN_OR_READER} or (role:reader and domain_id:%(target.domain_id)s)"),
    Rule("identity:list_role_assignments_for_tree", ADMIN_OR_READER),
    *_crud("region", "", plural="regions"),
    Rule("identity:create_region", ADMIN),
    *_crud("service", ADMIN_OR_READER),
    *_crud("endpoint", ADMIN_OR_READER),
    *_crud("credential", ADMIN_OR_CRED_OWNER),
    Rule("identity:list_credentials", ""),
    Rule("identity:ec2_get_credential", ADMIN_OR_OWNER),
    Rule("identity:ec2_list_credentials", ADMIN_OR_OWNER),
    Rule("identity:ec2_create_credential", ADMIN_OR_SELF),
    Rule("identity:ec2_delete_credential", ADMIN_OR_SELF),
    Rule("identity:get_application_credential", ADMIN_OR_OWNER),
    Rule("identity:list_application_credentials", ADMIN_OR_OWNER),
    Rule("identity:create_application_credential", "user_id:%(target.user.id)s"),
    Rule("identity:delete_application_credential", ADMIN_OR_SELF),
    Rule("identity:get_access_rule", ADMIN_OR_OWNER),
    Rule("identity:list_access_rules", ADMIN_OR_OWNER),
    Rule("identity:delete_access_rule", ADMIN_OR_SELF),
    Rule("identity:get_auth_catalog", ""),
    Rule("identity:get_auth_projects", ""),
    Rule("identity:get_auth_domains", ""),
    Rule("identity:get_auth_system", ""),
    # OS-TRUST: the trustor makes and removes, both parties read; the unfiltered list is
    # the admins' (the trustor_user_id / trustee_user_id filters name the caller).
    Rule("identity:create_trust", "user_id:%(trust.trustor_user_id)s"),
    Rule("identity:list_trusts", TRUST_PARTY),
    Rule("identity:get_trust", TRUST_PARTY),
    Rule("identity:list_roles_for_trust", TRUST_PARTY),
    Rule("identity:get_role_for_trust", TRUST_PARTY),
    Rule("identity:delete_trust", f"{ADMIN} or {TRUSTOR}"),
    # unified limits: anyone reads the registered defaults and the model, a project its own
    # limits (the list is filtered to the caller's scope); the admin writes
    Rule("identity:get_limit_model", ""),
    Rule("identity:list_registered_limits", ""),
    Rule("identity:get_registered_limit", ""),
    Rule("identity:create_registered_limits", ADMIN),
    Rule("identity:update_registered_limit", ADMIN),
    Rule("identity:delete_registered_limit", ADMIN),
    Rule("identity:list_limits", ""),
    Rule("identity:get_limit", f"{ADMIN_OR_READER} or project_id:%(target.limit.project_id)s "
                               "or (role:reader and domain_id:%(target.limit.domain_id)s)"),
    Rule("identity:create_limits", ADMIN),
    Rule("identity:update_limit", ADMIN),
    Rule("identity:delete_limit", ADMIN),
    *_crud("policy", ADMIN_OR_READER, plural="policies"),
    *_crud("consumer", ADMIN_OR_READER),
    # domain-specific configuration: the admin's; system readers read
    Rule("identity:create_domain_config", ADMIN),
    Rule("identity:get_domain_config", ADMIN_OR_READER),
    Rule("identity:get_domain_config_default", ADMIN_OR_READER),
    Rule("identity:update_domain_config", ADMIN),
    Rule("identity:delete_domain_config", ADMIN),
    # OS-EP-FILTER: the admin's; system readers read
    *[Rule(f"identity:{name}", ADMIN_OR_READER) for name in (
        "list_endpoint_groups", "get_endpoint_group",
        "list_endpoints_associated_with_endpoint_group",
        "list_projects_associated_with_endpoint_group", "get_endpoint_group_in_project",
        "list_endpoint_groups_for_project", "list_endpoints_for_project",
        "check_endpoint_in_project", "list_projects_for_endpoint")],
    *[Rule(f"identity:{name}", ADMIN) for name in (
        "create_endpoint_group", "update_endpoint_group", "delete_endpoint_group",
        "add_endpoint_group_to_project", "remove_endpoint_group_from_project",
        "add_endpoint_to_project", "remove_endpoint_from_project")],
]
