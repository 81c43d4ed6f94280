"""Which AWS errors are worth trying again: the one test that decides fail-or-park everywhere."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "TransactionConflictException",
    "RequestTimeout",
    "RequestTimeoutException",
    "SlowDown",
}


def is_transient(error: BaseException) -> bool:
    """Throttling, service-side failures, network trouble and timeouts: worth trying again.

    Everything else (a refused value, a missing resource, a bug) would fail the same way on
    every delivery, so it must park the webhook rather than fail its record.
    """
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in TRANSIENT_CODES or status >= 500 or status == 429
    # ConnectionError covers connect timeouts and unreachable endpoints; HTTPClientError
    # covers read timeouts and dropped connections.
    return isinstance(error, ConnectionError | HTTPClientError | TimeoutError)
