"""Evacuate's decisions: which source hosts may be evacuated, which targets are valid, the
scheduler filter it adds, and its row in the state table."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from onestack.core.compute import states
from onestack.core.compute.evacuate import check_source, check_target, target_filter
from onestack.errors import BadRequest, Conflict, NotFound


def _inst(vm_state: str, task_state: str | None = None) -> Any:
    return SimpleNamespace(uuid="u1", vm_state=vm_state, task_state=task_state, locked=True,
                           locked_by="owner")


def test_only_a_down_source_host_is_evacuated() -> None:
    node: Any = object()
    assert check_source("a", node, up=False) == "a"
    assert check_source("a", None, up=False) == "a"  # a host no longer registered
    with pytest.raises(BadRequest, match="Compute service of a is still in use"):
        check_source("a", node, up=True)
    with pytest.raises(Conflict):
        check_source(None, None, up=False)


def test_the_target_is_another_known_host() -> None:
    check_target("a", None, {"a", "b"})
    check_target("a", "b", {"a", "b"})
    with pytest.raises(BadRequest, match="can't be the same one"):
        check_target("a", "a", {"a", "b"})
    with pytest.raises(NotFound, match="Compute host c not found"):
        check_target("a", "c", {"a", "b"})


def test_the_filter_excludes_the_source_and_keeps_only_a_named_target() -> None:
    hosts = {"rp-a": "a", "rp-b": "b", "rp-c": "c"}
    state: dict[str, Any] = {u: SimpleNamespace(uuid=u, name=n) for u, n in hosts.items()}
    any_host = target_filter("a", None, hosts)
    assert any_host(state["rp-a"]) is not None
    assert any_host(state["rp-b"]) is None and any_host(state["rp-c"]) is None
    only_c = target_filter("a", "c", hosts)
    assert only_c(state["rp-b"]) is not None and only_c(state["rp-c"]) is None


@pytest.mark.parametrize("vm_state", [states.ACTIVE, states.STOPPED, states.ERROR])
def test_evacuable_states_rebuild(vm_state: str) -> None:
    rule = states.check("evacuate", _inst(vm_state))  # locked: evacuate ignores the lock
    assert rule.task == states.REBUILDING


@pytest.mark.parametrize("vm_state,task", [
    (states.PAUSED, None), (states.SUSPENDED, None), (states.BUILDING, None),
    (states.RESIZED, None), (states.ACTIVE, states.REBOOTING),
    (states.ACTIVE, states.REBUILDING)])
def test_other_states_are_refused(vm_state: str, task: str | None) -> None:
    with pytest.raises(Conflict, match="Cannot 'evacuate'"):
        states.check("evacuate", _inst(vm_state, task))
