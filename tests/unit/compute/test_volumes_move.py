"""Which servers' volumes let them move (cold or live): none, or only volumes every host
opens itself (rbd), which are not copied."""

from __future__ import annotations

from onestack.core.compute.migrate import volumes_move

RBD = {"driver_volume_type": "rbd", "data": {"name": "volumes/volume-1"}}
FILE = {"driver_volume_type": "file", "data": {"path": "/srv/v.qcow2"}}


def test_no_volumes_move_anyhow() -> None:
    for action in ("migrate", "live_migrate"):
        assert volumes_move(action, True, 0, [])


def test_rbd_volumes_move_cold_and_live() -> None:
    for action in ("migrate", "live_migrate"):
        assert volumes_move(action, True, 2, [RBD, RBD])
        assert volumes_move(action, False, 1, [RBD])  # booted from an rbd volume
        assert not volumes_move(action, False, 1, [FILE])


def test_file_or_unattached_volumes_block_it() -> None:
    assert not volumes_move("live_migrate", True, 2, [RBD, FILE])
    assert not volumes_move("live_migrate", True, 2, [RBD])  # one has no attachment yet
    assert not volumes_move("live_migrate", True, 1, [None])
    assert not volumes_move("live_migrate", False, 0, [])  # no image, no volume: nothing
