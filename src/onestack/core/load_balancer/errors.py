"""Octavia's errors (``octavia/common/exceptions.py``), in the one error tree: the API
renders them as Octavia's fault body."""

from __future__ import annotations

from onestack.errors import BadRequest, Conflict, Forbidden, NotFound, NotImplementedYet

RESOURCE_NAMES = {"loadbalancer": "Load Balancer", "listener": "Listener", "pool": "Pool",
                  "member": "Member", "healthmonitor": "Health Monitor",
                  "l7policy": "L7 Policy", "l7rule": "L7 Rule"}


def not_found(kind: str, ident: str) -> NotFound:
    return NotFound(f"{RESOURCE_NAMES.get(kind, kind)} {ident} not found.")


def policy_forbidden() -> Forbidden:
    """PolicyForbidden: Octavia checks its policy against the object's project, so another
    project's existing object is 403 (a missing one is 404)."""
    return Forbidden("Policy does not allow this request to be performed.")


def immutable(lb_id: str) -> Conflict:
    return Conflict(f"Load Balancer {lb_id} is immutable and cannot be updated.")


def invalid(field: str, value: object, reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for field/attribute {field}. Value: '{value}'. "
                      f"{reason}")


def validation(message: str) -> BadRequest:
    return BadRequest(f"Validation failure: {message}")


def quota_met(resource: str) -> Forbidden:
    return Forbidden(f"Quota has been met for resources: {resource}")


def unsupported(option: str, provider: str = "haproxy") -> NotImplementedYet:
    return NotImplementedYet(f"Provider '{provider}' does not support a requested option: "
                             f"{option}")
