"""Volume and snapshot statuses, and every allowed transition, in one table.

An action is allowed when the volume's status is in the action's ``sources``; it then moves
the volume to ``to`` (None: the status stays). Work the backend owes for a transient status
ends in ``DONE[status]`` (success, failure). ``check`` is the one place these are enforced; a
refused action is Cinder's 400 ("Invalid volume: ...") saying what the status is and must be.
A restart finds volumes in ``TRANSIENT`` states with nobody working on them: ``SETTLE`` says
where each goes (``DELETING`` is simply retried: deleting is idempotent).
"""

from __future__ import annotations

from dataclasses import dataclass

from onestack.errors import BadRequest

CREATING = "creating"
AVAILABLE = "available"
RESERVED = "reserved"
ATTACHING = "attaching"
IN_USE = "in-use"
DETACHING = "detaching"
EXTENDING = "extending"
UPLOADING = "uploading"
DOWNLOADING = "downloading"
DELETING = "deleting"
ERROR = "error"
ERROR_DELETING = "error_deleting"
ERROR_EXTENDING = "error_extending"
MAINTENANCE = "maintenance"
AWAITING_TRANSFER = "awaiting-transfer"  # offered to another project (transfers.py)

STATUSES = (CREATING, AVAILABLE, RESERVED, ATTACHING, IN_USE, DETACHING, EXTENDING,
            UPLOADING, DOWNLOADING, DELETING, ERROR, ERROR_DELETING, ERROR_EXTENDING,
            MAINTENANCE, AWAITING_TRANSFER)
# Statuses the backend worker owes work for.
TRANSIENT = frozenset({CREATING, DOWNLOADING, EXTENDING, UPLOADING, DELETING})
# Where a transient status goes when its work is done: (success, failure). None on success
# of DELETING: the row is gone. UPLOADING returns to the status it came from.
DONE: dict[str, tuple[str | None, str]] = {
    CREATING: (AVAILABLE, ERROR),
    DOWNLOADING: (AVAILABLE, ERROR),
    EXTENDING: (AVAILABLE, ERROR_EXTENDING),
    UPLOADING: (AVAILABLE, AVAILABLE),
    DELETING: (None, ERROR_DELETING),
}
# After a restart, with no worker on it.
SETTLE: dict[str, str] = {CREATING: ERROR, DOWNLOADING: ERROR, EXTENDING: ERROR_EXTENDING,
                          UPLOADING: AVAILABLE}

ANY: frozenset[str] = frozenset(STATUSES)


@dataclass(frozen=True)
class Action:
    sources: frozenset[str]
    to: str | None = None


def _s(*states: str) -> frozenset[str]:
    return frozenset(states)


DELETABLE = _s(AVAILABLE, ERROR, ERROR_EXTENDING, ERROR_DELETING)
ACTIONS: dict[str, Action] = {
    "delete": Action(DELETABLE, DELETING),
    "force_delete": Action(ANY - _s(DELETING), DELETING),
    "extend": Action(_s(AVAILABLE), EXTENDING),
    "extend_attached": Action(_s(AVAILABLE, IN_USE), EXTENDING),
    "snapshot": Action(_s(AVAILABLE)),
    "snapshot_force": Action(_s(AVAILABLE, IN_USE)),
    "clone": Action(_s(AVAILABLE, IN_USE)),
    "upload_image": Action(_s(AVAILABLE), UPLOADING),
    "upload_image_force": Action(_s(AVAILABLE, IN_USE), UPLOADING),
    "readonly": Action(_s(AVAILABLE, IN_USE)),
    "bootable": Action(ANY - _s(DELETING)),
    "metadata": Action(ANY - _s(MAINTENANCE, DELETING)),
    "update": Action(ANY - _s(MAINTENANCE)),
    # the legacy attach flow (Nova before attachments)
    "reserve": Action(_s(AVAILABLE), ATTACHING),
    "reserve_multiattach": Action(_s(AVAILABLE, IN_USE), ATTACHING),
    "unreserve": Action(_s(ATTACHING), AVAILABLE),
    "initialize_connection": Action(_s(ATTACHING, RESERVED, IN_USE, AVAILABLE)),
    "attach": Action(_s(ATTACHING, RESERVED, AVAILABLE, IN_USE), IN_USE),
    "begin_detaching": Action(_s(IN_USE), DETACHING),
    "roll_detaching": Action(_s(DETACHING), IN_USE),
    "detach": Action(_s(IN_USE, DETACHING, ATTACHING, RESERVED, ERROR), AVAILABLE),
    # the attachments API (3.27+)
    "attachment_create": Action(_s(AVAILABLE), RESERVED),
    "attachment_create_multiattach": Action(_s(AVAILABLE, IN_USE, RESERVED), RESERVED),
    "attachment_update": Action(_s(RESERVED, ATTACHING, IN_USE), ATTACHING),
    "attachment_complete": Action(_s(RESERVED, ATTACHING, IN_USE), IN_USE),
}

SNAPSHOT_CREATING = "creating"
SNAPSHOT_AVAILABLE = "available"
SNAPSHOT_DELETING = "deleting"
SNAPSHOT_ERROR = "error"
SNAPSHOT_ERROR_DELETING = "error_deleting"
SNAPSHOT_STATUSES = (SNAPSHOT_CREATING, SNAPSHOT_AVAILABLE, SNAPSHOT_DELETING, SNAPSHOT_ERROR,
                     SNAPSHOT_ERROR_DELETING, "backing-up", "restoring", "unmanaging")
SNAPSHOT_DELETABLE = frozenset({SNAPSHOT_AVAILABLE, SNAPSHOT_ERROR, SNAPSHOT_ERROR_DELETING})
SNAPSHOT_SETTLE = {SNAPSHOT_CREATING: SNAPSHOT_ERROR}


def _names(states: frozenset[str]) -> str:
    return ", ".join(sorted(states))


def check(action: str, volume_id: str, status: str) -> Action:
    """The action's row if a volume in ``status`` may do it; Cinder's 400 otherwise."""
    rule = ACTIONS[action]
    if status not in rule.sources:
        raise BadRequest(f"Invalid volume: Volume {volume_id} status must be "
                         f"{_names(rule.sources)} to {action.split('_')[0]}, but current "
                         f"status is: {status}.")
    return rule


def check_snapshot_delete(snapshot_id: str, status: str) -> None:
    if status not in SNAPSHOT_DELETABLE:
        raise BadRequest(f"Invalid snapshot: Snapshot {snapshot_id} status must be "
                         f"{_names(SNAPSHOT_DELETABLE)} to delete, but current status is: "
                         f"{status}.")
