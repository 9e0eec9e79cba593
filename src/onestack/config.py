"""Typed settings, one section per subsystem, loaded once and passed in.

A deployment file is TOML::

    [server]
    host = "0.0.0.0"
    port = 5000
    public_url = "https://cloud.example.com:5000"   # what the catalog advertises

    [database]
    url = "postgresql+psycopg://onestack:secret@db/onestack"

    [identity]
    token_expiration = 3600
    lockout_failure_attempts = 5
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from onestack.errors import ConfigError


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    return Path(base) / "onestack"


@dataclass
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 5000
    # The base URL clients reach; defaults to http://host:port (host 0.0.0.0 -> 127.0.0.1).
    public_url: str = ""
    access_log: bool = True
    # Serve HTTPS with this certificate chain and private key (PEM files); both or neither.
    tls_cert: str = ""
    tls_key: str = ""
    # Seconds an idle client connection is kept open. Clients that pool connections
    # (keystoneauth, boto3, browsers) reuse one after pauses of many seconds; closing it
    # sooner (uvicorn's default is 5 s) races with their next request, which then fails
    # with "connection reset by peer". Load balancers in front usually keep 60-75 s.
    keep_alive_timeout: float = 75.0

    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{host}:{self.port}"


@dataclass
class DatabaseConfig:
    # Empty means SQLite in the data dir.
    url: str = ""
    pool_size: int = 10
    echo: bool = False


@dataclass
class IdentityConfig:
    token_expiration: int = 3600
    # How long after expiry a token can still be validated with ?allow_expired=1.
    allow_expired_window: int = 172800
    password_hash_algorithm: str = "bcrypt"
    password_hash_rounds: int = 12
    max_active_keys: int = 3
    # Security compliance (all off by default, as in Keystone).
    lockout_failure_attempts: int = 0
    lockout_duration: int = 1800
    unique_last_password_count: int = 0
    minimum_password_age: int = 0
    password_expires_days: int = 0
    password_regex: str = ""
    password_regex_description: str = ""
    # Seconds between checks of other API processes' identity writes (multi-node).
    cache_sync_interval: float = 1.0
    policy_file: str = ""
    list_limit: int = 0


@dataclass
class ImageConfig:
    # Refuse uploads whose content does not match their disk_format (Glance's
    # [image_format] require_image_format_match). Tempest's image_format_enforcement=false
    # runs expect it off: they upload random bytes declared as qcow2.
    require_format_match: bool = True
    # `onestack up` builds the tiny test image (cached) and uploads it as the public images
    # onestack-tiny (qcow2) and onestack-tiny-raw when they are missing.
    seed_tiny_images: bool = True
    # Where image data lives: "file" (data_dir/images) or "rbd" (Glance's rbd store: an RBD
    # image per image in rbd_pool, as the cephx user client.<rbd_user>; see docs/ceph.md).
    store: str = "file"
    rbd_pool: str = "images"
    rbd_user: str = "glance"
    rbd_ceph_conf: str = "/etc/ceph/ceph.conf"
    rbd_keyring: str = ""
    rbd_cluster_name: str = "ceph"
    rbd_connect_timeout: float = 20.0


@dataclass
class ComputeConfig:
    # Hypervisor driver, by name from onestack.drivers.virt.DRIVERS: "qemu" (real guests,
    # KVM when it works, else TCG) or "fake" (in-memory, for tests and scale runs).
    virt_driver: str = "qemu"
    # Where guests' files live; empty means data_dir/instances.
    instances_path: str = ""
    # Seconds between the compute agent's reconcile passes.
    reconcile_interval: float = 10.0
    # HMAC secret the metadata proxy signs X-Instance-ID with (Nova's
    # metadata_proxy_shared_secret); empty: generated once into <data_dir>/metadata_secret.
    metadata_secret: str = ""
    # Give every guest a config drive (Nova's force_config_drive). Guests without a network
    # port get one anyway: they have no other way to their metadata.
    force_config_drive: bool = False
    # Seconds an image's cached base disk is kept after the last guest using it is gone
    # (0: removed at the next reconcile pass; raise it to reuse bases across boots).
    image_cache_ttl: float = 0.0
    # Allocation ratios of the host's resource provider inventories (Nova's initial ones).
    cpu_allocation_ratio: float = 4.0
    ram_allocation_ratio: float = 1.0
    disk_allocation_ratio: float = 1.0
    # Host devices (GPUs) offered for PCI passthrough: "sysfs" (read /sys/bus/pci, NVIDIA
    # details from NVML or nvidia-smi), "off", "fake" (one simulated H200, for tests), or
    # "auto": sysfs with a real virt driver, off with the fake one.
    device_discovery: str = "auto"
    # Seconds without a heartbeat after which a compute service is down (os-services), takes
    # no new instances, and its servers' host_status is UNKNOWN (Nova's service_down_time).
    service_down_after: float = 60.0
    # Run a compute agent for this machine inside the API process (all-in-one). A controller
    # whose compute hosts all run ``onestack agent`` sets it to false.
    local_agent: bool = True
    # Volumes on Ceph (rbd): this host's own cephx user (client.<rbd_user>), the keyring
    # holding its key (root only; empty: /etc/ceph/ceph.client.<rbd_user>.keyring) and a
    # ceph.conf for librados (empty: the monitors of the attachment only). QEMU gets the key
    # as a secret over QMP. Empty rbd_user: the user the volume service names.
    rbd_user: str = ""
    rbd_keyring: str = ""
    rbd_ceph_conf: str = ""
    # Root disks of image-backed servers: "file" (qcow2 under instances_path) or "rbd"
    # (Nova's images_type: RBD images <uuid>_disk in images_rbd_pool, as rbd_user; a clone
    # of a raw image's <images_rbd_glance_pool>/<id>@snap; docs/ceph.md).
    images_type: str = "file"
    images_rbd_pool: str = "vms"
    images_rbd_ceph_conf: str = "/etc/ceph/ceph.conf"
    images_rbd_glance_pool: str = "images"
    # Seconds a shelved server keeps its host before it is offloaded (its disk is in the
    # shelve image, its host's resources freed): 0 at once (Nova's default), -1 never.
    shelved_offload_time: float = 0


@dataclass
class VolumeConfig:
    # Block storage backend, by name from onestack.drivers.storage.DRIVERS: "file" (qcow2
    # files under volumes_path), "rbd" (a Ceph pool, the rbd_* fields) or "fake" (in
    # memory, for tests).
    driver: str = "file"
    # Several backends at once (Cinder's enabled_backends), by driver name, e.g.
    # ["file", "rbd"]: a volume goes to the one its type names in the extra spec
    # volume_backend_name, else to the first. Empty: `driver` alone.
    backends: list[str] = field(default_factory=list)
    # The volume type of volumes created without one (bootstrapped by `onestack up`).
    default_volume_type: str = "__DEFAULT__"
    # Where volume and snapshot files live; empty means data_dir/volumes.
    volumes_path: str = ""
    # driver = "rbd": RBD images in a Ceph pool (docs/ceph.md). The pool, the cephx user
    # (client.<rbd_user>), the cluster's ceph.conf and that user's keyring (empty: Ceph's
    # default search path); every Ceph call gives up after rbd_connect_timeout seconds
    # without an answer; clone chains deeper than rbd_max_clone_depth are flattened.
    rbd_pool: str = "volumes"
    rbd_user: str = "onestack"
    rbd_ceph_conf: str = "/etc/ceph/ceph.conf"
    rbd_keyring: str = ""
    rbd_cluster_name: str = "ceph"
    rbd_connect_timeout: float = 20.0
    rbd_max_clone_depth: int = 5
    # A volume made from an image the rbd image store holds is a copy-on-write clone of it;
    # true flattens it at once (a full copy, independent of the image).
    rbd_flatten_volume_from_snapshot: bool = False


@dataclass
class NetworkConfig:
    # The host data plane: "linux" (bridges, namespaces, nftables, dnsmasq), "off" (API
    # only), or "auto": linux when running as root with ip, nft and dnsmasq, else off.
    dataplane: str = "auto"
    # The host bridge of the flat external network on physical network `external_physnet`
    # (`public`), and the host's address on it: the host reaches floating IPs through it.
    external_bridge: str = "onb-ex"
    external_physnet: str = "public"
    public_cidr: str = "172.24.4.0/24"
    public_gateway: str = "172.24.4.1"
    # NAT the external network to the host's uplink (guests reach the outside world).
    masquerade_uplink: bool = False
    # Seconds between the network agent's reconcile passes (API changes wake it at once).
    reconcile_interval: float = 5.0
    metadata_port: int = 80
    # This host's address for VXLAN tunnels to the other hosts (UDP 4789). On the
    # controller (the network node: DHCP, routers) one the compute hosts reach; unset there,
    # tenant networks stay on the controller's host. `onestack agent` defaults to the
    # address it reaches the controller from.
    tunnel_ip: str = ""


@dataclass
class LoadBalancerConfig:
    # The load balancer data plane: "haproxy" (a namespace and haproxy per load balancer),
    # "fake" (in memory: the API works, nothing carries traffic), or "auto": haproxy when
    # running as root with haproxy installed and the network data plane on, else fake.
    driver: str = "auto"
    # Seconds between the load balancer agent's status polls (API changes wake it at once).
    reconcile_interval: float = 5.0


@dataclass
class KeyManagerConfig:
    # The master key file that wraps every project's key (Barbican's secrets at rest); empty
    # means data_dir/key-manager/master.key. Created at first start, mode 0600: back it up
    # apart from the database (the database alone reveals no payload).
    master_key_file: str = ""
    # Largest secret payload accepted, in bytes (after base64 decoding), as Barbican's
    # max_allowed_secret_in_bytes.
    max_secret_bytes: int = 20000


@dataclass
class MetricsConfig:
    # A bearer token Prometheus may present at /metrics (Authorization: Bearer ...); empty
    # means off (then only an admin's X-Auth-Token reads /metrics).
    token: str = ""
    # Days the queryable audit records (/operator/v1/audit) are kept; 0 keeps them forever.
    audit_days: int = 30


@dataclass
class ObjectStoreConfig:
    # Where object bytes live: "file" (files under data_dir/objects, the default) or "s3"
    # (one bucket of an S3 service such as Ceph RGW, given by the s3_* fields; metadata stays
    # in the database; docs/ceph.md "Objects on RGW"). Objects larger than s3_part_size go
    # up as multipart uploads of that part size.
    blob_store: str = "file"
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = "us-east-1"
    s3_part_size: int = 16 * 1024 * 1024


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    server: ServerConfig = field(default_factory=ServerConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    identity: IdentityConfig = field(default_factory=IdentityConfig)
    image: ImageConfig = field(default_factory=ImageConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)
    volume: VolumeConfig = field(default_factory=VolumeConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    load_balancer: LoadBalancerConfig = field(default_factory=LoadBalancerConfig)
    key_manager: KeyManagerConfig = field(default_factory=KeyManagerConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    object_store: ObjectStoreConfig = field(default_factory=ObjectStoreConfig)

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.data_dir / 'onestack.db'}"

    @property
    def instances_path(self) -> Path:
        return Path(self.compute.instances_path) if self.compute.instances_path \
            else self.data_dir / "instances"

    @property
    def volumes_path(self) -> Path:
        return Path(self.volume.volumes_path) if self.volume.volumes_path \
            else self.data_dir / "volumes"

    @property
    def fernet_key_dir(self) -> Path:
        return self.data_dir / "fernet-keys"

    @property
    def credential_key_dir(self) -> Path:
        return self.data_dir / "credential-keys"

    @property
    def master_key_file(self) -> Path:
        return Path(self.key_manager.master_key_file).expanduser() \
            if self.key_manager.master_key_file else self.data_dir / "key-manager" / "master.key"


_SECTIONS = {"server": ServerConfig, "database": DatabaseConfig, "identity": IdentityConfig,
             "image": ImageConfig, "compute": ComputeConfig, "volume": VolumeConfig,
             "network": NetworkConfig, "load_balancer": LoadBalancerConfig,
             "key_manager": KeyManagerConfig, "metrics": MetricsConfig,
             "object_store": ObjectStoreConfig}


def _apply_section(obj: Any, name: str, values: dict[str, Any]) -> None:
    known = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in known:
            raise ConfigError(f"unknown option [{name}] {key}; known: {', '.join(sorted(known))}")
        current = getattr(obj, key)
        if isinstance(current, bool) and not isinstance(value, bool):
            raise ConfigError(f"[{name}] {key} must be true or false, not {value!r}")
        if isinstance(current, int | float) and not isinstance(current, bool):
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise ConfigError(f"[{name}] {key} must be a number, not {value!r}")
            value = type(current)(value)
        if isinstance(current, str) and not isinstance(value, str):
            raise ConfigError(f"[{name}] {key} must be a string, not {value!r}")
        setattr(obj, key, value)


def load_settings(path: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Read a TOML file (optional), then apply command-line overrides."""
    settings = Settings()
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    for key, value in data.items():
        if key == "data_dir":
            settings.data_dir = Path(value).expanduser()
        elif key in _SECTIONS:
            if not isinstance(value, dict):
                raise ConfigError(f"[{key}] must be a table")
            _apply_section(getattr(settings, key), key, value)
        else:
            raise ConfigError(f"unknown config section {key!r}; known: {', '.join(_SECTIONS)}")
    for key, value in overrides.items():
        if value is None:
            continue
        if key == "data_dir":
            settings.data_dir = Path(value).expanduser()
        elif key in ("host", "port"):
            setattr(settings.server, key, value)
        elif key == "database_url":
            settings.database.url = value
        else:
            raise ConfigError(f"unknown override {key}")
    settings.data_dir = settings.data_dir.resolve()
    return settings
