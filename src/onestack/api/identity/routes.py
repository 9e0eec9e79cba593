"""Keystone v3 route table: method, path, handler, policy rule."""

from __future__ import annotations

from onestack.api.common.faults import keystone_fault
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.identity import (
    catalog,
    credentials,
    domain_config,
    endpoint_groups,
    limits,
    oauth1,
    policy_blobs,
    resources,
    roles,
    targets,
    tokens,
    trusts,
    users,
)
from onestack.api.identity.policies import RULES
from onestack.core.identity.bootstrap import ServiceEntry

R = Route
I = "identity:"  # noqa: E741

_TRUSTS = "/v3/OS-TRUST/trusts"
_TRUST = _TRUSTS + "/{trust_id}"
_REG_LIMIT = "/v3/registered_limits/{registered_limit_id}"
_GRANT_PATHS = [
    "/v3/projects/{project_id}/users/{user_id}/roles",
    "/v3/projects/{project_id}/groups/{group_id}/roles",
    "/v3/domains/{domain_id}/users/{user_id}/roles",
    "/v3/domains/{domain_id}/groups/{group_id}/roles",
    "/v3/OS-INHERIT/domains/{domain_id}/users/{user_id}/roles",
    "/v3/OS-INHERIT/domains/{domain_id}/groups/{group_id}/roles",
    "/v3/OS-INHERIT/projects/{project_id}/users/{user_id}/roles",
    "/v3/OS-INHERIT/projects/{project_id}/groups/{group_id}/roles",
]


def _endpoint_filter_routes() -> list[Route]:
    eg, grp = endpoint_groups, "/v3/OS-EP-FILTER/endpoint_groups"
    one = grp + "/{endpoint_group_id}"
    proj = "/v3/OS-EP-FILTER/projects/{project_id}"
    return [
        R("POST", grp, eg.create_group, I + "create_endpoint_group"),
        R("GET", grp, eg.list_groups, I + "list_endpoint_groups"),
        R("GET", one, eg.get_group, I + "get_endpoint_group"),
        R("PATCH", one, eg.update_group, I + "update_endpoint_group"),
        R("DELETE", one, eg.delete_group, I + "delete_endpoint_group"),
        R("GET", one + "/endpoints", eg.group_endpoints,
          I + "list_endpoints_associated_with_endpoint_group"),
        R("GET", one + "/projects", eg.group_projects,
          I + "list_projects_associated_with_endpoint_group"),
        R("PUT", one + "/projects/{project_id}", eg.associate,
          I + "add_endpoint_group_to_project"),
        R("GET", one + "/projects/{project_id}", eg.check,
          I + "get_endpoint_group_in_project"),
        R("DELETE", one + "/projects/{project_id}", eg.dissociate,
          I + "remove_endpoint_group_from_project"),
        R("GET", proj + "/endpoint_groups", eg.project_groups,
          I + "list_endpoint_groups_for_project"),
        R("GET", proj + "/endpoints", eg.project_endpoints, I + "list_endpoints_for_project"),
        R("PUT", proj + "/endpoints/{endpoint_id}", eg.associate,
          I + "add_endpoint_to_project"),
        R("GET", proj + "/endpoints/{endpoint_id}", eg.check, I + "check_endpoint_in_project"),
        R("DELETE", proj + "/endpoints/{endpoint_id}", eg.dissociate,
          I + "remove_endpoint_from_project"),
        R("GET", "/v3/OS-EP-FILTER/endpoints/{endpoint_id}/projects", eg.endpoint_projects,
          I + "list_projects_for_endpoint"),
    ]


def _domain_config_routes() -> list[Route]:
    dc, base = domain_config, "/v3/domains/{domain_id}/config"
    out = [R("GET", "/v3/domains/config/default", dc.get_default,
             I + "get_domain_config_default"),
           R("GET", "/v3/domains/config/{group}/default", dc.get_default,
             I + "get_domain_config_default"),
           R("GET", "/v3/domains/config/{group}/{option}/default", dc.get_default,
             I + "get_domain_config_default"),
           R("PUT", base, dc.create, I + "create_domain_config")]
    for path in (base, base + "/{group}", base + "/{group}/{option}"):
        out += [R("GET", path, dc.get, I + "get_domain_config"),
                R("PATCH", path, dc.update, I + "update_domain_config"),
                R("DELETE", path, dc.delete, I + "delete_domain_config")]
    return out


