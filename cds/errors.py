"""The exception tree. Every error a caller can cause maps to one HTTP status and a JSON body.

CDSError                      base; never escapes as a 500 with a stack trace
├── RequestError              400: the request is malformed; ``issues`` says where and why
├── ServiceNotFound           404: no service with that id
├── DataUnavailable           412: the data a hook needs could be had neither by prefetch nor FHIR
├── LaunchError               400: a SMART app launch cannot go on (an EHR not allowed, a missing, expired
│   │                         or mismatched session or state, an authorization the EHR refused); an HTML page
│   └── EHRServerError        502: the EHR's SMART configuration or token endpoint failed or answered wrongly
├── DatabaseUnavailable       503 with Retry-After: the database cannot be reached or fails
│   └── DatabaseTimeout       503: the database did not answer in time (a hung or overloaded server)
└── FHIRError                 one FHIR call failed (never reaches the caller: it makes data unavailable)
    ├── FHIRTimeout
    ├── FHIRStatusError       the server answered with an error status or an OperationOutcome
    ├── FHIRResponseError     the answer was not a FHIR resource we can read
    └── FHIRTooLarge          the answer (or the call's answers together) passed a size cap: not read
KnowledgeError                a knowledge file is broken: start-up stops, naming file and entry
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Issue:
    """One thing wrong with a request: where (a dotted path) and what."""

    loc: str
    msg: str


class CDSError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message}

    def log_reason(self) -> str:
        """Why the call failed, for the log: our own words, naming no patient data beyond ids."""
        return self.message


class RequestError(CDSError):
    status_code = 400
    code = "invalid_request"

    def __init__(self, message: str, issues: Sequence[Issue] = ()) -> None:
        super().__init__(message)
        self.issues = tuple(issues)

    def body(self) -> dict[str, object]:
        body = super().body()
        if self.issues:
            body["issues"] = [{"loc": i.loc, "msg": i.msg} for i in self.issues]
        return body


class Unauthorized(CDSError):
    """401 with no detail for the caller; ``reason`` is for the log only."""

    status_code = 401
    code = "unauthorized"

    def __init__(self, reason: str) -> None:
        super().__init__("authentication required")
        self.reason = reason


class PayloadTooLarge(CDSError):
    status_code = 413
    code = "payload_too_large"


class ServiceNotFound(CDSError):
    status_code = 404
    code = "service_not_found"


class DataUnavailable(CDSError):
    status_code = 412
    code = "precondition_failed"

    def __init__(self, message: str, missing: dict[str, str]) -> None:
        super().__init__(message)
        self.missing = missing

    def body(self) -> dict[str, object]:
        body = super().body()
        body["missing"] = [{"prefetch": k, "reason": v} for k, v in sorted(self.missing.items())]
        return body

    def log_reason(self) -> str:
        # the keys, not their reasons: those may quote the EHR's own error text
        return f"{self.message} (prefetch unavailable: {', '.join(sorted(self.missing))})"


class LaunchError(CDSError):
    """A SMART app launch that cannot go on; the message is shown on the page (never a token or code)."""

    status_code = 400
    code = "launch_failed"


class EHRServerError(LaunchError):
    """The EHR's SMART configuration or token endpoint could not be reached or answered what no SMART
    server should."""

    status_code = 502
    code = "ehr_server_error"


class DatabaseUnavailable(CDSError):
    """The database cannot be reached, refuses connections or fails: the caller should try again."""

    status_code = 503
    code = "database_unavailable"
    retry_after = 5  # seconds: a restarting PostgreSQL is usually back by then


class DatabaseTimeout(DatabaseUnavailable):
    """The database did not answer within the timeout; the call may still complete later."""


class FHIRError(CDSError):
    status_code = 502
    code = "fhir_error"


class FHIRTimeout(FHIRError):
    pass


class FHIRStatusError(FHIRError):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class FHIRResponseError(FHIRError):
    pass


class FHIRTooLarge(FHIRError):
    pass


class KnowledgeError(Exception):
    """A knowledge file is missing, malformed or inconsistent; raised at start-up."""


class InvalidResource(ValueError):
    """A resource built for a suggestion is not valid FHIR R4B."""


class ConfigError(Exception):
    """The configuration is wrong; raised at start-up with a message naming the problem."""
