"""Device discovery: sysfs against a recorded tree, NVIDIA details from nvidia-smi output,
NVML's structures, and the fake."""

from __future__ import annotations

import ctypes
from pathlib import Path

import pytest

from onestack.drivers.devices import FakeDiscovery, make_discovery
from onestack.drivers.devices.base import Gpu, GpuDetails, PciDevice, gpus, normalise_address
from onestack.drivers.devices.nvidia import (
    NvmlError,
    NvmlMemory,
    NvmlPciInfo,
    nvml_details,
    parse_smi_csv,
)
from onestack.drivers.devices.sysfs import SysfsDiscovery
from onestack.errors import ConfigError

FIXTURES = Path(__file__).parent / "fixtures"
TREE = FIXTURES / "sysfs-h200"
SMI = (FIXTURES / "nvidia-smi-h200.csv").read_text()


def test_sysfs_finds_gpus_with_iommu_group_driver_and_numa() -> None:
    found = SysfsDiscovery(TREE).discover()
    assert [d.address for d in found] == ["0000:17:00.0", "0000:65:00.0"]
    h200, no_iommu = found
    assert isinstance(h200, Gpu)
    assert (h200.vendor_id, h200.product_id, h200.class_code) == ("10de", "2335", "030200")
    assert h200.vendor == "nvidia"
    assert (h200.iommu_group, h200.driver, h200.numa_node) == (17, "nvidia", 0)
    assert h200.passthrough_capable
    assert h200.name == "GH100 [H200 SXM 141GB]"  # pci.ids
    assert h200.model == "H200 SXM 141GB"  # no NVIDIA tool here: the pci.ids name
    assert h200.uuid is None and h200.memory_mib is None
    assert no_iommu.iommu_group is None and not no_iommu.passthrough_capable
    assert no_iommu.numa_node == 1


def test_sysfs_all_devices_includes_the_rest() -> None:
    found = SysfsDiscovery(TREE, all_devices=True).discover()
    nic = next(d for d in found if d.address == "0000:00:03.0")
    assert type(nic) is PciDevice
    assert (nic.vendor, nic.class_code, nic.iommu_group, nic.driver, nic.numa_node) == (
        "intel", "020000", 3, "e1000e", None)
    assert nic.name == "82574L Gigabit Network Connection"
    assert len(gpus(found)) == 2


def test_sysfs_enriched_from_nvidia_smi_output() -> None:
    found = gpus(SysfsDiscovery(TREE, enrich=lambda: parse_smi_csv(SMI)).discover())
    h200 = found[0]
    assert h200.model == "NVIDIA H200"
    assert h200.memory_mib == 143771
    assert h200.uuid == "GPU-3242a58f-669e-745e-c3fa-631d44a769ef"


def test_a_failing_enricher_leaves_sysfs_alone() -> None:
    def broken() -> dict[str, GpuDetails]:
        raise RuntimeError("NVML: driver/library version mismatch")

    found = gpus(SysfsDiscovery(TREE, enrich=broken).discover())
    assert found[0].model == "H200 SXM 141GB" and found[0].uuid is None


def test_no_sysfs_finds_nothing(tmp_path: Path) -> None:
    assert SysfsDiscovery(tmp_path).discover() == []


def test_nvidia_smi_csv_parsing() -> None:
    out = parse_smi_csv(SMI + "garbage\n00000000:zz:00.0, X, GPU-1, 1\n"
                        "00000000:18:00.0, NVIDIA H100, [N/A], [N/A]\n")
    assert sorted(out) == ["0000:17:00.0", "0000:18:00.0", "0000:65:00.0"]
    assert out["0000:17:00.0"] == GpuDetails("NVIDIA H200", 143771,
                                             "GPU-3242a58f-669e-745e-c3fa-631d44a769ef")
    assert out["0000:18:00.0"] == GpuDetails("NVIDIA H100", None, None)


@pytest.mark.parametrize(("bus_id", "address"), [
    ("00000000:1B:00.0", "0000:1b:00.0"), ("0000:17:00.0", "0000:17:00.0"),
    ("00000001:C1:1f.7", "0001:c1:1f.7")])
def test_bus_ids_normalise_to_sysfs_addresses(bus_id: str, address: str) -> None:
    assert normalise_address(bus_id) == address


@pytest.mark.parametrize("bad", ["", "17:00.0", "0000:17:00", "0000:17:00.8", "x:y:z.0"])
def test_bad_bus_ids_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normalise_address(bad)


def test_nvml_structures_match_nvml_h() -> None:
    assert ctypes.sizeof(NvmlMemory) == 24
    # busIdLegacy[16] + 5 unsigned ints + busId[32]
    assert ctypes.sizeof(NvmlPciInfo) == 16 + 5 * 4 + 32
    assert NvmlPciInfo.busId.offset == 36


def test_nvml_missing_library_is_an_nvml_error() -> None:
    with pytest.raises(NvmlError):
        nvml_details("libnvidia-ml-does-not-exist.so.1")


def test_fake_returns_copies_of_its_list() -> None:
    fake = FakeDiscovery()
    first = fake.discover()
    assert [(g.address, g.model, g.passthrough_capable) for g in gpus(first)] == [
        ("0000:17:00.0", "NVIDIA H200", True)]
    first[0].driver = "changed"
    assert fake.discover()[0].driver == "vfio-pci"
    assert FakeDiscovery([]).discover() == []


def test_make_discovery_by_name() -> None:
    assert make_discovery("off", "qemu") is None
    assert make_discovery("auto", "fake") is None
    assert isinstance(make_discovery("auto", "qemu"), SysfsDiscovery)
    assert isinstance(make_discovery("fake", "fake"), FakeDiscovery)
    with pytest.raises(ConfigError):
        make_discovery("nvml", "qemu")


def test_this_machine_reads_without_error() -> None:
    """The real sysfs of whatever runs the tests (none at all in some containers)."""
    found = SysfsDiscovery("/", enrich=dict, all_devices=True).discover()
    for dev in found:
        assert normalise_address(dev.address) == dev.address
        assert len(dev.vendor_id) == 4 and len(dev.class_code) == 6
    assert all(isinstance(g, Gpu) for g in gpus(found))
