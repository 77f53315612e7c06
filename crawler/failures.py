"""Why a download failed, as a short stable name for stats keys and log lines
(``sina/skipped/<name>``, ``sina/roll/failed/<name>``)."""

from __future__ import annotations

from scrapy.exceptions import (
    CannotResolveHostError,
    DownloadCancelledError,
    DownloadConnectionRefusedError,
    DownloadFailedError,
    DownloadTimeoutError,
    ResponseDataLossError,
)
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.internet.defer import CancelledError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError, TCPTimedOutError
from twisted.internet.error import TimeoutError as TwistedTimeoutError
from twisted.python.failure import Failure

from crawler.downloadermiddlewares.fetchpolicy import RefusedRequest
from crawler.resolver import PrivateAddressError

# Download failures by the name they get in stats and logs (sina/skipped/<name>).
FAILURE_REASONS: tuple[tuple[str, tuple[type[BaseException], ...]], ...] = (
    ("timeout", (DownloadTimeoutError, TwistedTimeoutError, TCPTimedOutError)),
    ("truncated", (ResponseDataLossError,)),
    ("too_large", (DownloadCancelledError, CancelledError)),  # over DOWNLOAD_MAXSIZE
    ("dns_error", (CannotResolveHostError, DNSLookupError)),
    ("connection_refused", (DownloadConnectionRefusedError, ConnectionRefusedError)),
    ("connection_lost", (DownloadFailedError,)),  # the server closed without an answer
)


def failure_reason(failure: Failure) -> str:
    """A short, stable name for why a download failed (used in stats keys)."""
    error = failure.value
    if isinstance(error, RefusedRequest):
        return error.reason
    if isinstance(error, PrivateAddressError):
        return "private_address"
    if isinstance(error, HttpError):
        return f"http_{error.response.status}"
    for reason, errors in FAILURE_REASONS:
        if isinstance(error, errors):
            return reason
    if type(failure.value).__name__ == "TimeoutError":  # e.g. Playwright's, waiting for links
        return "timeout"
    return type(failure.value).__name__
