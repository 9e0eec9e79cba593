"""NVIDIA GPU details (model, memory, UUID) by PCI address: from NVML through ctypes, else
from ``nvidia-smi``. Both see only GPUs the nvidia driver owns; either may be missing, and
then the answer is empty (sysfs alone describes the GPUs).

NVML structures as nvml.h declares them:
- ``nvmlMemory_t``: unsigned long long total, free, used (bytes);
- ``nvmlPciInfo_t`` (v3): char busIdLegacy[16]; unsigned int domain, bus, device,
  pciDeviceId, pciSubSystemId; char busId[32] (``00000000:1B:00.0``).
"""

from __future__ import annotations

import csv
import ctypes
import io
import logging
import shutil
import subprocess

from onestack.drivers.devices.base import GpuDetails, normalise_address

log = logging.getLogger(__name__)
NVML_LIBRARY = "libnvidia-ml.so.1"
NVML_SUCCESS = 0
NAME_BUFFER = 96  # NVML_DEVICE_NAME_V2_BUFFER_SIZE
UUID_BUFFER = 96  # NVML_DEVICE_UUID_V2_BUFFER_SIZE
SMI_QUERY = ["--query-gpu=pci.bus_id,name,uuid,memory.total", "--format=csv,noheader,nounits"]


class NvmlMemory(ctypes.Structure):
    _fields_ = [("total", ctypes.c_ulonglong), ("free", ctypes.c_ulonglong),
                ("used", ctypes.c_ulonglong)]


class NvmlPciInfo(ctypes.Structure):
    _fields_ = [("busIdLegacy", ctypes.c_char * 16), ("domain", ctypes.c_uint),
                ("bus", ctypes.c_uint), ("device", ctypes.c_uint),
                ("pciDeviceId", ctypes.c_uint), ("pciSubSystemId", ctypes.c_uint),
                ("busId", ctypes.c_char * 32)]


class NvmlError(Exception):
    pass


def nvml_details(library: str = NVML_LIBRARY) -> dict[str, GpuDetails]:
    """Every GPU NVML sees; NvmlError when the library is missing or fails."""
    try:
        lib = ctypes.CDLL(library)
    except OSError as exc:
        raise NvmlError(f"{library} cannot be loaded: {exc}") from exc

    def call(fn: str, *args: object) -> None:
        rc = getattr(lib, fn)(*args)
        if rc != NVML_SUCCESS:
            raise NvmlError(f"{fn} returned {rc}")

    call("nvmlInit_v2")
    try:
        count = ctypes.c_uint(0)
        call("nvmlDeviceGetCount_v2", ctypes.byref(count))
        out: dict[str, GpuDetails] = {}
        for index in range(count.value):
            handle = ctypes.c_void_p()
            call("nvmlDeviceGetHandleByIndex_v2", ctypes.c_uint(index), ctypes.byref(handle))
            name = ctypes.create_string_buffer(NAME_BUFFER)
            call("nvmlDeviceGetName", handle, name, ctypes.c_uint(NAME_BUFFER))
            uuid = ctypes.create_string_buffer(UUID_BUFFER)
            call("nvmlDeviceGetUUID", handle, uuid, ctypes.c_uint(UUID_BUFFER))
            memory = NvmlMemory()
            call("nvmlDeviceGetMemoryInfo", handle, ctypes.byref(memory))
            pci = NvmlPciInfo()
            call("nvmlDeviceGetPciInfo_v3", handle, ctypes.byref(pci))
            address = normalise_address(pci.busId.decode())
            out[address] = GpuDetails(name.value.decode(errors="replace"),
                                      memory.total // (1024 * 1024),
                                      uuid.value.decode(errors="replace") or None)
        return out
    finally:
        lib.nvmlShutdown()


def parse_smi_csv(text: str) -> dict[str, GpuDetails]:
    """``nvidia-smi --query-gpu=pci.bus_id,name,uuid,memory.total --format=csv,noheader,
    nounits`` output (memory in MiB); rows it cannot read are skipped."""
    out: dict[str, GpuDetails] = {}
    for row in csv.reader(io.StringIO(text), skipinitialspace=True):
        if len(row) < 4:
            continue
        bus_id, name, uuid, memory = (c.strip() for c in row[:4])
        try:
            address = normalise_address(bus_id)
        except ValueError:
            continue
        mib = int(memory) if memory.isdigit() else None
        out[address] = GpuDetails(name, mib, uuid if uuid.startswith("GPU-") else None)
    return out


def smi_details(exe: str = "nvidia-smi", timeout: float = 15.0) -> dict[str, GpuDetails]:
    path = shutil.which(exe)
    if path is None:
        return {}
    try:
        done = subprocess.run([path, *SMI_QUERY], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.info("nvidia-smi failed: %s", exc)
        return {}
    if done.returncode != 0:
        log.info("nvidia-smi exited %s: %s", done.returncode, done.stderr.strip()[:200])
        return {}
    return parse_smi_csv(done.stdout)


def nvidia_details() -> dict[str, GpuDetails]:
    """NVML when it loads and answers, else nvidia-smi, else nothing."""
    try:
        return nvml_details()
    except (NvmlError, AttributeError, ValueError) as exc:
        log.debug("NVML: %s; trying nvidia-smi", exc)
    return smi_details()
