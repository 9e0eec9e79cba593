"""What the controller sends an agent stays readable by an agent one protocol older: fields
at their defaults are left out, and a record using a newer field is withheld from it."""

from __future__ import annotations

import dataclasses

import pytest

from onestack.agent import protocol
from onestack.agent.link import KnownInstance
from onestack.core.compute.volumes import VolumeDisk
from onestack.errors import BadRequest, Conflict

DISK = VolumeDisk("7", "vol-1", "vdb", "attached", "/v/vol-1", "raw", False)
# The fields of VolumeDisk an agent of protocol 1 (before the version) builds it from.
PROTOCOL_1 = {"bdm_id", "volume_id", "device_name", "status", "path", "format", "readonly",
              "boot_index", "rbd"}


def test_fields_at_their_defaults_are_left_out() -> None:
    assert protocol.wire(DISK) == {"bdm_id": "7", "volume_id": "vol-1", "device_name": "vdb",
                                   "status": "attached", "path": "/v/vol-1",
                                   "format": "raw", "readonly": False}
    assert set(protocol.wire(DISK)) <= PROTOCOL_1
    encrypted = dataclasses.replace(DISK, encrypted=True, key="secret")
    assert protocol.wire(encrypted)["encrypted"] is True
    assert VolumeDisk(**protocol.wire(encrypted)) == encrypted  # a new agent: all of it
    assert VolumeDisk(**protocol.wire(DISK)) == DISK


def test_a_record_with_a_newer_field_is_withheld_from_an_older_agent() -> None:
    encrypted = dataclasses.replace(DISK, encrypted=True, key="secret")
    assert protocol.understands(1, DISK)
    assert not protocol.understands(1, encrypted)
    assert protocol.understands(protocol.PROTOCOL, encrypted)
    known = KnownInstance(uuid="u", host="h", deleted=False)
    assert protocol.understands(1, known)


def test_the_header_and_the_range() -> None:
    assert protocol.of(None) == 1 and protocol.of("2") == 2
    with pytest.raises(BadRequest):
        protocol.of("x")
    for ok in (protocol.OLDEST, protocol.PROTOCOL):
        protocol.check(ok)
    for refused in (protocol.OLDEST - 1, protocol.PROTOCOL + 1):
        with pytest.raises(Conflict):
            protocol.check(refused)
