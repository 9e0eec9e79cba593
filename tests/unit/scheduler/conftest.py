"""A real Placement core on SQLite in a temp dir (no fakes: the core is pure SQL + Python)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.db import migrate
from onestack.db.engine import Database
from onestack.scheduler.service import Placement


@pytest.fixture
async def placement(tmp_path: Path) -> AsyncIterator[Placement]:
    url = f"sqlite:///{tmp_path}/placement.db"
    migrate.upgrade(url)
    db = Database(url)
    yield Placement(db)
    await db.close()


async def compute_node(p: Placement, name: str, vcpu: int = 8, ram: int = 16384,
                       disk: int = 100, ratio: float = 1.0, parent: str | None = None) -> str:
    rp = await p.providers.create(name, parent_uuid=parent)
    invs = {}
    if vcpu:
        invs["VCPU"] = {"total": vcpu, "reserved": 0, "min_unit": 1, "max_unit": int(vcpu * ratio),
                        "step_size": 1, "allocation_ratio": ratio}
    if ram:
        invs["MEMORY_MB"] = {"total": ram, "reserved": 512, "min_unit": 1, "max_unit": ram,
                             "step_size": 1, "allocation_ratio": 1.0}
    if disk:
        invs["DISK_GB"] = {"total": disk, "reserved": 0, "min_unit": 1, "max_unit": disk,
                           "step_size": 1, "allocation_ratio": 1.0}
    if invs:
        await p.inventories.replace_all(rp.uuid, rp.generation, invs)
    return rp.uuid
