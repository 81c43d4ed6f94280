"""Inject AWS faults at botocore's transport: throttling, service errors, lost connections.

A `FaultInjector` is a `before-send` handler on a boto3 session's event system, registered
first. For a request it picks, it answers in place of the service (an error response that
botocore parses and retries exactly as a real one) or raises what the HTTP layer would
(a connection error, a read timeout). greenhook's code is not touched: its handlers get
their clients from boto3's default session (`boto3.client`, `boto3.resource`), so
`FaultInjector(...).install()` reaches them. A client copies its session's handlers when it
is created, so install before the handlers create their clients (`lambda_runtime.cold_start()`
makes them create new ones); a client made while it was installed keeps the handler, which
does nothing once the injector is uninstalled (or `enabled` is False).

When faults fire: `Rate` (a fraction of calls, seeded), `Outage` (every call during a window
of a `Clock`), `OnCalls` (the n-th matching calls). `injected` counts what fired: a fault
test that injected nothing proves nothing.

With in-process moto (`mock_aws`), moto's own `before-send` handler runs after ours on the
same request. A fault answered here must not also take effect there, so the request is
pointed at an address moto does not serve (a throttled or failed call changes nothing, as
on AWS). An `AfterApplied` fault is the other case: the service applies the request, then
the caller never sees the answer (`LOST_RESPONSE`: a read timeout; `KILLED_AFTER_APPLIED`:
the process dies waiting). It lets moto apply the request, then raises (in-process moto
only: against a server endpoint the request would not be sent at all).
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)

# Where a request answered by an injected fault is pointed, so that no later handler
# (in-process moto) serves it too. Never contacted: the injected answer is used instead.
_NOWHERE = "https://fault-injected.invalid/"


class ProcessKilled(BaseException):
    """The process died in the middle of a call (killed, out of memory, out of time).

    A BaseException so that no `except Exception` on the way out (botocore, greenhook,
    Powertools) handles it: nothing of the invocation runs after it, as after SIGKILL.
    Whoever plays the Lambda runtime turns it into a failed invocation.
    """


class RawBody(io.BytesIO):
    """The raw body of an injected response, as botocore reads one (`stream()`)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(65536):
            yield chunk


@dataclass(frozen=True)
class ErrorResponse:
    """The service answers `status` with error `code` (not applied, as on AWS)."""

    status: int
    code: str
    message: str = "injected fault"

    def answer(self, request: AWSPreparedRequest) -> AWSResponse:
        """The error as the service's protocol writes it (JSON, query or REST-XML)."""
        headers = {"x-amzn-RequestId": "fault-injected"}
        content_type = str(request.headers.get("Content-Type", ""))
        if request.headers.get("X-Amz-Target") or "json" in content_type:
            body = json.dumps({"__type": self.code, "message": self.message})
            headers |= {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": self.code}
        elif "x-www-form-urlencoded" in content_type:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type>"
                f"<Code>{self.code}</Code><Message>{self.message}</Message></Error>"
                "<RequestId>fault-injected</RequestId></ErrorResponse>"
            )
            headers["Content-Type"] = "text/xml"
        else:
            body = f"<Error><Code>{self.code}</Code><Message>{self.message}</Message></Error>"
            headers["Content-Type"] = "application/xml"
        return AWSResponse(request.url, self.status, headers, RawBody(body.encode()))


@dataclass(frozen=True)
class Raise:
    """The HTTP layer raises `error` instead of answering (nothing reaches the service)."""

    error: Callable[[AWSPreparedRequest], BaseException]
    name: str

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class AfterApplied:
    """The service applies the request; then `error` is raised instead of its answer."""

    error: Callable[[AWSPreparedRequest], BaseException]
    name: str

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Hang:
    """No answer comes for `seconds` (they pass on `clock`), then the client gives up with
    `error` (a connect or read timeout). Not applied."""

    seconds: float
    clock: Clock
    error: Callable[[AWSPreparedRequest], BaseException]
    name: str

    def __repr__(self) -> str:
        return f"{self.name}({self.seconds:g} s)"


