"""Swift v1 route table: method, path, handler.

Every route is served without a required token (``auth=False``): Swift decides per request
whether the caller owns the account, is a reseller admin, matches a container ACL
(``.r:*`` needs no token at all) or holds a valid temp URL. That decision is in the core
(``core/object_store/acl.py``); the one policy rule, ``object_store:reseller_admin``, says
who acts on every account.
"""

from __future__ import annotations

from onestack.api.common.policy import Rule
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.object_store import accounts, containers, objects, web
from onestack.api.object_store.common import prepare, response_headers, swift_fault
from onestack.core.identity.bootstrap import ServiceEntry

R = Route
ACCOUNT = "/v1/{account}"
CONTAINER = ACCOUNT + "/{container}"
OBJECT = CONTAINER + "/{object:path}"

RULES: list[Rule] = [
    Rule("object_store:reseller_admin", "role:ResellerAdmin",
         "Acts as the operator of every account (Swift's reseller_admin_role)."),
]

ROUTES: list[Route] = [
    R("GET", "/info", accounts.info, auth=False),
    R("GET", "/healthcheck", accounts.healthcheck, auth=False),
    R("GET", "/crossdomain.xml", web.crossdomain, auth=False),
    # accounts (PUT: extract-archive; POST/DELETE: bulk-delete)
    R("HEAD", ACCOUNT, accounts.head_account, auth=False),
    R("GET", ACCOUNT, accounts.list_containers, auth=False),
    R("POST", ACCOUNT, accounts.post_account, auth=False),
    R("PUT", ACCOUNT, accounts.put_account, auth=False),
    R("DELETE", ACCOUNT, accounts.delete_account, auth=False),
    # containers
    R("HEAD", CONTAINER, containers.head_container, auth=False),
    R("GET", CONTAINER, web.get_container, auth=False),  # staticweb, else the listing
    R("PUT", CONTAINER, containers.put_container, auth=False),
    R("POST", CONTAINER, containers.post_container, auth=False),
    R("DELETE", CONTAINER, containers.delete_container, auth=False),
    # objects (GET also answers HEAD)
    R("GET", OBJECT, web.get_object, auth=False),  # staticweb's pages around objects
    R("PUT", OBJECT, objects.put_object, auth=False),
    R("POST", OBJECT, objects.post_object, auth=False),
    R("COPY", OBJECT, objects.copy_object, auth=False),
    R("DELETE", OBJECT, objects.delete_object, auth=False),
]

SERVICE = ServiceApi(name="object_store", prefix="/object-storage", routes=ROUTES,
                     render_fault=swift_fault, response_headers=response_headers,
                     prepare=prepare)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("object-store", "swift",
                         f"{base_url}/object-storage/v1/AUTH_$(project_id)s")]


__all__ = ["RULES", "SERVICE", "catalog_entries"]
