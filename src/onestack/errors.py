"""The one exception tree.

Core code raises these; the API layer renders them once, in each service's own fault format
(see ``api/common/faults.py``). Each class carries its HTTP status, the Keystone-style title,
the Nova fault key and the Neutron error type, so every service can speak its dialect.
"""

from __future__ import annotations

from typing import ClassVar


class OnestackError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"
    nova_fault: ClassVar[str] = "computeFault"
    neutron_type: ClassVar[str] = "InternalError"
    default_message: ClassVar[str] = ""

    def __init__(self, message: str = "", *, headers: dict[str, str] | None = None) -> None:
        message = message or self.default_message or self.title
        super().__init__(message)
        self.message = message
        self.headers = headers or {}


class ConfigError(OnestackError):
    """Bad configuration; raised at start-up, never on a request."""


class BadRequest(OnestackError):
    status = 400
    title = "Bad Request"
    nova_fault = "badRequest"
    neutron_type = "BadRequest"


class ValidationError(BadRequest):
    """A request body or parameter failed validation."""


class Unauthorized(OnestackError):
    status = 401
    title = "Unauthorized"
    nova_fault = "unauthorized"
    neutron_type = "NotAuthorized"
    default_message = "The request you have made requires authentication."


class Forbidden(OnestackError):
    status = 403
    title = "Forbidden"
    nova_fault = "forbidden"
    neutron_type = "PolicyNotAuthorized"


class NotFound(OnestackError):
    status = 404
    title = "Not Found"
    nova_fault = "itemNotFound"
    neutron_type = "NotFound"


class MethodNotAllowed(OnestackError):
    status = 405
    title = "Method Not Allowed"
    nova_fault = "badMethod"
    neutron_type = "HTTPMethodNotAllowed"


class Conflict(OnestackError):
    status = 409
    title = "Conflict"
    nova_fault = "conflictingRequest"
    neutron_type = "Conflict"


class Gone(OnestackError):
    status = 410
    title = "Gone"


class PreconditionFailed(OnestackError):
    status = 412
    title = "Precondition Failed"
    neutron_type = "PreconditionFailed"


class PayloadTooLarge(OnestackError):
    status = 413
    title = "Request Entity Too Large"
    nova_fault = "overLimit"
    neutron_type = "OverQuota"


class UnsupportedMediaType(OnestackError):
    status = 415
    title = "Unsupported Media Type"
    nova_fault = "badMediaType"


class NotImplementedYet(OnestackError):
    status = 501
    title = "Not Implemented"
    nova_fault = "notImplemented"
    neutron_type = "NotImplementedError"


class ServiceUnavailable(OnestackError):
    status = 503
    title = "Service Unavailable"
    nova_fault = "serviceUnavailable"
    neutron_type = "ServiceUnavailable"