def connect_timeout(seconds: float, clock: Clock) -> Hang:
    """The endpoint does not accept the connection: botocore's connect_timeout runs out."""
    return Hang(
        seconds, clock, lambda r: ConnectTimeoutError(endpoint_url=r.url), "CONNECT_TIMEOUT"
    )


def read_timeout(seconds: float, clock: Clock) -> Hang:
    """The request was sent and no answer came: botocore's read_timeout runs out."""
    return Hang(seconds, clock, lambda r: ReadTimeoutError(endpoint_url=r.url), "READ_TIMEOUT")


Fault = ErrorResponse | Raise | AfterApplied | Hang

# DynamoDB's throttling (400); SQS and most services say ThrottlingException/RequestThrottled.
PROVISIONED_THROUGHPUT_EXCEEDED = ErrorResponse(400, "ProvisionedThroughputExceededException")
THROTTLING = ErrorResponse(400, "ThrottlingException")
REQUEST_THROTTLED = ErrorResponse(400, "RequestThrottled")
INTERNAL_SERVER_ERROR = ErrorResponse(500, "InternalServerError")
SERVICE_UNAVAILABLE = ErrorResponse(503, "ServiceUnavailable")
CONNECTION_ERROR = Raise(lambda r: EndpointConnectionError(endpoint_url=r.url), "CONNECTION_ERROR")
KILLED = Raise(lambda r: ProcessKilled(f"process killed during {r.url}"), "KILLED")
LOST_RESPONSE = AfterApplied(lambda r: ReadTimeoutError(endpoint_url=r.url), "LOST_RESPONSE")
KILLED_AFTER_APPLIED = AfterApplied(
    lambda r: ProcessKilled(f"process killed waiting for {r.url}"), "KILLED_AFTER_APPLIED"
)


class Clock:
    """Time as the code under test lives it, made only of the waits a test skips.

    It moves when botocore backs off between attempts (see `skipping_retry_sleeps`) and when
    a test says a wait passed (`advance`, e.g. an SQS visibility timeout); the time the code
    itself runs is not counted. A fault window of 3 s on this clock is the 3 s of waiting
    the code would do in real time, with each AWS call taking no time: a conservative
    reading (on AWS every call also takes milliseconds, so fewer calls would fall into the
    window), and a deterministic one, however fast or loaded the test machine is.
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Let `seconds` of waiting pass."""
        self.now += max(0.0, seconds)

    def advance_to(self, moment: float) -> None:
        self.advance(moment - self.now)

    @contextmanager
    def skipping_retry_sleeps(self) -> Iterator[None]:
        """botocore's back-off between attempts advances this clock instead of sleeping.

        botocore sleeps in exactly one place, `botocore.endpoint` (`time.sleep` after a
        `needs-retry` handler asked for a delay); only that module's view of `time` is
        replaced, so nothing else stops sleeping.
        """
        import botocore.endpoint

        real_time = botocore.endpoint.time
        botocore.endpoint.time = _SleepOn(self)
        try:
            yield
        finally:
            botocore.endpoint.time = real_time


class _SleepOn:
    """The `time` module, except that `sleep` advances a Clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    def sleep(self, seconds: float) -> None:
        self._clock.advance(seconds)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


# -- when a fault fires ---------------------------------------------------------------------
class Rate:
    """Each matching call fails with probability `rate` (reproducible: seeded)."""

    def __init__(self, rate: float, seed: int = 0) -> None:
        self.rate = rate
        self.random = random.Random(seed)

    def __call__(self, call: int) -> bool:
        return self.random.random() < self.rate


class Outage:
    """Every matching call fails from `start` for `seconds` on `clock`; with no `start`, the
    outage begins at matching call number `begin_at_call` (1-based)."""

    def __init__(
        self, seconds: float, clock: Clock, *, start: float | None = None, begin_at_call: int = 1
    ) -> None:
        self.seconds = seconds
        self.clock = clock
        self.start = start
        self.begin_at_call = begin_at_call

    @property
    def end(self) -> float | None:
        return None if self.start is None else self.start + self.seconds

    def __call__(self, call: int) -> bool:
        if self.start is None and call >= self.begin_at_call:
            self.start = self.clock()
        return self.start is not None and self.start <= self.clock() < self.start + self.seconds


class OnCalls:
    """The matching calls with these numbers (1-based) fail."""

    def __init__(self, *numbers: int) -> None:
        self.numbers = set(numbers)

    def __call__(self, call: int) -> bool:
        return call in self.numbers


class Always:
    """Every matching call fails."""

    def __call__(self, call: int) -> bool:
        return True


# -- the injector ---------------------------------------------------------------------------
def default_session() -> boto3.Session:
    """boto3's default session (what `boto3.client()`/`boto3.resource()` use), made if need be."""
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION


