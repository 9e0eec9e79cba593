"""The state table: statuses, allowed actions, and the 409 that says why."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from onestack.core.compute import states
from onestack.errors import Conflict


@dataclass
class Inst:
    vm_state: str
    task_state: str | None = None
    locked: bool = False
    locked_by: str | None = None
    uuid: str = "u-1"


def test_status_of_states() -> None:
    assert states.status(states.ACTIVE, None) == "ACTIVE"
    assert states.status(states.ACTIVE, states.REBOOTING_HARD) == "HARD_REBOOT"
    assert states.status(states.STOPPED, None) == "SHUTOFF"
    assert states.status(states.RESIZED, None) == "VERIFY_RESIZE"
    assert states.status(states.BUILDING, states.SPAWNING) == "BUILD"
    assert states.status(states.ACTIVE, states.DELETING) == "ACTIVE"


def test_every_agent_task_has_an_outcome() -> None:
    assert set(states.DONE) == states.AGENT_TASKS
    for action in states.ACTIONS.values():
        assert action.task is None or action.task in states.AGENT_TASKS


def test_wrong_state_is_409_saying_what_it_must_be() -> None:
    with pytest.raises(Conflict) as err:
        states.check("start", Inst(states.ACTIVE))
    assert "vm_state active" in err.value.message and "must be in vm_state stopped" in \
        err.value.message
    with pytest.raises(Conflict, match="task_state"):
        states.check("stop", Inst(states.ACTIVE, states.REBOOTING))
    assert states.check("stop", Inst(states.ACTIVE)).task == states.POWERING_OFF


def test_lock_applies_to_owners_not_admins() -> None:
    locked = Inst(states.ACTIVE, locked=True, locked_by="owner")
    with pytest.raises(Conflict, match="locked"):
        states.check("reboot", locked)
    assert states.check("reboot", locked, is_admin=True).task == states.REBOOTING
    assert states.check("unlock", locked).task is None


def test_status_filter_pairs() -> None:
    assert (states.STOPPED, None) in (states.vm_states_for_status("shutoff") or [])
    assert states.vm_states_for_status("nope") is None
