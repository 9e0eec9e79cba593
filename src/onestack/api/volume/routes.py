"""Cinder v3 route table: method, path, handler, policy rule (Cinder's rule names);
microversions 3.0 to 3.67.

Every route is served both as ``/v3/{project}/...`` (the catalog's endpoint, as Cinder
registers it) and ``/v3/...`` (3.67: the project id is optional in URLs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onestack.api.common.faults import nova_fault
from onestack.api.common.microversions import Microversions
from onestack.api.common.policy import Rule, project_scoped
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.volume import (
    actions,
    admin_views,
    attachments,
    backups,
    encryption,
    group_types,
    messages,
    misc,
    qos,
    snapshots,
    transfers,
    types,
    volumes,
)
from onestack.api.volume.common import MAX_VERSION, MIN_VERSION, policy_target
from onestack.core.identity.bootstrap import ServiceEntry

MICROVERSIONS = Microversions("volume", MIN_VERSION, MAX_VERSION,
                              unversioned=("/", "", "/v3"))
ADMIN = "rule:admin_api"
READER = "rule:xena_system_admin_or_project_reader"
MEMBER = "rule:xena_system_admin_or_project_member"

# Cinder's defaults (cinder/policies/*.py): readers of a project read it, members change it,
# admins do anything. Every rule serves project-scoped tokens only. The target is the
# caller's project, or the project a quota path names (volume.common.policy_target);
# whether a volume, snapshot or attachment is the caller's project's is the core's lookup.
RULES: list[Rule] = project_scoped([
    Rule("context_is_admin", "role:admin"),
    Rule("admin_api", "role:admin"),
    Rule("xena_system_admin_or_project_member",
         "(role:admin) or (role:member and project_id:%(project_id)s)"),
    Rule("xena_system_admin_or_project_reader",
         "(role:admin) or (role:reader and project_id:%(project_id)s)"),
    *(Rule(name, ADMIN) for name in (
        "volume:force_delete", "volume_extension:volume_admin_actions:reset_status",
        "volume_extension:volume_admin_actions:force_delete",
        "volume_extension:volume_admin_actions:force_detach",
        "volume_extension:snapshot_admin_actions:reset_status",
        "volume_extension:types_manage", "volume_extension:types_extra_specs:create",
        "volume_extension:types_extra_specs:update",
        "volume_extension:types_extra_specs:delete",
        "volume_extension:volume_type_access:get_all_for_type",
        "volume_extension:volume_type_access:addProjectAccess",
        "volume_extension:quotas:update", "volume_extension:quotas:delete",
        "volume_extension:services:index", "volume_extension:services:update",
        "volume_extension:hosts", "volume_extension:volume_actions:upload_public",
        "scheduler_extension:scheduler_stats:get_pools",
        "volume_extension:volume_type_encryption:create",
        "volume_extension:volume_type_encryption:get",
        "volume_extension:volume_type_encryption:update",
        "volume_extension:volume_type_encryption:delete")),
    # no rule upstream: any project user
    *(Rule(name, "@") for name in (
        "volume_extension:availability_zone_list", "volume_extension:extensions")),
    *(Rule(name, READER) for name in (
        "volume:get", "volume:get_all", "volume:get_volume_metadata",
        "volume:get_volume_summary", "volume:get_snapshot", "volume:get_all_snapshots",
        "message:get_all", "message:get",
        "volume:get_snapshot_metadata", "volume:attachment_get", "volume:attachment_get_all",
        "volume_extension:type_get", "volume_extension:type_get_all",
        "volume_extension:types_extra_specs:index", "volume_extension:types_extra_specs:show",
        "volume_extension:quotas:show", "limits_extension:used_limits",
        "volume_extension:volume_encryption_metadata",
        "volume_extension:volume_image_metadata:show")),
    *(Rule(name, MEMBER) for name in (
        "volume:create", "volume:update", "volume:delete", "volume:extend",
        "volume:create_volume_metadata", "volume:update_volume_metadata",
        "volume:delete_volume_metadata", "volume:volume_actions", "volume:create_snapshot",
        "volume:update_snapshot", "volume:delete_snapshot", "volume:snapshot_actions",
        "volume:update_snapshot_metadata", "volume:delete_snapshot_metadata",
        "volume:attachment_create", "volume:attachment_update", "volume:attachment_delete",
        "volume:attachment_complete", "volume_extension:volume_type_access",
        "message:delete")),
    *(Rule(name, check) for name, check in backups.POLICY),
    *(Rule(name, check) for name, check in transfers.POLICY),
    *(Rule(name, check) for name, check in qos.POLICY),
    *(Rule(name, check) for name, check in admin_views.POLICY),
    *(Rule(name, check) for name, check in group_types.POLICY),
])

VOL = "/volumes/{volume_id}"
SNAP = "/snapshots/{snapshot_id}"
TYPE = "/types/{type_id}"
ATT = "/attachments/{attachment_id}"
QS = "/os-quota-sets/{target_project}"

# (method, path below /v3, handler, rule); literal paths before the ones with parameters.
TABLE: list[tuple[str, str, Any, str]] = [
    ("GET", "/extensions", misc.extensions, "volume_extension:extensions"),
    ("GET", "/os-availability-zone", misc.zones, "volume_extension:availability_zone_list"),
    ("GET", "/limits", misc.limits, "limits_extension:used_limits"),
    ("GET", "/os-services", misc.services, "volume_extension:services:index"),
    ("GET", "/os-hosts", misc.hosts, "volume_extension:hosts"),
    ("GET", "/scheduler-stats/get_pools", misc.pools,
     "scheduler_extension:scheduler_stats:get_pools"),
    ("GET", "/messages", messages.list_messages, "message:get_all"),
    ("GET", "/messages/{message_id}", messages.show, "message:get"),
    ("DELETE", "/messages/{message_id}", messages.delete, "message:delete"),
    ("PUT", "/os-services/{action}", misc.service_update, "volume_extension:services:update"),
    ("GET", QS + "/defaults", misc.quota_defaults, "volume_extension:quotas:show"),
    ("GET", QS, misc.quota_show, "volume_extension:quotas:show"),
    ("PUT", QS, misc.quota_update, "volume_extension:quotas:update"),
    ("DELETE", QS, misc.quota_delete, "volume_extension:quotas:delete"),
    # volumes
    ("GET", "/volumes", volumes.list_volumes, "volume:get_all"),
    ("POST", "/volumes", volumes.create, "volume:create"),
    ("PUT", "/volumes", volumes.no_volume_id, "volume:update"),
    ("DELETE", "/volumes", volumes.no_volume_id, "volume:delete"),
    ("GET", "/volumes/detail", volumes.list_details, "volume:get_all"),
    ("GET", "/volumes/summary", volumes.summary, "volume:get_volume_summary"),
    ("GET", VOL, volumes.show, "volume:get"),
    ("PUT", VOL, volumes.update, "volume:update"),
    ("DELETE", VOL, volumes.delete, "volume:delete"),
    ("POST", VOL + "/action", actions.action, actions.READ_RULE),
    ("GET", VOL + "/metadata", volumes.show_metadata, "volume:get_volume_metadata"),
    ("POST", VOL + "/metadata", volumes.create_metadata, "volume:create_volume_metadata"),
    ("PUT", VOL + "/metadata", volumes.replace_metadata, "volume:update_volume_metadata"),
    ("GET", VOL + "/metadata/{key}", volumes.show_metadata_item,
     "volume:get_volume_metadata"),
    ("PUT", VOL + "/metadata/{key}", volumes.set_metadata_item,
     "volume:update_volume_metadata"),
    ("DELETE", VOL + "/metadata/{key}", volumes.delete_metadata_item,
     "volume:delete_volume_metadata"),
    ("GET", VOL + "/encryption", encryption.show_volume,
     "volume_extension:volume_encryption_metadata"),
    ("GET", VOL + "/encryption/{key}", encryption.show_volume_item,
     "volume_extension:volume_encryption_metadata"),
    # snapshots
    ("GET", "/snapshots", snapshots.list_snapshots, "volume:get_all_snapshots"),
    ("POST", "/snapshots", snapshots.create, "volume:create_snapshot"),
    ("PUT", "/snapshots", snapshots.no_snapshot_id, "volume:update_snapshot"),
    ("DELETE", "/snapshots", snapshots.no_snapshot_id, "volume:delete_snapshot"),
    ("GET", "/snapshots/detail", snapshots.list_details, "volume:get_all_snapshots"),
    ("GET", SNAP, snapshots.show, "volume:get_snapshot"),
    ("PUT", SNAP, snapshots.update, "volume:update_snapshot"),
    ("DELETE", SNAP, snapshots.delete, "volume:delete_snapshot"),
    ("POST", SNAP + "/action", snapshots.action, "volume:snapshot_actions"),
    ("GET", SNAP + "/metadata", snapshots.show_metadata, "volume:get_snapshot_metadata"),
    ("POST", SNAP + "/metadata", snapshots.create_metadata,
     "volume:update_snapshot_metadata"),
    ("PUT", SNAP + "/metadata", snapshots.replace_metadata,
     "volume:update_snapshot_metadata"),
    ("GET", SNAP + "/metadata/{key}", snapshots.show_metadata_item,
     "volume:get_snapshot_metadata"),
    ("PUT", SNAP + "/metadata/{key}", snapshots.set_metadata_item,
     "volume:update_snapshot_metadata"),
    ("DELETE", SNAP + "/metadata/{key}", snapshots.delete_metadata_item,
     "volume:delete_snapshot_metadata"),
    # volume types
    ("GET", "/types", types.list_types, "volume_extension:type_get_all"),
    ("POST", "/types", types.create, "volume_extension:types_manage"),
    ("GET", "/types/default", types.show_default, "volume_extension:type_get"),
    ("GET", TYPE, types.show, "volume_extension:type_get"),
    ("PUT", TYPE, types.update, "volume_extension:types_manage"),
    ("DELETE", TYPE, types.delete, "volume_extension:types_manage"),
    ("GET", TYPE + "/extra_specs", types.list_specs, "volume_extension:types_extra_specs:index"),
    ("POST", TYPE + "/extra_specs", types.create_specs,
     "volume_extension:types_extra_specs:create"),
    ("GET", TYPE + "/extra_specs/{key}", types.show_spec,
     "volume_extension:types_extra_specs:show"),
    ("PUT", TYPE + "/extra_specs/{key}", types.update_spec,
     "volume_extension:types_extra_specs:update"),
    ("DELETE", TYPE + "/extra_specs/{key}", types.delete_spec,
     "volume_extension:types_extra_specs:delete"),
    ("GET", TYPE + "/encryption", encryption.show_type,
     "volume_extension:volume_type_encryption:get"),
    ("POST", TYPE + "/encryption", encryption.create_type,
     "volume_extension:volume_type_encryption:create"),
    ("GET", TYPE + "/encryption/{encryption_id}", encryption.show_type_item,
     "volume_extension:volume_type_encryption:get"),
    ("PUT", TYPE + "/encryption/{encryption_id}", encryption.update_type,
     "volume_extension:volume_type_encryption:update"),
    ("DELETE", TYPE + "/encryption/{encryption_id}", encryption.delete_type,
     "volume_extension:volume_type_encryption:delete"),
    ("GET", TYPE + "/os-volume-type-access", types.list_access,
     "volume_extension:volume_type_access:get_all_for_type"),
    ("POST", TYPE + "/action", types.action,
     "volume_extension:volume_type_access:addProjectAccess"),
    # attachments (3.27+)
    ("GET", "/attachments", attachments.list_attachments, "volume:attachment_get_all"),
    ("POST", "/attachments", attachments.create, "volume:attachment_create"),
    ("GET", "/attachments/detail", attachments.list_details, "volume:attachment_get_all"),
    ("GET", ATT, attachments.show, "volume:attachment_get"),
    ("PUT", ATT, attachments.update, "volume:attachment_update"),
    ("DELETE", ATT, attachments.delete, "volume:attachment_delete"),
    ("POST", ATT + "/action", attachments.action, "volume:attachment_complete"),
    *backups.TABLE,
    *transfers.TABLE,
    *qos.TABLE,
    *admin_views.TABLE,
    *group_types.TABLE,
]


def _routes() -> list[Route]:
    out = [Route("GET", "/", misc.versions, auth=False),
           Route("GET", "/v3", misc.version, auth=False)]
    out += [Route(m, "/v3" + p, h, rule, target=policy_target) for m, p, h, rule in TABLE]
    out += [Route(m, "/v3/{project}" + p, h, rule, target=policy_target)
            for m, p, h, rule in TABLE]
    return out


ROUTES: list[Route] = _routes()


def _headers(req: ApiRequest) -> dict[str, str]:
    return MICROVERSIONS.headers(req)


SERVICE = ServiceApi(name="volume", prefix="/volume", routes=ROUTES, render_fault=nova_fault,
                     prepare=MICROVERSIONS.negotiate, response_headers=_headers)


def catalog_entries(base_url: str) -> list[ServiceEntry]:
    url = f"{base_url}/volume/v3/$(project_id)s"
    return [ServiceEntry("block-storage", "cinder", url),
            ServiceEntry("volumev3", "cinderv3", url)]


async def bootstrap(runtime: Any, progress: Callable[[str], None]) -> None:
    """Idempotent: what block storage needs in a new cloud (the default volume type)."""
    await runtime.volume.bootstrap(progress)


__all__ = ["RULES", "SERVICE", "bootstrap", "catalog_entries"]
