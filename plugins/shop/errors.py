"""What can go wrong talking to a shop or a warehouse over HTTP. Every error is a
`ConnectorError`, so a run that meets one fails with its message; messages name the service
and the request, never a credential."""

from __future__ import annotations

from core.errors import ConnectorError


class ApiError(ConnectorError):
    """The service answered a request with an error of its own; `code` is the service's code
    when it gave one (WooCommerce: `woocommerce_rest_…`), else `http_<status>`."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        #: the service's HTTP status (not `status`, which is how syncfarm's API answers)
        self.http_status = status
        self.code = code or (f"http_{status}" if status else "unreachable")


class ApiRefused(ApiError):
    """401 or 403: the credentials are wrong or lack a permission; no request will do better
    until a person edits the connection."""


class ApiUnreachable(ApiError):
    """No answer (connection errors, timeouts) or only 5xx answers, after the retries."""


class SnapshotReadOnly(ApiError):
    """A write was asked of a shop snapshot (a directory of saved answers)."""


#: failed items named in a run's error message
SHOWN_FAILURES = 5


def failed_items(what: str, failures: list[str], done: int) -> ConnectorError:
    """The error ending a run in which some items failed while the others were done, e.g.
    `2 order(s) could not be delivered (3 were): order 7: …; order 9: …`."""
    more = len(failures) - SHOWN_FAILURES
    return ConnectorError(
        f"{len(failures)} {what} ({done} were): "
        + "; ".join(failures[:SHOWN_FAILURES])
        + (f"; and {more} more" if more > 0 else "")
    )
