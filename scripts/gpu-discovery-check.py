#!/usr/bin/env python3
"""Print what Onestack's device discovery finds on this machine, as JSON.

    PYTHONPATH=src python3 scripts/gpu-discovery-check.py [--all] [--root /] [--record DIR]

It imports only onestack.drivers.devices and the standard library, so it runs on a GPU host
without the rest of Onestack installed. ``--record DIR`` also copies the sysfs attributes
discovery reads (for the devices it reports) into DIR, as a fixture tree for tests.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from onestack.drivers.devices.base import Gpu, PciDevice, gpus
from onestack.drivers.devices.nvidia import NvmlError, nvml_details, smi_details
from onestack.drivers.devices.sysfs import PCI_DEVICES, SysfsDiscovery

ATTRS = ("vendor", "device", "class", "numa_node", "subsystem_vendor", "subsystem_device")
LINKS = ("iommu_group", "driver")


def record(root: Path, devices: list[PciDevice], dest: Path) -> None:
    for dev in devices:
        src, out = root / PCI_DEVICES / dev.address, dest / PCI_DEVICES / dev.address
        out.mkdir(parents=True, exist_ok=True)
        for name in ATTRS:
            if (src / name).is_file():
                (out / name).write_text((src / name).read_text())
        for name in LINKS:
            if (src / name).is_symlink() and not (out / name).is_symlink():
                os.symlink(os.readlink(src / name), out / name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help="every PCI device, not only GPUs")
    ap.add_argument("--root", default="/", help="file system root to read sysfs under")
    ap.add_argument("--record", type=Path, help="copy the sysfs attributes read into DIR")
    args = ap.parse_args()
    sources: dict[str, object] = {}
    try:
        sources["nvml"] = len(nvml_details())
    except NvmlError as exc:
        sources["nvml"] = f"unavailable: {exc}"
    sources["nvidia_smi"] = len(smi_details())
    devices = SysfsDiscovery(args.root, all_devices=args.all).discover()
    found = gpus(devices)
    report = {
        "devices": [dict(dataclasses.asdict(d), kind="gpu" if isinstance(d, Gpu) else "pci",
                         vendor=d.vendor, passthrough_capable=d.passthrough_capable)
                    for d in devices],
        "gpus": len(found),
        "passthrough_capable_gpus": sum(1 for g in found if g.passthrough_capable),
        "enrichment": sources,
    }
    json.dump(report, sys.stdout, indent=2)
    print()
    if args.record is not None:
        record(Path(args.root), devices, args.record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
