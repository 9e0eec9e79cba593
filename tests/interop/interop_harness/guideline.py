"""The interop guideline's required tests: ids, services, capabilities."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
GUIDELINE = "2022.11"
LOAD_LIST = DATA_DIR / "2022.11-platform.load-list"
BY_COMPONENT = DATA_DIR / "2022.11-platform.by-component.tsv"
TEMPEST_CONF_TEMPLATE = DATA_DIR / "tempest.conf.example"

# Canonical service names, in report order.
SERVICES: tuple[str, ...] = ("identity", "compute", "image", "network", "volume", "object")

# Names accepted on the command line and found in the tsv, mapped to the canonical ones.
SERVICE_ALIASES: dict[str, str] = {
    "identity": "identity",
    "keystone": "identity",
    "compute": "compute",
    "nova": "compute",
    "image": "image",
    "glance": "image",
    "network": "network",
    "networking": "network",
    "neutron": "network",
    "volume": "volume",
    "block-storage": "volume",
    "volumev3": "volume",
    "cinder": "volume",
    "object": "object",
    "object_storage": "object",
    "object-storage": "object",
    "object-store": "object",
    "swift": "object",
}

_IDEMPOTENT_ID = re.compile(
    r"\[(?:[^\]]*,)?id-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})(?:,[^\]]*)?\]"
)


def idempotent_id(test_id: str) -> str | None:
    """The ``id-...`` uuid in a tempest test id's attribute list, lower case."""
    match = _IDEMPOTENT_ID.search(test_id)
    return match.group(1).lower() if match else None


def strip_attributes(test_id: str) -> str:
    """``pkg.Class.test_x[id-...,smoke]`` -> ``pkg.Class.test_x``."""
    return test_id.split("[", 1)[0]


def class_of(test_id: str) -> str:
    """``pkg.mod.Class.test_x[...]`` -> ``pkg.mod.Class``."""
    return strip_attributes(test_id).rsplit(".", 1)[0]


def canonical_service(name: str) -> str:
    """Map a service name or alias to its canonical name; ValueError when unknown."""
    key = name.strip().lower()
    if key not in SERVICE_ALIASES:
        known = ", ".join(SERVICES)
        raise ValueError(f"unknown service {name!r} (known: {known})")
    return SERVICE_ALIASES[key]


@dataclass(frozen=True)
class RequiredTest:
    """One required test of the guideline."""

    test_id: str  # exact tempest id from the load list, attributes included
    uuid: str  # idempotent id
    service: str  # canonical service name
    component: str
    capability: str


class GuidelineError(Exception):
    """The guideline data files are inconsistent."""


def _read_lines(path: Path) -> list[str]:
    return [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


class Matcher(Generic[T]):
    """Finds things by test name (attributes stripped), else by idempotent id.

    Names come first because idempotent ids are not unique in tempest: the five
    ServersTestJSON / ServersTestManualDisk twins share theirs. The id is the fallback
    for a test that tempest renamed, used only when exactly one candidate has it.
    """

    def __init__(self, items: Iterable[tuple[str, T]]) -> None:
        self._by_name: dict[str, T] = {}
        self._by_uuid: dict[str, list[T]] = {}
        for test_id, item in items:
            self._by_name.setdefault(strip_attributes(test_id), item)
            uuid = idempotent_id(test_id)
            if uuid is not None:
                self._by_uuid.setdefault(uuid, []).append(item)

    def find(self, test_id: str) -> T | None:
        found = self._by_name.get(strip_attributes(test_id))
        if found is not None:
            return found
        uuid = idempotent_id(test_id)
        candidates = self._by_uuid.get(uuid, []) if uuid else []
        return candidates[0] if len(candidates) == 1 else None


def load_required(
    load_list: Path = LOAD_LIST, by_component: Path = BY_COMPONENT
) -> list[RequiredTest]:
    """The required tests, in load-list order, joined with the tsv (by name, else id)."""
    rows: list[tuple[str, tuple[str, str, str]]] = []
    for line in _read_lines(by_component):
        fields = line.split("\t")
        if len(fields) < 4:
            raise GuidelineError(f"{by_component}: bad line {line!r}")
        rows.append((fields[0], (fields[1], canonical_service(fields[2]), fields[3])))
    meta = Matcher(rows)
    tests: list[RequiredTest] = []
    for test_id in _read_lines(load_list):
        uuid = idempotent_id(test_id)
        if uuid is None:
            raise GuidelineError(f"{load_list}: no idempotent id in {test_id!r}")
        found = meta.find(test_id)
        if found is None:
            raise GuidelineError(f"{load_list}: {test_id} is not in {by_component}")
        component, service, capability = found
        tests.append(RequiredTest(test_id, uuid, service, component, capability))
    return tests


def select(tests: Iterable[RequiredTest], services: Iterable[str]) -> list[RequiredTest]:
    """The tests of the given (canonical) services, order kept."""
    wanted = set(services)
    return [t for t in tests if t.service in wanted]


def write_load_list(tests: Iterable[RequiredTest], path: Path) -> None:
    """A ``tempest run --load-list`` file with the exact test ids."""
    path.write_text("".join(f"{t.test_id}\n" for t in tests), encoding="utf-8")
