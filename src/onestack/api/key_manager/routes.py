"""Barbican v1 route table, served at /key-manager."""

from __future__ import annotations

from typing import Any

from onestack.api.common.routing import Route, ServiceApi
from onestack.api.key_manager import containers as c
from onestack.api.key_manager import misc
from onestack.api.key_manager import secrets as s
from onestack.api.key_manager.common import (
    container_target,
    order_target,
    own_target,
    project_target,
    secret_target,
)
from onestack.api.key_manager.policies import RULES
from onestack.api.key_manager.views import barbican_fault
from onestack.core.identity.bootstrap import ServiceEntry

R = Route
SECRET, CONTAINER = "/v1/secrets/{secret_id}", "/v1/containers/{container_id}"
ORDER, QUOTA = "/v1/orders/{order_id}", "/v1/project-quotas/{project_id}"


def _acl(path: str, kind: str, target: Any) -> list[Route]:
    rule = f"{kind}_acls"
    return [R("GET", f"{path}/acl", misc.get_acl, f"{rule}:get", target=target),
            R("PUT", f"{path}/acl", misc.put_acl, f"{rule}:put_patch", target=target),
            R("PATCH", f"{path}/acl", misc.patch_acl, f"{rule}:put_patch", target=target),
            R("DELETE", f"{path}/acl", misc.delete_acl, f"{rule}:delete", target=target)]


ROUTES: list[Route] = [
    R("GET", "/", misc.versions, auth=False),
    R("GET", "/v1", misc.version, auth=False),
    R("POST", "/v1/secrets", s.create, "secrets:post", target=own_target),
    R("GET", "/v1/secrets", s.index, "secrets:get", target=own_target),
    R("GET", SECRET, s.show, "secret:get", target=secret_target),
    R("PUT", SECRET, s.upload, "secret:put", target=secret_target),
    R("DELETE", SECRET, s.delete, "secret:delete", target=secret_target),
    R("GET", f"{SECRET}/payload", s.payload, "secret:decrypt", target=secret_target),
    R("GET", f"{SECRET}/metadata", s.get_metadata, "secret_meta:get", target=secret_target),
    R("PUT", f"{SECRET}/metadata", s.put_metadata, "secret_meta:put", target=secret_target),
    R("POST", f"{SECRET}/metadata", s.add_metadatum, "secret_meta:post",
      target=secret_target),
    R("GET", f"{SECRET}/metadata/{{key}}", s.get_metadatum, "secret_meta:get",
      target=secret_target),
    R("PUT", f"{SECRET}/metadata/{{key}}", s.put_metadatum, "secret_meta:put",
      target=secret_target),
    R("DELETE", f"{SECRET}/metadata/{{key}}", s.delete_metadatum, "secret_meta:delete",
      target=secret_target),
    R("GET", f"{SECRET}/consumers", s.consumers, "secret_consumers:get",
      target=secret_target),
    R("POST", f"{SECRET}/consumers", s.add_consumer, "secret_consumers:post",
      target=secret_target),
    R("DELETE", f"{SECRET}/consumers", s.remove_consumer, "secret_consumers:delete",
      target=secret_target),
    *_acl(SECRET, "secret", secret_target),
    R("POST", "/v1/containers", c.create, "containers:post", target=own_target),
    R("GET", "/v1/containers", c.index, "containers:get", target=own_target),
    R("GET", CONTAINER, c.show, "container:get", target=container_target),
    R("DELETE", CONTAINER, c.delete, "container:delete", target=container_target),
    R("POST", f"{CONTAINER}/secrets", c.add_secret, "container_secret:post",
      target=container_target),
    R("DELETE", f"{CONTAINER}/secrets", c.remove_secret, "container_secret:delete",
      target=container_target),
    R("GET", f"{CONTAINER}/consumers", c.consumers, "container_consumers:get",
      target=container_target),
    R("POST", f"{CONTAINER}/consumers", c.add_consumer, "container_consumers:post",
      target=container_target),
    R("DELETE", f"{CONTAINER}/consumers", c.remove_consumer, "container_consumers:delete",
      target=container_target),
    *_acl(CONTAINER, "container", container_target),
    R("POST", "/v1/orders", c.create_order, "orders:post", target=own_target),
    R("GET", "/v1/orders", c.orders, "orders:get", target=own_target),
    R("GET", ORDER, c.show_order, "order:get", target=order_target),
    R("DELETE", ORDER, c.delete_order, "order:delete", target=order_target),
    R("GET", "/v1/quotas", misc.quotas, "quotas:get", target=own_target),
    R("GET", "/v1/project-quotas", misc.project_quotas, "project_quotas:get",
      target=own_target),
    R("GET", QUOTA, misc.project_quota, "project_quotas:get", target=project_target),
    R("PUT", QUOTA, misc.put_project_quota, "project_quotas:put", target=project_target),
    R("DELETE", QUOTA, misc.delete_project_quota, "project_quotas:delete",
      target=project_target),
    R("GET", "/v1/secret-stores", misc.stores, "secretstores:get", target=own_target),
    R("GET", "/v1/secret-stores/global-default", misc.global_default,
      "secretstores:get_global_default", target=own_target),
    R("GET", "/v1/secret-stores/{store_id}", misc.store, "secretstore:get",
      target=own_target),
]

SERVICE = ServiceApi(name="key_manager", prefix="/key-manager", routes=ROUTES,
                     render_fault=barbican_fault)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    return [ServiceEntry("key-manager", "barbican", f"{base_url}/key-manager")]


async def bootstrap(runtime: Any, progress: Any = lambda _m: None) -> None:
    """The master key file, made at first start (mode 0600) if there is none."""
    where = runtime.key_manager.keyring.ensure()
    progress(f"key manager master key: {where}")


__all__ = ["RULES", "SERVICE", "bootstrap", "catalog_entries"]
