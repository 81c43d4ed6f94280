"""custom_resource.handle answers CloudFormation exactly once, whatever the action does,
and keeps trying to deliver that answer for as long as the function runs."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from greenhook import custom_resource
from greenhook.custom_resource import Responder, Result, handle, pause_before_retry
from greenhook.observability import logger
from greenhook_dev.cfn_response import ResponseReceiver


def event(request_type: str, url: str, physical_id: str | None = None) -> dict:
    e = {
        "RequestType": request_type,
        "ResponseURL": url,
        "StackId": "arn:aws:cloudformation:eu-central-1:123456789012:stack/s/1",
        "RequestId": "req-1",
        "LogicalResourceId": "GreenApiRegistration",
        "ResourceProperties": {},
    }
    if physical_id:
        e["PhysicalResourceId"] = physical_id
    return e


def ok(_event, _budget):
    return Result("phys-1", {"Changed": "true"}, "done")


def boom(_event, _budget):
    raise RuntimeError("GREEN-API said no")


def slow(_event, _budget):
    time.sleep(1.5)
    return Result("phys-1", reason="finished late")


@pytest.fixture
def receiver():
    with ResponseReceiver() as r:
        yield r


def test_success_is_answered_with_data(receiver):
    assert (
        handle(event("Create", receiver.url), 60, on_create_update=ok, on_delete=boom) == "SUCCESS"
    )
    (response,) = receiver.responses
    assert response["Status"] == "SUCCESS"
    assert response["PhysicalResourceId"] == "phys-1"
    assert response["Data"] == {"Changed": "true"}
    assert response["Reason"] == "done"
    assert (response["RequestId"], response["LogicalResourceId"]) == (
        "req-1",
        "GreenApiRegistration",
    )


def test_an_exception_fails_create_with_its_message(receiver):
    assert (
        handle(event("Create", receiver.url), 60, on_create_update=boom, on_delete=ok) == "FAILED"
    )
    (response,) = receiver.responses
    assert response["Reason"] == "RuntimeError: GREEN-API said no"
    assert response["PhysicalResourceId"] == "GreenApiRegistration-req-1"


def test_an_exception_never_fails_a_delete(receiver):
    status = handle(
        event("Delete", receiver.url, "phys-1"), 60, on_create_update=ok, on_delete=boom
    )
    assert status == "SUCCESS"
    (response,) = receiver.responses
    assert response["PhysicalResourceId"] == "phys-1"
    assert "GREEN-API said no" in response["Reason"]


@pytest.mark.parametrize(("request_type", "status"), [("Update", "FAILED"), ("Delete", "SUCCESS")])
def test_the_watchdog_answers_before_the_timeout_and_only_once(receiver, request_type, status):
    started = time.monotonic()
    # 11 s left, 10 s margin: the watchdog fires after 1 s while the action still runs.
    handle(event(request_type, receiver.url, "phys-1"), 11, on_create_update=slow, on_delete=slow)
    assert time.monotonic() - started >= 1.5  # the action ran to its end...
    (response,) = receiver.responses  # ...but its late result was not sent again
    assert response["Status"] == status
    assert "did not finish" in response["Reason"]


# -- delivering the answer ----------------------------------------------------------------

DROP = "drop"  # read the PUT, then close the connection without an answer


class FlakyResponseUrl:
    """The pre-signed response URL, played by a local server that fails the first PUTs.

    `failures` are what the first PUTs get (an HTTP status or DROP); every later PUT is
    accepted (200) and its body kept in `accepted`. Pass `port` to listen on a chosen one.
    """

    def __init__(self, failures: list[int | str], port: int = 0) -> None:
        self.failures = list(failures)
        self.puts = 0
        self.accepted: list[dict] = []
        url = self

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                url.puts += 1
                outcome = url.failures.pop(0) if url.failures else 200
                if outcome == DROP:
                    self.close_connection = True
                    return
                if outcome == 200:
                    url.accepted.append(json.loads(body))
                self.send_response(outcome)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cfn-response"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> FlakyResponseUrl:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class FunctionClock:
    """The function's remaining time, advanced by the responder's pauses (no real sleep)."""

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        self.pauses: list[float] = []

    def seconds_left(self) -> float:
        return self.remaining - sum(self.pauses)

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.pauses.append(seconds)


class LogLines(logging.Handler):
    """greenhook's log lines, each with how many answers had been accepted by then."""

    def __init__(self, accepted: Callable[[], int]) -> None:
        super().__init__(logging.DEBUG)
        self.accepted = accepted
        self.lines: list[tuple[str, str, int]] = []  # (level, message, accepted so far)

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.levelname, record.getMessage(), self.accepted()))

    def messages(self, level: str) -> list[str]:
        return [message for lvl, message, _ in self.lines if lvl == level]


@pytest.fixture
def log_lines():
    handlers = []

    def attach(accepted: Callable[[], int]) -> LogLines:
        handler = LogLines(accepted)
        logging.getLogger(logger.name).addHandler(handler)
        handlers.append(handler)
        return handler

    yield attach
    for handler in handlers:
        logging.getLogger(logger.name).removeHandler(handler)


def respond(url: str, clock: FunctionClock, action=ok) -> str:
    responder = Responder(event("Create", url), seconds_left=clock.seconds_left, sleep=clock.sleep)
    return handle(
        event("Create", url),
        clock.remaining,
        on_create_update=action,
        on_delete=boom,
        responder=responder,
    )