class FaultInjector:
    """Fails some calls of one service (optionally only some operations) with one fault.

    `calls` counts the matching calls seen, `injected` the faults injected, `by_operation`
    the injected faults per operation name.
    """

    def __init__(
        self,
        service: str,
        fault: Fault,
        when: Callable[[int], bool] | None = None,
        *,
        operations: Iterable[str] | None = None,
    ) -> None:
        self.service = service  # botocore's hyphenized service id: dynamodb, sqs, s3, ...
        self.fault = fault
        self.when = when or Always()
        self.operations = set(operations) if operations is not None else None
        self.calls = 0
        self.injected = 0
        self.by_operation: Counter[str] = Counter()
        self.enabled = False  # True while installed
        self._lock = threading.Lock()
        self._applied: set[int] = set()  # id() of requests to fail once the service applied them
        self._events: Any = None
        self._unique = f"greenhook-fault-{id(self)}"

    # before-send handlers get (request, event_name); the first non-None answer is used.
    def _before_send(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> Any:
        operation = event_name.rsplit(".", 1)[-1]
        if not self.enabled or (self.operations is not None and operation not in self.operations):
            return None
        with self._lock:
            self.calls += 1
            fire = self.when(self.calls)
            if fire:
                self.injected += 1
                self.by_operation[operation] += 1
        if not fire:
            return None
        if isinstance(self.fault, AfterApplied):
            self._applied.add(id(request))
            return None  # let the service (in-process moto) apply it; _after_send fails it
        if isinstance(self.fault, Hang):
            self.fault.clock.advance(self.fault.seconds)
        if isinstance(self.fault, Raise | Hang):
            raise self.fault.error(request)  # no later handler runs
        answer = self.fault.answer(request)
        request.url = _NOWHERE  # later handlers (moto) still run: they must not serve it
        return answer

    def _after_send(self, request: AWSPreparedRequest, **_: Any) -> None:
        # Registered last on plain `before-send`: botocore calls the handlers of the most
        # specific event first, so this runs after moto's (also on `before-send`).
        if id(request) in self._applied:
            self._applied.discard(id(request))
            raise self.fault.error(request)

    def install(self, session: Any = None) -> FaultInjector:
        """Register on `session` (a boto3 or botocore session; boto3's default if None)."""
        if self._events is not None:
            raise RuntimeError("already installed")
        session = session or default_session()
        events = (
            session.events if hasattr(session, "events") else session.get_component("event_emitter")
        )
        events.register_first(
            f"before-send.{self.service}", self._before_send, unique_id=f"{self._unique}-first"
        )
        events.register_last("before-send", self._after_send, unique_id=f"{self._unique}-last")
        self._events = events
        self.enabled = True
        return self

    def uninstall(self) -> None:
        self.enabled = False  # also in the clients made meanwhile, which keep the handler
        if self._events is None:
            return
        self._events.unregister(f"before-send.{self.service}", unique_id=f"{self._unique}-first")
        self._events.unregister("before-send", unique_id=f"{self._unique}-last")
        self._events = None

    def __enter__(self) -> FaultInjector:
        return self if self._events is not None else self.install()

    def __exit__(self, *exc: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return (
            f"FaultInjector({self.service}, {self.fault!r}: "
            f"{self.injected} injected in {self.calls} calls)"
        )
