"""block_device_mapping_v2 read into a plan: what boots, which volumes Nova makes, and
Nova's 400s for mappings that make no sense (no block storage needed)."""

from __future__ import annotations

from typing import Any

import pytest

from onestack.core.compute.bdm import plan
from onestack.errors import BadRequest

IMG = "11111111-1111-4111-8111-111111111111"
VOL = "22222222-2222-4222-8222-222222222222"


def test_image_to_volume_boots_from_a_new_volume() -> None:
    p = plan([{"uuid": IMG, "source_type": "image", "destination_type": "volume",
               "boot_index": "0", "volume_size": "3", "delete_on_termination": "true"}],
             "", 1)
    assert p.image_ref == "" and p.boot is not None
    assert (p.boot.source, p.boot.size, p.boot.made, p.boot.delete_on_termination) == (
        "image", 3, True, True)


def test_the_image_on_the_local_root_is_imageref() -> None:
    local = {"uuid": IMG, "source_type": "image", "destination_type": "local",
             "boot_index": 0}
    data = {"uuid": VOL, "source_type": "volume", "destination_type": "volume",
            "boot_index": -1}
    p = plan([local, data], "", 1)
    assert p.image_ref == IMG and p.boot is None
    assert [(v.uuid, v.boot_index, v.made) for v in p.volumes] == [(VOL, None, False)]
    assert plan([local], f"http://x/images/{IMG}", 1).image_ref == IMG
    assert plan(None, IMG, 1).volumes == []


@pytest.mark.parametrize(("bdms", "image_ref", "count", "message"), [
    ([], "", 1, "Missing imageRef"),
    ([{"uuid": VOL, "source_type": "volume", "destination_type": "volume"}], "", 1,
     "Boot sequence"),
    ([{"uuid": VOL, "source_type": "volume", "destination_type": "volume",
       "boot_index": 1}], IMG, 1, "Boot sequence"),  # fine: 0 is the image, 1 the volume
    ([{"uuid": VOL, "source_type": "volume", "boot_index": 0}], IMG, 1, "both name"),
    ([{"uuid": VOL, "source_type": "volume", "boot_index": 0}], "", 2, "multiple"),
    ([{"source_type": "blank", "destination_type": "volume", "boot_index": 0}], "", 1,
     "non-zero size"),
    ([{"source_type": "blank", "destination_type": "local"}], IMG, 1, "Blank local"),
    ([{"uuid": IMG, "source_type": "image", "destination_type": "volume",
       "boot_index": 0}], "", 1, "non-zero size"),
    ([{"uuid": IMG, "source_type": "image", "destination_type": "local",
       "boot_index": 0}], VOL, 1, "differ"),
    ([{"uuid": VOL, "source_type": "volume", "boot_index": 0, "device_name": "vdb"},
      {"uuid": IMG, "source_type": "volume", "device_name": "vdb"}], "", 1, "unique"),
    ([{"uuid": VOL, "source_type": "volume", "boot_index": 0},
      {"uuid": IMG, "source_type": "volume", "boot_index": 2}], "", 1, "Boot sequence"),
    (["x"], "", 1, "object"),
    ([{"source_type": "disk"}], "", 1, "source_type"),
])
def test_bad_mappings(bdms: list[Any], image_ref: str, count: int, message: str) -> None:
    if message == "Boot sequence" and image_ref:
        assert plan(bdms, image_ref, count).volumes[0].boot_index == 1
        return
    with pytest.raises(BadRequest, match=message):
        plan(bdms, image_ref, count)
