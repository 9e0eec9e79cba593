"""Request bodies of the internal agent API (what ``HttpLink`` sends)."""

from __future__ import annotations

from typing import Any

uuid = {"type": "string", "minLength": 1, "maxLength": 36}
short = {"type": "string", "maxLength": 255}
count = {"type": "integer", "minimum": 0, "maximum": 1024}
flavor = {"type": ["object", "null"]}


def body(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "object", "properties": props,
                           "additionalProperties": False}
    if required:
        out["required"] = required
    return out


register = body({"info": {"type": "object"}, "host_ip": {"type": "string", "maxLength": 64},
                 "devices": {"type": "array", "items": {"type": "object"}, "maxItems": 256}},
                ["info"])
heartbeat = body({"version": short})
schedule_pending = body({"older_than": {"type": "number", "minimum": 0}})
uuids = body({"uuids": {"type": "array", "items": uuid, "maxItems": 10000}}, ["uuids"])
observe = body({"power_state": {"type": "integer", "minimum": 0, "maximum": 7}},
               ["power_state"])
# What the agent may write back with a finished task: the flavor a resize settles on.
updates = body({"flavor": flavor, "flavor_id": short, "vcpus": count,
                "memory_mb": {"type": "integer", "minimum": 0}, "new_flavor": flavor})
complete = body({"task": short,
                 "power_state": {"type": ["integer", "null"], "minimum": 0, "maximum": 7},
                 "updates": {"anyOf": [{"type": "null"}, updates]}}, ["task"])
fail = body({"task": short, "message": {"type": "string", "maxLength": 65535}},
            ["task", "message"])
volume_done = body({"disk": body({"bdm_id": short}, ["bdm_id"]) | {
    "additionalProperties": True}, "outcome": short}, ["disk", "outcome"])
abort = body({"made": {"type": "array", "items": uuid, "maxItems": 256}})
devices = body({"count": count, "candidates": {"type": "array", "items": short,
                                               "maxItems": 1024}}, ["count"])
# A live migration's step: the target's addresses (host:port strings, disk node names) and
# the streams' TLS pre-shared key (hex), which goes to the source only this way.
live_dest = body({"migrate": short, "nbd": short,
                  "disks": {"type": "array", "items": short, "maxItems": 64},
                  "psk": {"type": "string", "pattern": r"^[0-9a-f]{64}\Z"}},
                 ["migrate", "nbd", "disks"])
live_step = body({"step": {"enum": ["prepared", "migrated"]}, "dest": live_dest}, ["step"])
# An agent's answer to a question that came with its work poll (a guest's console).
answer = body({"id": {"type": "string", "maxLength": 64},
               "output": {"type": ["string", "null"], "maxLength": 2 * 1024 * 1024},
               "error": {"type": ["string", "null"], "maxLength": 65535}}, ["id"])
