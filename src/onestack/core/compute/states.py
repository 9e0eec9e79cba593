"""vm_state, task_state and power_state, and every allowed transition, in one table.

An API action is allowed when the instance's vm_state and task_state are in the action's
sets; it then sets ``task_state`` to the action's task (the work the agent owes). When the
agent finishes a task, ``DONE`` says which vm_state and power_state the instance ends in.
``check`` is the one place these are enforced; a refused action is a 409 that says what the
state is and what it must be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from onestack.errors import Conflict

# --- vm states (nova/compute/vm_states.py) ------------------------------------------------
ACTIVE = "active"
BUILDING = "building"
PAUSED = "paused"
SUSPENDED = "suspended"
STOPPED = "stopped"
RESCUED = "rescued"
RESIZED = "resized"
SOFT_DELETED = "soft-delete"
DELETED = "deleted"
ERROR = "error"
SHELVED = "shelved"
SHELVED_OFFLOADED = "shelved_offloaded"

# --- task states (the subset this cloud uses) ---------------------------------------------
SCHEDULING = "scheduling"
NETWORKING = "networking"
SPAWNING = "spawning"
POWERING_OFF = "powering-off"
POWERING_ON = "powering-on"
REBOOTING = "rebooting"
REBOOTING_HARD = "rebooting_hard"
PAUSING = "pausing"
UNPAUSING = "unpausing"
SUSPENDING = "suspending"
RESUMING = "resuming"
REBUILDING = "rebuilding"
RESIZE_PREP = "resize_prep"
RESIZE_CONFIRMING = "resize_confirming"
RESIZE_REVERTING = "resize_reverting"
# A cold migration: the source host exports the root disk, then the target starts the guest.
RESIZE_MIGRATING = "resize_migrating"
RESIZE_FINISH = "resize_finish"
# A live migration: the target starts a guest that waits for the source's disks and memory.
MIGRATING = "migrating"
IMAGE_SNAPSHOT = "image_snapshot"
DELETING = "deleting"
# Shelve: the guest stops and its root disk becomes an image; an offload frees the host.
SHELVING = "shelving"
SHELVING_OFFLOADING = "shelving_offloading"
UNSHELVING = "unshelving"
# Rescue: the guest boots a rescue image with its own disks attached after it.
RESCUING = "rescuing"
UNRESCUING = "unrescuing"

# --- power states (OS-EXT-STS:power_state) ------------------------------------------------
NOSTATE = 0
RUNNING = 1
PAUSED_POWER = 3
SHUTDOWN = 4
CRASHED = 6
SUSPENDED_POWER = 7

# Tasks the host agent carries out (everything else is API-side bookkeeping).
AGENT_TASKS = frozenset({
    SPAWNING, POWERING_OFF, POWERING_ON, REBOOTING, REBOOTING_HARD, PAUSING, UNPAUSING,
    SUSPENDING, RESUMING, REBUILDING, RESIZE_PREP, RESIZE_CONFIRMING, RESIZE_REVERTING,
    RESIZE_MIGRATING, RESIZE_FINISH, MIGRATING, IMAGE_SNAPSHOT, DELETING, SHELVING,
    SHELVING_OFFLOADING, UNSHELVING, RESCUING, UNRESCUING})

# When a task is done: (vm_state, power_state); None keeps what it was.
DONE: dict[str, tuple[str | None, int | None]] = {
    SPAWNING: (ACTIVE, RUNNING),
    POWERING_OFF: (STOPPED, SHUTDOWN),
    POWERING_ON: (ACTIVE, RUNNING),
    REBOOTING: (ACTIVE, RUNNING),
    REBOOTING_HARD: (ACTIVE, RUNNING),
    PAUSING: (PAUSED, PAUSED_POWER),
    UNPAUSING: (ACTIVE, RUNNING),
    SUSPENDING: (SUSPENDED, SUSPENDED_POWER),
    RESUMING: (ACTIVE, RUNNING),
    REBUILDING: (ACTIVE, RUNNING),
    RESIZE_PREP: (RESIZED, RUNNING),
    RESIZE_CONFIRMING: (ACTIVE, None),
    RESIZE_REVERTING: (ACTIVE, RUNNING),
    RESIZE_MIGRATING: (None, None),  # not an end: the instance moves on (migrate.py)
    MIGRATING: (None, None),  # a live migration ends as it began (ACTIVE or PAUSED)
    RESIZE_FINISH: (ACTIVE, RUNNING),
    IMAGE_SNAPSHOT: (None, None),
    DELETING: (DELETED, NOSTATE),
    SHELVING: (SHELVED, SHUTDOWN),
    SHELVING_OFFLOADING: (SHELVED_OFFLOADED, NOSTATE),
    UNSHELVING: (ACTIVE, RUNNING),
    RESCUING: (RESCUED, RUNNING),
    UNRESCUING: (ACTIVE, RUNNING),
}

ANY = None  # an Action whose vm_states (or task_states) is ANY accepts every state


@dataclass(frozen=True)
class Action:
    vm_states: frozenset[str] | None
    task_states: frozenset[str | None] | None = frozenset({None})
    task: str | None = None  # the task_state it sets
    lock_applies: bool = True  # a locked instance refuses it (except for admins)


def _vs(*states: str) -> frozenset[str]:
    return frozenset(states)


IDLE: frozenset[str | None] = frozenset({None})
REBOOT_TASKS: frozenset[str | None] = frozenset({None, REBOOTING, REBOOTING_HARD})

ACTIONS: dict[str, Action] = {
    "reboot": Action(_vs(ACTIVE), IDLE, REBOOTING),
    "reboot_hard": Action(_vs(ACTIVE, STOPPED, PAUSED, SUSPENDED, ERROR), REBOOT_TASKS,
                          REBOOTING_HARD),
    "stop": Action(_vs(ACTIVE, ERROR), IDLE, POWERING_OFF),
    "start": Action(_vs(STOPPED), IDLE, POWERING_ON),
    "pause": Action(_vs(ACTIVE), IDLE, PAUSING),
    "unpause": Action(_vs(PAUSED), IDLE, UNPAUSING),
    "suspend": Action(_vs(ACTIVE), IDLE, SUSPENDING),
    "resume": Action(_vs(SUSPENDED), IDLE, RESUMING),
    "rebuild": Action(_vs(ACTIVE, STOPPED, ERROR), IDLE, REBUILDING),
    # rebuilt on another host when its own is down (the API checks the host)
    "evacuate": Action(_vs(ACTIVE, STOPPED, ERROR), IDLE, REBUILDING, lock_applies=False),
    "resize": Action(_vs(ACTIVE, STOPPED), IDLE, RESIZE_PREP),
    "migrate": Action(_vs(ACTIVE, STOPPED), IDLE, RESIZE_MIGRATING),
    "live_migrate": Action(_vs(ACTIVE, PAUSED), IDLE, MIGRATING),
    "confirmResize": Action(_vs(RESIZED), IDLE, RESIZE_CONFIRMING),
    "revertResize": Action(_vs(RESIZED), IDLE, RESIZE_REVERTING),
    "createImage": Action(_vs(ACTIVE, STOPPED, PAUSED, SUSPENDED), IDLE, IMAGE_SNAPSHOT),
    "shelve": Action(_vs(ACTIVE, STOPPED, PAUSED, SUSPENDED), IDLE, SHELVING),
    "shelveOffload": Action(_vs(SHELVED), IDLE, SHELVING_OFFLOADING),
    "unshelve": Action(_vs(SHELVED, SHELVED_OFFLOADED), IDLE, UNSHELVING),
    "rescue": Action(_vs(ACTIVE, STOPPED, ERROR), IDLE, RESCUING),
    "unrescue": Action(_vs(RESCUED), IDLE, UNRESCUING),
    "delete": Action(ANY, ANY, DELETING),
    "forceDelete": Action(ANY, ANY, DELETING, lock_applies=False),
    "lock": Action(ANY, ANY, lock_applies=False),
    "unlock": Action(ANY, ANY, lock_applies=False),
    "update": Action(ANY, ANY, lock_applies=False),
    "tags": Action(ANY, ANY, lock_applies=False),
    "metadata": Action(ANY, ANY),
    # Nova: ACTIVE, PAUSED, STOPPED, RESIZED (and shelved ones, not served here yet)
    "attach_volume": Action(_vs(ACTIVE, PAUSED, STOPPED, RESIZED), IDLE),
    "detach_volume": Action(_vs(ACTIVE, PAUSED, STOPPED, RESIZED), IDLE),
    "getConsoleOutput": Action(_vs(ACTIVE, STOPPED, PAUSED, SUSPENDED, RESIZED, RESCUED,
                                   ERROR), ANY,
                               lock_applies=False),
}

# --- the API status of a (vm_state, task_state) pair (nova/api/openstack/common.py) --------
_STATUS: dict[str, dict[str | None, str]] = {
    ACTIVE: {None: "ACTIVE", REBOOTING: "REBOOT", REBOOTING_HARD: "HARD_REBOOT",
             REBUILDING: "REBUILD", RESIZE_PREP: "RESIZE", RESIZE_MIGRATING: "RESIZE",
             RESIZE_FINISH: "RESIZE", MIGRATING: "MIGRATING"},
    BUILDING: {None: "BUILD"},
    STOPPED: {None: "SHUTOFF", RESIZE_PREP: "RESIZE", REBUILDING: "REBUILD",
              RESIZE_MIGRATING: "RESIZE", RESIZE_FINISH: "RESIZE"},
    RESIZED: {None: "VERIFY_RESIZE", RESIZE_REVERTING: "REVERT_RESIZE",
              RESIZE_FINISH: "REVERT_RESIZE"},  # a cold migration going back (migrate_verify)
    PAUSED: {None: "PAUSED", MIGRATING: "MIGRATING"},
    SUSPENDED: {None: "SUSPENDED"},
    RESCUED: {None: "RESCUE"},
    ERROR: {None: "ERROR", REBUILDING: "REBUILD"},
    DELETED: {None: "DELETED"},
    SOFT_DELETED: {None: "SOFT_DELETED"},
    SHELVED: {None: "SHELVED"},
    SHELVED_OFFLOADED: {None: "SHELVED_OFFLOADED"},
}


def status(vm_state: str, task_state: str | None) -> str:
    by_task = _STATUS.get(vm_state, {None: "UNKNOWN"})
    return by_task.get(task_state, by_task[None])


def vm_states_for_status(name: str) -> list[tuple[str, str | None]] | None:
    """The (vm_state, task_state) pairs that show as status `name` (task None: any task that
    does not map elsewhere); None when no state shows as it."""
    name = name.upper()
    out: list[tuple[str, str | None]] = []
    for vm, tasks in _STATUS.items():
        for task, shown in tasks.items():
            if shown == name:
                out.append((vm, task))
    return out or None


STATUSES = sorted({s for tasks in _STATUS.values() for s in tasks.values()})


class Stateful(Protocol):
    uuid: str
    vm_state: str
    task_state: str | None
    locked: bool
    locked_by: str | None


def _names(states: frozenset[str | None] | frozenset[str]) -> str:
    return " or ".join(sorted("None" if s is None else s for s in states))


def check(action: str, inst: Stateful, *, is_admin: bool = False) -> Action:
    """The action's row if the instance may do it now; 409 saying why not otherwise."""
    rule = ACTIONS[action]
    if rule.lock_applies and inst.locked and not is_admin:
        raise Conflict(f"Instance {inst.uuid} is locked")
    if rule.vm_states is not None and inst.vm_state not in rule.vm_states:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in vm_state "
                       f"{inst.vm_state}; it must be in vm_state {_names(rule.vm_states)}.")
    if rule.task_states is not None and inst.task_state not in rule.task_states:
        raise Conflict(f"Cannot '{action}' instance {inst.uuid} while it is in task_state "
                       f"{inst.task_state}; it must be in task_state "
                       f"{_names(rule.task_states)}.")
    return rule
