"""The volume state table: transitions, outcomes of work, what a restart settles."""

from __future__ import annotations

import pytest

from onestack.core.volume import states
from onestack.errors import BadRequest


def test_every_transient_status_has_an_outcome_and_a_settlement() -> None:
    assert set(states.DONE) == states.TRANSIENT
    assert set(states.SETTLE) | {states.DELETING} == states.TRANSIENT
    for status in states.TRANSIENT:
        ok, failed = states.DONE[status]
        assert ok is None or ok in states.STATUSES
        assert failed in states.STATUSES
    for to in states.SETTLE.values():
        assert to not in states.TRANSIENT


def test_actions_name_known_statuses() -> None:
    for action in states.ACTIONS.values():
        assert action.sources <= set(states.STATUSES)
        assert action.to is None or action.to in states.STATUSES


@pytest.mark.parametrize(("action", "status", "to"), [
    ("delete", states.AVAILABLE, states.DELETING),
    ("delete", states.ERROR, states.DELETING),
    ("force_delete", states.IN_USE, states.DELETING),
    ("extend", states.AVAILABLE, states.EXTENDING),
    ("extend_attached", states.IN_USE, states.EXTENDING),
    ("reserve", states.AVAILABLE, states.ATTACHING),
    ("unreserve", states.ATTACHING, states.AVAILABLE),
    ("attach", states.ATTACHING, states.IN_USE),
    ("begin_detaching", states.IN_USE, states.DETACHING),
    ("roll_detaching", states.DETACHING, states.IN_USE),
    ("attachment_create", states.AVAILABLE, states.RESERVED),
    ("attachment_complete", states.RESERVED, states.IN_USE),
    ("upload_image", states.AVAILABLE, states.UPLOADING),
])
def test_allowed_transitions(action: str, status: str, to: str) -> None:
    assert states.check(action, "v-1", status).to == to


@pytest.mark.parametrize(("action", "status"), [
    ("delete", states.IN_USE), ("delete", states.CREATING), ("delete", states.DELETING),
    ("extend", states.IN_USE), ("snapshot", states.IN_USE), ("reserve", states.IN_USE),
    ("attachment_create", states.IN_USE), ("upload_image", states.IN_USE),
    ("force_delete", states.DELETING), ("begin_detaching", states.AVAILABLE),
])
def test_refused_transitions_are_cinder_400s(action: str, status: str) -> None:
    with pytest.raises(BadRequest) as err:
        states.check(action, "v-1", status)
    assert err.value.status == 400
    assert f"current status is: {status}" in err.value.message
    assert err.value.message.startswith("Invalid volume: Volume v-1 status must be")


def test_snapshot_delete_rules() -> None:
    states.check_snapshot_delete("s-1", states.SNAPSHOT_AVAILABLE)
    states.check_snapshot_delete("s-1", states.SNAPSHOT_ERROR)
    with pytest.raises(BadRequest):
        states.check_snapshot_delete("s-1", states.SNAPSHOT_CREATING)
