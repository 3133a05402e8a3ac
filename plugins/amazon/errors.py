"""What can go wrong talking to Amazon. Every error is a `ConnectorError` (so a run that meets
one fails with its message) and carries the `code` a change gets when it fails because of it.
No message ever holds a secret: no token, client secret or signed URL."""

from __future__ import annotations

from core.errors import ConnectorError


class AmazonError(ConnectorError):
    """Base of the Amazon channel's errors."""

    code = "SYNCFARM_AMAZON"
    #: Amazon may well say yes later: the changes stay pending rather than fail
    transient = False

    def __init__(
        self, message: str, *, code: str | None = None, transient: bool | None = None
    ) -> None:
        super().__init__(message)
        if code:
            self.code = code
        if transient is not None:
            self.transient = transient


class AmazonAuthRefused(AmazonError):
    """Login with Amazon refused the app's credentials or the seller's refresh token."""

    code = "LWA_REFUSED"


class AmazonAccessDenied(AmazonError):
    """The SP-API refused a fresh access token (the app lacks a role, or the seller revoked
    it)."""

    code = "SPAPI_ACCESS_DENIED"


class AmazonApiError(AmazonError):
    """The SP-API answered a request with an error of its own: a 4xx other than 401/403/429,
    or (transient) a 5xx after the retries; `code` is Amazon's."""


class AmazonUnreachable(AmazonError):
    """No answer: connection errors or timeouts, after the retries."""

    code = "SYNCFARM_UNREACHABLE"
    transient = True


class AmazonThrottled(AmazonError):
    """A rate limit would keep a request waiting longer than `max_wait_s`."""

    code = "SYNCFARM_THROTTLED"
    transient = True
