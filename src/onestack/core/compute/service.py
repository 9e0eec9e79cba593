"""The compute core, assembled: one object the API layer and the host agents call."""

from __future__ import annotations

from collections.abc import Callable

from onestack.config import Settings
from onestack.core.compute.actions import Actions
from onestack.core.compute.agent_credentials import AgentCredentials
from onestack.core.compute.base import Links
from onestack.core.compute.boot_volumes import BootVolumes
from onestack.core.compute.build import Builder
from onestack.core.compute.devices import Devices
from onestack.core.compute.evacuate import Evacuations
from onestack.core.compute.events import InstanceActions
from onestack.core.compute.flavors import Flavors
from onestack.core.compute.groups import ServerGroups
from onestack.core.compute.hosts import Hosts
from onestack.core.compute.keypairs import KeyPairs
from onestack.core.compute.live_migrate import LiveMigrations
from onestack.core.compute.migrate_verify import MigrationVerify
from onestack.core.compute.netproxy import ServerNetworking
from onestack.core.compute.ports import Ports
from onestack.core.compute.quotas import Quotas
from onestack.core.compute.servers import Servers
from onestack.core.compute.shelve import Shelving
from onestack.core.compute.usage import Usage
from onestack.core.compute.volumes import ServerVolumes
from onestack.core.compute.work import HostWork
from onestack.core.image.service import ImageService
from onestack.core.network.service import NetworkService
from onestack.db.engine import Database
from onestack.scheduler.service import Placement


class Compute:
    def __init__(self, settings: Settings, db: Database, placement: Placement,
                 image: ImageService, network: NetworkService | None = None) -> None:
        self.settings = settings
        self.db = db
        self.network = network or NetworkService(db)
        self.ports = Ports(db, self.network)
        self.links = Links()
        # Volumes on servers: set by the runtime once the block storage core exists.
        self._volumes: ServerVolumes | None = None
        self.boot_volumes: BootVolumes | None = None
        self.flavors = Flavors(db)
        self.keypairs = KeyPairs(db)
        self.quotas = Quotas(db)
        self.hosts = Hosts(db, placement, settings.compute)
        self.groups = ServerGroups(db)
        self.builder = Builder(db, placement, self.hosts, self.flavors, self.groups, image,
                               self.links, self.ports)
        self.aggregates = self.builder.aggregates
        self.servers = Servers(db, placement, self.links)
        self.servers.down_after = settings.compute.service_down_after
        self.networking = ServerNetworking(db, self.ports, self.links)
        self.instance_actions = InstanceActions(db)
        self.actions = Actions(self.servers, self.builder, image)
        self.usage = Usage(db)
        self.work = HostWork(db, placement)
        self.devices = Devices(db)
        self.evacuations = Evacuations(self.servers, self.builder, self.devices)
        self.migrations = LiveMigrations(self.servers, self.builder, self.devices,
                                         settings.data_dir / "migrations")
        self.migration_verify = MigrationVerify(self.migrations)
        self.actions.moves = self.migration_verify
        self.agent_credentials = AgentCredentials(db)
        self.shelving = Shelving(self.servers, self.builder, self.actions, self.work, image,
                                 settings.compute.shelved_offload_time)

    @property
    def volumes(self) -> ServerVolumes | None:
        return self._volumes

    @volumes.setter
    def volumes(self, value: ServerVolumes | None) -> None:
        """Volumes on servers, and with them the volumes given at create (boot from
        volume): the builder makes them, a delete before any host gives them back."""
        self._volumes = value
        self.boot_volumes = BootVolumes(self.db, value) if value is not None else None
        self.builder.boot_volumes = self.boot_volumes
        self.servers.boot_volumes = self.boot_volumes

    async def bootstrap(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Idempotent: the default flavors."""
        await self.flavors.ensure_defaults(progress)
