"""What a guest learns about itself: the OpenStack and EC2 metadata trees of one instance.

The same content is served two ways: by the metadata API (``/openstack/...`` and the EC2
``/latest/meta-data/...``, reached from guests at 169.254.169.254 through the network data
plane's proxy, which identifies the instance by its port) and written onto config drives
(``openstack/latest/meta_data.json``, ``user_data``, ``network_data.json``, ...).

``answer(instance_uuid, path)`` returns what a GET of ``path`` gives: a listing (one name a
line, directories with a trailing ``/``) or a document; an unknown path is a 404.

The admin password is not served by the metadata service (as in Nova, whose metadata API
never has it): it goes onto the config drive of the first build only, and is dropped from
the database once that config drive is made (``config_drive``). The metadata proxy names
an instance only through the compute service's own record of its ports
(``instance_of_port``), never through the tenant-writable ``device_id`` of a port, and only
when the instance is the port's project's (Nova's X-Tenant-ID check).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from onestack.db.engine import Database
from onestack.db.models.compute import Instance, InstancePort

# The OpenStack metadata versions Nova serves (each newer one adds fields; we serve the
# newest shape under every name, as content is a superset).
OPENSTACK_VERSIONS = ("2012-08-10", "2013-04-04", "2013-10-17", "2015-10-15", "2016-06-30",
                      "2016-10-06", "2017-02-22", "2018-08-27", "2020-10-14")
EC2_VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15",
                "2008-02-01", "2008-09-01", "2009-04-04")
DHCP_DOMAIN = "novalocal"
EMPTY_NETWORK_DATA: dict[str, Any] = {"links": [], "networks": [], "services": []}

NetworkData = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def _text(lines: list[str]) -> Answer:
    return Answer(200, "text/plain; charset=UTF-8", "\n".join(lines).encode())


def _json(doc: Any) -> Answer:
    return Answer(200, "application/json", json.dumps(doc).encode())


NOT_FOUND = Answer(404, "text/plain; charset=UTF-8", b"404 Not Found\n")


def ec2_id(uuid: str, prefix: str = "i") -> str:
    """A stable EC2-style id for a uuid (``i-`` and 8 hex digits)."""
    return f"{prefix}-{hashlib.sha256(uuid.encode()).hexdigest()[:8]}"


class InstanceMetadata:
    """The documents of one instance."""

    def __init__(self, inst: Instance, network_data: dict[str, Any],
                 admin_pass: str | None = None) -> None:
        self.inst = inst
        self.network_data = network_data
        self.admin_pass = admin_pass  # only for the first build's config drive

    @property
    def hostname(self) -> str:
        return f"{self.inst.hostname or self.inst.name}.{DHCP_DOMAIN}"

    def keys(self) -> list[dict[str, str]]:
        inst = self.inst
        if not inst.key_name or not inst.key_data:
            return []
        kind = "x509" if "BEGIN CERTIFICATE" in inst.key_data else "ssh"
        return [{"name": inst.key_name, "type": kind, "data": inst.key_data}]

    def meta_data(self) -> dict[str, Any]:
        inst = self.inst
        keys = self.keys()
        doc: dict[str, Any] = {
            "uuid": inst.uuid,
            "meta": {str(k): str(v) for k, v in (inst.metadata_ or {}).items()},
            "hostname": self.hostname,
            "name": inst.name,
            "launch_index": inst.launch_index,
            "availability_zone": inst.availability_zone or "nova",
            "project_id": inst.project_id,
            "random_seed": base64.b64encode(os.urandom(512)).decode(),
            "devices": [],
            "dedicated_cpus": [],
        }
        if keys:
            doc["public_keys"] = {k["name"]: k["data"] for k in keys if k["type"] == "ssh"}
            doc["keys"] = keys
        if self.admin_pass:
            doc["admin_pass"] = self.admin_pass
        return doc

    def user_data(self) -> bytes | None:
        if not self.inst.user_data:
            return None
        try:
            return base64.b64decode(self.inst.user_data, validate=True)
        except ValueError:
            return self.inst.user_data.encode()

    def openstack_files(self) -> dict[str, Any]:
        """name -> document (dict: JSON; bytes: as is) under openstack/<version>/."""
        files: dict[str, Any] = {"meta_data.json": self.meta_data(),
                                 "network_data.json": self.network_data,
                                 "vendor_data.json": {}, "vendor_data2.json": {}}
        user_data = self.user_data()
        if user_data is not None:
            files["user_data"] = user_data
        return files

    def config_drive(self) -> dict[str, bytes]:
        """Relative path -> content for a config drive (label ``config-2``)."""
        out: dict[str, bytes] = {}
        files = self.openstack_files()
        for version in (*OPENSTACK_VERSIONS, "latest"):
            for name, doc in files.items():
                out[f"openstack/{version}/{name}"] = _bytes(doc)
        for version in ("2009-04-04", "latest"):
            out[f"ec2/{version}/meta-data.json"] = json.dumps(self.ec2_tree()).encode()
        return out

    # --- EC2 -----------------------------------------------------------------------------
    def _first_ip(self, version: int) -> str:
        for net in self.network_data.get("networks", []):
            ip = str(net.get("ip_address") or "")
            if ip and (":" in ip) == (version == 6):
                return ip
        return ""

    def ec2_tree(self) -> dict[str, Any]:
        inst = self.inst
        keys = [k for k in self.keys() if k["type"] == "ssh"]
        tree: dict[str, Any] = {
            "ami-id": ec2_id(inst.image_ref or inst.uuid, "ami"),
            "ami-launch-index": str(inst.launch_index),
            "ami-manifest-path": "FIXME",
            "block-device-mapping": {"ami": "vda", "root": "/dev/vda"},
            "hostname": self.hostname,
            "instance-action": "none",
            "instance-id": ec2_id(inst.uuid),
            "instance-type": str(inst.flavor.get("name", "")),
            "local-hostname": self.hostname,
            "local-ipv4": self._first_ip(4),
            "placement": {"availability-zone": inst.availability_zone or "nova"},
            "public-hostname": self.hostname,
            "public-ipv4": "",
            "reservation-id": inst.reservation_id or ec2_id(inst.uuid, "r"),
            "security-groups": "default",
        }
        if keys:
            tree["public-keys"] = {f"{i}={k['name']}": {"openssh-key": k["data"]}
                                   for i, k in enumerate(keys)}
        return tree

    def ec2_answer(self, parts: list[str]) -> Answer:
        """/<version>/meta-data/..., /<version>/user-data."""
        if not parts:
            names = ["meta-data/"] + (["user-data"] if self.user_data() is not None else [])
            return _text(names)
        if parts[0] == "user-data" and len(parts) == 1:
            data = self.user_data()
            return NOT_FOUND if data is None else Answer(200, "text/plain", data)
        if parts[0] != "meta-data":
            return NOT_FOUND
        node: Any = self.ec2_tree()
        for part in parts[1:]:
            if not isinstance(node, dict):
                return NOT_FOUND
            if part in node:
                node = node[part]
                continue
            # public-keys/0 addresses "0=name"
            match = [k for k in node if k.split("=", 1)[0] == part]
            if not match:
                return NOT_FOUND
            node = node[match[0]]
        if isinstance(node, dict):
            # EC2 lists public keys as "0=name"; other directories end in "/"
            return _text([k if "=" in k or not isinstance(v, dict) else k + "/"
                          for k, v in node.items()])
        return _text([str(node)])


def _bytes(doc: Any) -> bytes:
    return doc if isinstance(doc, bytes) else json.dumps(doc).encode()


class MetadataService:
    def __init__(self, db: Database, network_data: NetworkData | None = None) -> None:
        self.db = db
        self.network_data = network_data

    async def instance(self, instance_uuid: str) -> InstanceMetadata | None:
        async with self.db.read() as s:
            inst = await s.scalar(select(Instance).where(Instance.uuid == instance_uuid,
                                                         Instance.deleted.is_(False)))
        if inst is None:
            return None
        data = dict(EMPTY_NETWORK_DATA)
        if self.network_data is not None:
            data = await self.network_data(instance_uuid)
        return InstanceMetadata(inst, data)

    async def config_drive(self, instance_uuid: str) -> dict[str, bytes] | None:
        """The files of the instance's config drive. The admin password is on it the first
        time only, and is gone from the database afterwards."""
        md = await self.instance(instance_uuid)
        if md is None:
            return None
        md.admin_pass = md.inst.admin_pass
        files = md.config_drive()
        if md.admin_pass:
            async with self.db.write() as s:
                await s.execute(update(Instance).where(Instance.uuid == instance_uuid)
                                .values(admin_pass=None))
        return files

    async def instance_of_port(self, port_id: str, project_id: str) -> str | None:
        """The instance the compute service attached this port to, if it is the port's
        project's; None otherwise."""
        async with self.db.read() as s:
            row = (await s.execute(select(Instance.uuid, Instance.project_id).join(
                InstancePort, InstancePort.instance_uuid == Instance.uuid).where(
                InstancePort.port_id == port_id, Instance.deleted.is_(False)))).first()
        if row is None or row.project_id != project_id:
            return None
        return str(row.uuid)

    async def answer(self, instance_uuid: str, path: str, tenant_id: str | None = None
                     ) -> Answer:
        """``tenant_id``: the project of the port the request came from; an instance of
        another project is not found (Nova's X-Tenant-ID check)."""
        md = await self.instance(instance_uuid)
        if md is None or (tenant_id is not None and md.inst.project_id != tenant_id):
            return NOT_FOUND
        return answer_for(md, path)


def answer_for(md: InstanceMetadata, path: str) -> Answer:
    parts = [p for p in path.split("/") if p]
    if not parts:
        return _text([*EC2_VERSIONS, "latest", "openstack/"])
    if parts[0] == "openstack":
        if len(parts) == 1:
            return _text([*OPENSTACK_VERSIONS, "latest"])
        if parts[1] not in OPENSTACK_VERSIONS and parts[1] != "latest":
            return NOT_FOUND
        files = md.openstack_files()
        if len(parts) == 2:
            return _text(list(files))
        if len(parts) == 3 and parts[2] in files:
            doc = files[parts[2]]
            if isinstance(doc, bytes):
                return Answer(200, "application/octet-stream", doc)
            return _json(doc)
        return NOT_FOUND
    if parts[0] in EC2_VERSIONS or parts[0] == "latest":
        return md.ec2_answer(parts[1:])
    return NOT_FOUND
