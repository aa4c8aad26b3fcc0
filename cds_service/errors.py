"""Errors a caller can act on, each answered as a 4xx with a FHIR OperationOutcome naming what is wrong."""

from typing import Any


class CDSError(Exception):
    """A request the service cannot answer; `status_code` and `message` go back to the caller as they are."""

    status_code = 400
    issue_code = "invalid"
    headers: dict[str, str] | None = None
    log_message = "request refused"  # the line every refusal is logged with, its message as the reason

    def __init__(self, message: str, *, status_code: int | None = None, issue_code: str | None = None):
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if issue_code is not None:
            self.issue_code = issue_code


class BadRequest(CDSError):
    status_code = 400


class UnknownService(CDSError):
    status_code = 404
    issue_code = "not-found"


class PayloadTooLarge(CDSError):
    status_code = 413
    issue_code = "too-costly"


class UnsupportedMediaType(CDSError):
    status_code = 415
    issue_code = "not-supported"


class Unauthenticated(CDSError):
    """RFC 6750: 401 with a `WWW-Authenticate: Bearer ...` challenge."""

    status_code = 401
    issue_code = "login"
    log_message = "client authentication failed"

    def __init__(self, message: str, *, challenge: str):
        super().__init__(message)
        self.headers = {"WWW-Authenticate": challenge}


class ServiceUnavailable(CDSError):
    """A dependency (the database) failed; nothing was acknowledged, so the client may retry."""

    status_code = 503
    issue_code = "transient"


class RequiredDataUnavailable(CDSError):
    """CDS Hooks: a service that cannot obtain the data it needs SHALL answer 412."""

    status_code = 412
    issue_code = "incomplete"
    log_message = "required FHIR data unavailable"


def operation_outcome(message: str, issue_code: str = "invalid", severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": severity, "code": issue_code, "diagnostics": message}],
    }