def _grant_routes() -> list[Route]:
    out: list[Route] = []
    for base in _GRANT_PATHS:
        suffix = "/inherited_to_projects" if "OS-INHERIT" in base else ""
        one = f"{base}/{{role_id}}{suffix}"
        out += [
            R("PUT", one, roles.put_grant, I + "create_grant", target=targets.grant),
            R("GET", one, roles.check_grant, I + "check_grant", target=targets.grant),
            R("DELETE", one, roles.delete_grant, I + "revoke_grant", target=targets.grant),
            R("GET", base + suffix, roles.list_grants, I + "list_grants", target=targets.grant),
        ]
    for actor in ("users", "groups"):
        kind = actor[:-1]
        one = f"/v3/system/{actor}/{{{kind}_id}}/roles/{{role_id}}"
        out += [
            R("PUT", one, roles.put_grant, I + f"create_system_grant_for_{kind}"),
            R("GET", one, roles.check_grant, I + f"check_system_grant_for_{kind}"),
            R("DELETE", one, roles.delete_grant, I + f"revoke_system_grant_for_{kind}"),
            R("GET", f"/v3/system/{actor}/{{{kind}_id}}/roles", roles.list_grants,
              I + f"list_system_grants_for_{kind}"),
        ]
    return out


ROUTES: list[Route] = [
    R("GET", "/", tokens.versions, auth=False),
    R("GET", "/v3", tokens.version_v3, auth=False),
    # tokens and the auth helpers
    R("POST", "/v3/auth/tokens", tokens.issue, auth=False),
    R("GET", "/v3/auth/tokens", tokens.validate),
    R("DELETE", "/v3/auth/tokens", tokens.revoke),
    R("GET", "/v3/auth/catalog", tokens.auth_catalog, I + "get_auth_catalog"),
    R("GET", "/v3/auth/projects", tokens.auth_projects, I + "get_auth_projects"),
    R("GET", "/v3/auth/domains", tokens.auth_domains, I + "get_auth_domains"),
    R("GET", "/v3/auth/system", tokens.auth_system, I + "get_auth_system"),
    # domains
    R("POST", "/v3/domains", resources.create_domain, I + "create_domain"),
    R("GET", "/v3/domains", resources.list_domains, I + "list_domains", target=targets.listing),
    R("GET", "/v3/domains/{domain_id}", resources.get_domain, I + "get_domain"),
    R("PATCH", "/v3/domains/{domain_id}", resources.update_domain, I + "update_domain"),
    R("DELETE", "/v3/domains/{domain_id}", resources.delete_domain, I + "delete_domain"),
    # projects and tags
    R("POST", "/v3/projects", resources.create_project, I + "create_project",
      target=targets.project_create),
    R("GET", "/v3/projects", resources.list_projects, I + "list_projects",
      target=targets.listing),
    R("GET", "/v3/projects/{project_id}", resources.get_project, I + "get_project",
      target=targets.project),
    R("PATCH", "/v3/projects/{project_id}", resources.update_project, I + "update_project",
      target=targets.project),
    R("DELETE", "/v3/projects/{project_id}", resources.delete_project, I + "delete_project",
      target=targets.project),
    R("GET", "/v3/projects/{project_id}/tags", resources.list_project_tags,
      I + "list_project_tags"),
    R("PUT", "/v3/projects/{project_id}/tags", resources.set_project_tags,
      I + "update_project_tags"),
    R("DELETE", "/v3/projects/{project_id}/tags", resources.delete_project_tags,
      I + "delete_project_tags"),
    R("GET", "/v3/projects/{project_id}/tags/{tag}", resources.check_project_tag,
      I + "get_project_tag"),
    R("PUT", "/v3/projects/{project_id}/tags/{tag}", resources.add_project_tag,
      I + "create_project_tag"),
    R("DELETE", "/v3/projects/{project_id}/tags/{tag}", resources.delete_project_tag,
      I + "delete_project_tag"),
    # users
    R("POST", "/v3/users", users.create_user, I + "create_user", target=targets.user_create),
    R("GET", "/v3/users", users.list_users, I + "list_users", target=targets.listing),
    R("GET", "/v3/users/{user_id}", users.get_user, I + "get_user", target=targets.user),
    R("PATCH", "/v3/users/{user_id}", users.update_user, I + "update_user",
      target=targets.user),
    R("DELETE", "/v3/users/{user_id}", users.delete_user, I + "delete_user",
      target=targets.user),
    R("POST", "/v3/users/{user_id}/password", users.change_password, auth=False),
    R("GET", "/v3/users/{user_id}/groups", users.list_user_groups,
      I + "list_groups_for_user"),
    R("GET", "/v3/users/{user_id}/projects", users.list_user_projects,
      I + "list_user_projects", target=targets.user),
    # groups
    R("POST", "/v3/groups", users.create_group, I + "create_group",
      target=targets.group_create),
    R("GET", "/v3/groups", users.list_groups, I + "list_groups", target=targets.listing),
    R("GET", "/v3/groups/{group_id}", users.get_group, I + "get_group", target=targets.group),
    R("PATCH", "/v3/groups/{group_id}", users.update_group, I + "update_group",
      target=targets.group),
    R("DELETE", "/v3/groups/{group_id}", users.delete_group, I + "delete_group",
      target=targets.group),
    R("GET", "/v3/groups/{group_id}/users", users.list_group_users,
      I + "list_users_in_group", target=targets.group),
    R("PUT", "/v3/groups/{group_id}/users/{user_id}", users.add_member,
      I + "add_user_to_group", target=targets.group),
    R("GET", "/v3/groups/{group_id}/users/{user_id}", users.check_member,
      I + "check_user_in_group", target=targets.group),
    R("DELETE", "/v3/groups/{group_id}/users/{user_id}", users.remove_member,
      I + "remove_user_from_group", target=targets.group),
    # roles and implied roles
    R("POST", "/v3/roles", roles.create_role, I + "create_role"),
    R("GET", "/v3/roles", roles.list_roles, I + "list_roles"),
    R("GET", "/v3/roles/{role_id}", roles.get_role, I + "get_role", target=targets.role),
    R("PATCH", "/v3/roles/{role_id}", roles.update_role, I + "update_role"),
    R("DELETE", "/v3/roles/{role_id}", roles.delete_role, I + "delete_role"),
    R("GET", "/v3/roles/{prior_role_id}/implies", roles.list_implied,
      I + "list_implied_roles"),
    R("PUT", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.create_implied,
      I + "create_implied_role"),
    R("GET", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.get_implied,
      I + "get_implied_role"),
    R("DELETE", "/v3/roles/{prior_role_id}/implies/{implied_role_id}", roles.delete_implied,
      I + "delete_implied_role"),
    R("GET", "/v3/role_inferences", roles.list_inferences, I + "list_role_inference_rules"),
    R("GET", "/v3/role_assignments", roles.list_assignments, I + "list_role_assignments",
      target=targets.assignments),
    *_grant_routes(),
    # catalog
    R("POST", "/v3/regions", catalog.create_region, I + "create_region"),
    R("GET", "/v3/regions", catalog.list_regions, I + "list_regions"),
    R("PUT", "/v3/regions/{region_id}", catalog.create_region, I + "create_region"),
    R("GET", "/v3/regions/{region_id}", catalog.get_region, I + "get_region"),
    R("PATCH", "/v3/regions/{region_id}", catalog.update_region, I + "update_region"),
    R("DELETE", "/v3/regions/{region_id}", catalog.delete_region, I + "delete_region"),
    R("POST", "/v3/services", catalog.create_service, I + "create_service"),
    R("GET", "/v3/services", catalog.list_services, I + "list_services"),
    R("GET", "/v3/services/{service_id}", catalog.get_service, I + "get_service"),
    R("PATCH", "/v3/services/{service_id}", catalog.update_service, I + "update_service"),
    R("DELETE", "/v3/services/{service_id}", catalog.delete_service, I + "delete_service"),
    R("POST", "/v3/endpoints", catalog.create_endpoint, I + "create_endpoint"),
    R("GET", "/v3/endpoints", catalog.list_endpoints, I + "list_endpoints"),
    R("GET", "/v3/endpoints/{endpoint_id}", catalog.get_endpoint, I + "get_endpoint"),
    R("PATCH", "/v3/endpoints/{endpoint_id}", catalog.update_endpoint, I + "update_endpoint"),
    R("DELETE", "/v3/endpoints/{endpoint_id}", catalog.delete_endpoint,
      I + "delete_endpoint"),
    # credentials
    R("POST", "/v3/users/{user_id}/application_credentials", credentials.create_app_cred,
      I + "create_application_credential"),
    R("GET", "/v3/users/{user_id}/application_credentials", credentials.list_app_creds,
      I + "list_application_credentials"),
    R("GET", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
      credentials.get_app_cred, I + "get_application_credential"),
    R("DELETE", "/v3/users/{user_id}/application_credentials/{application_credential_id}",
      credentials.delete_app_cred, I + "delete_application_credential"),
    R("GET", "/v3/users/{user_id}/access_rules", credentials.list_access_rules,
      I + "list_access_rules"),
    R("GET", "/v3/users/{user_id}/access_rules/{access_rule_id}", credentials.get_access_rule,
      I + "get_access_rule"),
    R("DELETE", "/v3/users/{user_id}/access_rules/{access_rule_id}",
      credentials.delete_access_rule, I + "delete_access_rule"),
    R("POST", "/v3/credentials", credentials.create_credential, I + "create_credential",
      target=credentials.create_target),
    R("GET", "/v3/credentials", credentials.list_credentials, I + "list_credentials"),
    R("GET", "/v3/credentials/{credential_id}", credentials.get_credential,
      I + "get_credential", target=credentials.credential_target),
    R("PATCH", "/v3/credentials/{credential_id}", credentials.update_credential,
      I + "update_credential", target=credentials.credential_target),
    R("DELETE", "/v3/credentials/{credential_id}", credentials.delete_credential,
      I + "delete_credential", target=credentials.credential_target),
    R("POST", "/v3/users/{user_id}/credentials/OS-EC2", credentials.ec2_create,
      I + "ec2_create_credential"),
    R("GET", "/v3/users/{user_id}/credentials/OS-EC2", credentials.ec2_list,
      I + "ec2_list_credentials"),
    R("GET", "/v3/users/{user_id}/credentials/OS-EC2/{access}", credentials.ec2_get,
      I + "ec2_get_credential"),
    R("DELETE", "/v3/users/{user_id}/credentials/OS-EC2/{access}", credentials.ec2_delete,
      I + "ec2_delete_credential"),
    # OS-TRUST
    R("POST", _TRUSTS, trusts.create_trust, I + "create_trust", target=trusts.create_target),
    R("GET", _TRUSTS, trusts.list_trusts, I + "list_trusts", target=trusts.list_target),
    R("GET", _TRUST, trusts.get_trust, I + "get_trust", target=trusts.trust_target),
    R("DELETE", _TRUST, trusts.delete_trust, I + "delete_trust", target=trusts.trust_target),
    R("GET", _TRUST + "/roles", trusts.list_trust_roles, I + "list_roles_for_trust",
      target=trusts.trust_target),
    R("GET", _TRUST + "/roles/{role_id}", trusts.get_trust_role, I + "get_role_for_trust",
      target=trusts.trust_target),
    # unified limits
    R("POST", "/v3/registered_limits", limits.create_registered,
      I + "create_registered_limits"),
    R("GET", "/v3/registered_limits", limits.list_registered, I + "list_registered_limits"),
    R("GET", _REG_LIMIT, limits.get_registered, I + "get_registered_limit"),
    R("PATCH", _REG_LIMIT, limits.update_registered, I + "update_registered_limit"),
    R("DELETE", _REG_LIMIT, limits.delete_registered, I + "delete_registered_limit"),
    R("GET", "/v3/limits/model", limits.limit_model, I + "get_limit_model"),
    R("POST", "/v3/limits", limits.create_limits, I + "create_limits"),
    R("GET", "/v3/limits", limits.list_limits, I + "list_limits"),
    R("GET", "/v3/limits/{limit_id}", limits.get_limit, I + "get_limit",
      target=limits.limit_target),
    R("PATCH", "/v3/limits/{limit_id}", limits.update_limit, I + "update_limit"),
    R("DELETE", "/v3/limits/{limit_id}", limits.delete_limit, I + "delete_limit"),
    *_endpoint_filter_routes(),
    *_domain_config_routes(),
    # the deprecated policy blob store
    R("POST", "/v3/policies", policy_blobs.create, I + "create_policy"),
    R("GET", "/v3/policies", policy_blobs.list_, I + "list_policies"),
    R("GET", "/v3/policies/{policy_id}", policy_blobs.get, I + "get_policy"),
    R("PATCH", "/v3/policies/{policy_id}", policy_blobs.update, I + "update_policy"),
    R("DELETE", "/v3/policies/{policy_id}", policy_blobs.delete, I + "delete_policy"),
    # OS-OAUTH1 consumers
    R("POST", oauth1.BASE, oauth1.create, I + "create_consumer"),
    R("GET", oauth1.BASE, oauth1.list_, I + "list_consumers"),
    R("GET", oauth1.BASE + "/{consumer_id}", oauth1.get, I + "get_consumer"),
    R("PATCH", oauth1.BASE + "/{consumer_id}", oauth1.update, I + "update_consumer"),
    R("DELETE", oauth1.BASE + "/{consumer_id}", oauth1.delete, I + "delete_consumer"),
]

SERVICE = ServiceApi(name="identity", prefix="/identity", routes=ROUTES,
                     render_fault=keystone_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("identity", "keystone", f"{base_url}/identity")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