def test_the_answer_gets_through_after_server_errors_and_dropped_connections(log_lines):
    started = time.monotonic()
    with FlakyResponseUrl([500, DROP, 503, DROP, 502]) as url:
        lines = log_lines(lambda: len(url.accepted))
        clock = FunctionClock(remaining=900)
        assert respond(url.url, clock) == "SUCCESS"
    assert url.puts == 6
    (answer,) = url.accepted
    assert (answer["Status"], answer["PhysicalResourceId"]) == ("SUCCESS", "phys-1")
    # "answered" once, and only once the URL had taken the answer; a warning per failure.
    answered = [line for line in lines.lines if line[1] == "answered CloudFormation"]
    assert answered == [("INFO", "answered CloudFormation", 1)]
    assert len(lines.messages("WARNING")) == 5
    assert lines.messages("ERROR") == []
    assert time.monotonic() - started < 2  # the pauses were the clock's, not real ones


def test_the_pauses_grow_exponentially_with_jitter():
    with FlakyResponseUrl([503] * 7) as url:
        clock = FunctionClock(remaining=900)
        assert respond(url.url, clock) == "SUCCESS"
    assert len(clock.pauses) == 7
    for retry, pause in enumerate(clock.pauses):
        full = min(custom_resource.MAX_PAUSE_S, custom_resource.FIRST_PAUSE_S * 2**retry)
        assert full / 2 <= pause <= full, (retry, clock.pauses)


def test_the_pause_formula_grows_doubles_and_is_capped():
    assert pause_before_retry(0, 0.0) == custom_resource.FIRST_PAUSE_S / 2
    assert pause_before_retry(3, 0.999) < 2 * pause_before_retry(3, 0.0)
    assert [pause_before_retry(n, 0.5) for n in range(3)] == [0.375, 0.75, 1.5]
    assert pause_before_retry(30, 0.999) <= custom_resource.MAX_PAUSE_S


def test_it_keeps_trying_until_just_before_the_function_times_out(log_lines):
    with FlakyResponseUrl([503] * 1000) as url:
        lines = log_lines(lambda: len(url.accepted))
        clock = FunctionClock(remaining=60)
        assert respond(url.url, clock) == ""
    assert url.accepted == []
    waited = sum(clock.pauses)
    # Tried for nearly all of the minute, and left the last try the time it needs.
    last_try_starts_by = 60 - custom_resource.STOP_MARGIN_S - custom_resource.LAST_TRY_S
    assert last_try_starts_by - 1 <= waited <= last_try_starts_by
    assert url.puts == len(clock.pauses) + 1
    assert not [message for _, message, _ in lines.lines if message == "answered CloudFormation"]
    (error,) = lines.messages("ERROR")
    assert "CloudFormation was not answered" in error


def test_a_refused_connection_is_retried_until_the_url_listens(log_lines):
    with socket.socket() as probe:  # a free port, nobody listening on it yet
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    clock = FunctionClock(remaining=900)
    listening: list[FlakyResponseUrl] = []

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        if len(clock.pauses) == 2:  # the URL comes up after two refused tries
            listening.append(FlakyResponseUrl([], port=port).__enter__())

    responder = Responder(
        event("Create", f"http://127.0.0.1:{port}/cfn-response"),
        seconds_left=clock.seconds_left,
        sleep=sleep,
    )
    lines = log_lines(lambda: sum(len(server.accepted) for server in listening))
    try:
        assert responder.send("SUCCESS", "done", "phys-1") is True
    finally:
        for server in listening:
            server.__exit__()
    assert responder.delivered
    assert len(listening[0].accepted) == 1
    assert lines.messages("WARNING") == ["response to CloudFormation failed; retrying"] * 2
    assert [line for line in lines.lines if line[0] == "INFO"] == [
        ("INFO", "answered CloudFormation", 1)
    ]


def test_a_rejected_answer_is_not_retried(log_lines):
    # 403: the pre-signed URL has expired or was altered; asking again will not change it.
    with FlakyResponseUrl([403]) as url:
        lines = log_lines(lambda: len(url.accepted))
        clock = FunctionClock(remaining=900)
        assert respond(url.url, clock) == ""
    assert url.puts == 1
    assert clock.pauses == []
    assert len(lines.messages("ERROR")) == 1


def test_the_watchdogs_answer_is_delivered_before_handle_returns():
    """A retrying watchdog answer must not be cut off by the function's return."""
    with FlakyResponseUrl([503, 503]) as url:
        slept = threading.Event()

        def sleep(seconds: float) -> None:
            time.sleep(0.3)  # the late action returns while the watchdog's answer waits
            slept.set()

        def late(_event, _budget):
            time.sleep(1.2)
            return Result("phys-1", reason="finished late")

        responder = Responder(
            event("Update", url.url, "phys-1"), seconds_left=lambda: 600.0, sleep=sleep
        )
        # 11 s left, 10 s margin: the watchdog answers after 1 s, retrying until 1.6 s.
        status = handle(
            event("Update", url.url, "phys-1"),
            11,
            on_create_update=late,
            on_delete=late,
            responder=responder,
        )
        assert slept.is_set()
        assert status == "FAILED"
        (answer,) = url.accepted  # delivered by the time handle returned
        assert "did not finish" in answer["Reason"]
