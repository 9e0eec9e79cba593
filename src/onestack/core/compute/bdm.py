"""Nova's ``block_device_mapping_v2`` on server create, read into a plan: which volumes the
server gets, which one it boots from, and which Nova makes (from an image, a snapshot, or
blank). Pure checks of the request; what needs the block storage service is in
``boot_volumes``.

Served: ``destination_type=volume`` with ``source_type`` ``volume`` (an existing volume),
``image``, ``snapshot`` or ``blank`` (a new volume of ``volume_size`` GB); ``boot_index`` 0
makes that volume the root disk (the server is volume-backed: no image, no local root).
``source_type=image, destination_type=local, boot_index=0`` is the image on the local root
disk, what ``imageRef`` says (clients send both).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from onestack.errors import BadRequest

SOURCES = ("image", "volume", "snapshot", "blank")
DESTINATIONS = ("volume", "local")
INVALID = "Block Device Mapping is Invalid: "


@dataclass
class BlockDevice:
    source: str  # image | volume | snapshot | blank
    uuid: str  # the image, volume or snapshot ("" for blank)
    boot_index: int | None  # None: not bootable
    size: int | None  # GB, for the volumes Nova makes
    delete_on_termination: bool = False
    device_name: str | None = None
    tag: str | None = None
    volume_type: str | None = None

    @property
    def made(self) -> bool:
        """Whether Nova makes this volume (everything but an existing volume)."""
        return self.source != "volume"


@dataclass
class BdmPlan:
    image_ref: str  # the image of a local root disk ("" when volume-backed)
    volumes: list[BlockDevice] = field(default_factory=list)

    @property
    def boot(self) -> BlockDevice | None:
        return next((v for v in self.volumes if v.boot_index == 0), None)


def _int_field(raw: Any, name: str) -> int | None:
    """An integer mapping field, None when absent or empty; Nova's 400 otherwise."""
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError) as exc:
        raise BadRequest(f"Invalid input for field/attribute {name}. Value: {raw}. "
                         "It is not an integer.") from exc


def _boot_index(raw: Any) -> int | None:
    value = _int_field(raw, "boot_index")
    return value if value is not None and value >= 0 else None


def _size(raw: Any) -> int | None:
    value = _int_field(raw, "volume_size")
    if value is not None and value < 0:
        raise BadRequest(f"Invalid input for field/attribute volume_size. Value: {raw}. "
                         f"{raw} is less than the minimum of 0")
    return value or None


def _bool(raw: Any) -> bool:
    return str(raw).lower() in ("true", "1", "yes", "on", "t", "y")


def _one(raw: Any) -> tuple[BlockDevice, str]:
    """One mapping, with its destination."""
    if not isinstance(raw, dict):
        raise BadRequest("Invalid input for field/attribute block_device_mapping_v2: each "
                         "mapping must be an object.")
    source = raw.get("source_type") or ("volume" if raw.get("uuid") else "blank")
    if source not in SOURCES:
        raise BadRequest(f"Invalid input for field/attribute source_type. Value: {source}. "
                         f"'{source}' is not one of {list(SOURCES)}")
    dest = raw.get("destination_type") or ("local" if source in ("image", "blank")
                                           else "volume")
    if dest not in DESTINATIONS:
        raise BadRequest(f"Invalid input for field/attribute destination_type. Value: {dest}."
                         f" '{dest}' is not one of {list(DESTINATIONS)}")
    uuid = str(raw.get("uuid") or "")
    if source == "blank" and uuid:
        raise BadRequest(INVALID + "Invalid device UUID.")
    if source != "blank" and not uuid:
        raise BadRequest(INVALID + "Missing device UUID.")
    dev = BlockDevice(source=source, uuid=uuid, boot_index=_boot_index(raw.get("boot_index")),
                      size=_size(raw.get("volume_size")),
                      delete_on_termination=_bool(raw.get("delete_on_termination", False)),
                      device_name=raw.get("device_name") or None, tag=raw.get("tag"),
                      volume_type=raw.get("volume_type") or None)
    return dev, dest


def plan(raw: list[Any] | None, image_ref: str, max_count: int) -> BdmPlan:
    """Check the mappings of a server create and say what the server gets.

    ``image_ref``: the request's imageRef ("" when absent). Raises Nova's 400s."""
    image_ref = (image_ref or "").rstrip("/").rsplit("/", 1)[-1]
    out = BdmPlan(image_ref=image_ref)
    local_image: str | None = None
    for item in raw or []:
        dev, dest = _one(item)
        if dest == "local":
            if dev.source == "blank":
                raise BadRequest(INVALID + "Blank local disks (ephemeral or swap mappings) "
                                 "are not supported; the flavor's ephemeral and swap disks "
                                 "are given to every server.")
            if dev.boot_index != 0:
                raise BadRequest(INVALID + "Mapping image to local is not supported.")
            if dev.source != "image":
                raise BadRequest(INVALID + f"A {dev.source} can only be mapped to a volume "
                                 "(destination_type 'volume').")
            if local_image is not None:
                raise BadRequest(INVALID + "Boot sequence for the instance and image/block "
                                 "device mapping combination is not valid.")
            local_image = dev.uuid
            continue
        if dev.made and not dev.size:
            if dev.source == "image":
                raise BadRequest(INVALID + "Images with destination_type 'volume' need to "
                                 "have a non-zero size specified")
            if dev.source == "blank":
                raise BadRequest(INVALID + "Blank volumes (source: 'blank', dest: 'volume') "
                                 "need to have non-zero size")
        out.volumes.append(dev)
    if local_image is not None:
        if image_ref and image_ref != local_image:
            raise BadRequest(INVALID + f"imageRef {image_ref} and the image mapped to the "
                             f"local root disk ({local_image}) differ.")
        out.image_ref = local_image
    boot = [v for v in out.volumes if v.boot_index is not None]
    root_volume = out.boot
    if root_volume is not None and out.image_ref:
        raise BadRequest(INVALID + "Boot sequence for the instance and image/block device "
                         f"mapping combination is not valid: imageRef ({out.image_ref}) and "
                         f"the {root_volume.source} {root_volume.uuid or ''} mapped with "
                         "boot_index 0 both name the root disk. Leave imageRef empty to boot "
                         "from a volume.".replace("  ", " "))
    indexes = sorted(v.boot_index for v in boot if v.boot_index is not None)
    if out.image_ref:
        indexes = [0, *indexes]
    if not out.image_ref and not indexes:
        if not out.volumes:
            raise BadRequest("Missing imageRef attribute")
        raise BadRequest(INVALID + "Boot sequence for the instance and image/block device "
                         "mapping combination is not valid: no mapping has boot_index 0 and "
                         "imageRef is empty.")
    if any(i != v for i, v in enumerate(indexes)):
        raise BadRequest(INVALID + "Boot sequence for the instance and image/block device "
                         "mapping combination is not valid.")
    if max_count > 1 and any(v.source == "volume" for v in out.volumes):
        raise BadRequest("Cannot attach one or more volumes to multiple instances")
    names = [v.device_name for v in out.volumes if v.device_name]
    if len(names) != len(set(names)):
        raise BadRequest(INVALID + "Device names must be unique.")
    return out
