"""``GET /extensions`` and ``/extensions/{alias}``: Nova still answers them from a fixed
list (nova/api/openstack/compute/extension_info.py); here the list names the parts of the
v2.1 API this cloud serves, each with Nova's name and alias."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import respond
from onestack.errors import NotFound

# (name, alias, description)
SERVED = (
    ("AdminActions", "os-admin-actions", "Enable admin-only server actions."),
    ("Aggregates", "os-aggregates", "Admin-only aggregate administration."),
    ("AttachInterfaces", "os-attach-interfaces", "Attach interface support."),
    ("AvailabilityZone", "os-availability-zone", "1. Add availability_zone to the Create "
     "Server API. 2. Add availability zones describing."),
    ("ConsoleOutput", "os-console-output", "Console log output support."),
    ("Consoles", "os-consoles", "Interactive Console support."),
    ("CreateBackup", "os-create-backup", "Create a backup of a server."),
    ("DeferredDelete", "os-deferred-delete", "Instance deferred delete."),
    ("DiskConfig", "OS-DCF", "Disk Management Extension."),
    ("Evacuate", "os-evacuate", "Enables server evacuation."),
    ("ExtendedAvailabilityZone", "OS-EXT-AZ", "Extended Availability Zone support."),
    ("ExtendedServerAttributes", "OS-EXT-SRV-ATTR", "Extended Server Attributes support."),
    ("ExtendedStatus", "OS-EXT-STS", "Extended Status support."),
    ("ExtendedVolumes", "os-extended-volumes", "Extended Volumes support."),
    ("FlavorAccess", "os-flavor-access", "Flavor access support."),
    ("FlavorExtraSpecs", "os-flavor-extra-specs", "Flavors extra specs support."),
    ("FlavorManage", "os-flavor-manage", "Flavor create/delete API support."),
    ("FloatingIps", "os-floating-ips", "Floating IPs support."),
    ("Hosts", "os-hosts", "Admin-only host administration."),
    ("Hypervisors", "os-hypervisors", "Admin-only hypervisor administration."),
    ("ImageMetadata", "image-metadata", "Image metadata."),
    ("Images", "images", "Images."),
    ("InstanceActions", "os-instance-actions", "View a log of actions and events taken on "
     "an instance."),
    ("Keypairs", "os-keypairs", "Keypair Support."),
    ("Lock", "os-lock-server", "Enable lock/unlock server actions."),
    ("MigrateServer", "os-migrate-server", "Enable migrate and live-migrate server "
     "actions."),
    ("Migrations", "os-migrations", "Provide data on migrations."),
    ("Networks", "os-networks", "Admin-only Network Management Extension."),
    ("PauseServer", "os-pause-server", "Enable pause/unpause server actions."),
    ("QuotaClasses", "os-quota-class-sets", "Quota classes management support."),
    ("Quotas", "os-quota-sets", "Quotas management support."),
    ("Rescue", "os-rescue", "Instance rescue mode."),
    ("SecurityGroups", "os-security-groups", "Security group support."),
    ("ServerDiagnostics", "os-server-diagnostics", "Allow Admins to view server "
     "diagnostics through server action."),
    ("ServerExternalEvents", "os-server-external-events", "Server External Event Triggers."),
    ("ServerGroups", "os-server-groups", "Server group support."),
    ("ServerPassword", "os-server-password", "Server password support."),
    ("ServerUsage", "OS-SRV-USG", "Adds launched_at and terminated_at on Servers."),
    ("Services", "os-services", "Services support."),
    ("Shelve", "os-shelve", "Instance shelve mode."),
    ("SimpleTenantUsage", "os-simple-tenant-usage", "Simple tenant usage extension."),
    ("SuspendServer", "os-suspend-server", "Enable suspend/resume server actions."),
    ("TenantNetworks", "os-tenant-networks", "Tenant-based Network Management Extension."),
    ("Volumes", "os-volumes", "Volumes support."),
    ("UsedLimits", "os-used-limits", "Provide data on limited resources that are being "
     "used."),
)


def _view(name: str, alias: str, description: str) -> dict[str, Any]:
    return {"name": name, "alias": alias, "description": description, "links": [],
            "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
            "updated": "2014-12-03T00:00:00Z"}


async def listing(req: ApiRequest) -> Response:
    return respond({"extensions": [_view(*e) for e in SERVED]})


async def show(req: ApiRequest) -> Response:
    alias = req.params["alias"]
    for entry in SERVED:
        if entry[1] == alias:
            return respond({"extension": _view(*entry)})
    raise NotFound(f"Extension {alias} could not be found.")
