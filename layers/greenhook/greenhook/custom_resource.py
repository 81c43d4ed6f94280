"""A CloudFormation custom resource that always answers, and answers once.

CloudFormation waits for a custom resource's answer until its ServiceTimeout (an hour unless
the template says less), so the response is sent on success, on any exception, and by a
watchdog shortly before the Lambda times out. The PUT of that response is retried with
growing, jittered pauses for as long as the function has time. A Delete never fails the
stack: what could not be undone is reported in the reason.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from greenhook.observability import logger

SUCCESS, FAILED = "SUCCESS", "FAILED"
WATCHDOG_MARGIN_S = 10.0
_MAX_REASON = 3000  # CloudFormation's response object is limited to 4 KB

# Retrying the response: pause n (from 0) lasts FIRST_PAUSE_S * 2**n, capped at MAX_PAUSE_S,
# times a random factor in [0.5, 1] so that many functions do not retry in step. The last
# try starts at least LAST_TRY_S before the function would be killed, and ends STOP_MARGIN_S
# before it (its timeout is cut to fit).
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 20.0
PUT_TIMEOUT_S = 10.0
LAST_TRY_S = 2.0
STOP_MARGIN_S = 1.0


@dataclass
class Result:
    physical_resource_id: str
    data: dict[str, str] = field(default_factory=dict)
    reason: str = ""


Action = Callable[[dict, float], Result]  # (event, seconds it may take) -> Result


def pause_before_retry(retry: int, jitter: float) -> float:
    """Seconds to wait before retry number `retry` (0 first), `jitter` drawn from [0, 1)."""
    return min(MAX_PAUSE_S, FIRST_PAUSE_S * 2**retry) * (0.5 + jitter / 2)


def _worth_retrying(status_code: int) -> bool:
    # Other 4xx answers (403 for an expired or altered signature, 404) will not change.
    return status_code >= 500 or status_code in (408, 429)


class Responder:
    """Sends the one response CloudFormation expects to the pre-signed ResponseURL.

    `seconds_left` tells how long the function still runs (as the Lambda context's
    get_remaining_time_in_millis does); `sleep` and `jitter` are replaceable for tests.
    """

    def __init__(
        self,
        event: dict,
        session: requests.Session | None = None,
        *,
        seconds_left: Callable[[], float],
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.event = event
        self.session = session or requests.Session()
        self.seconds_left = seconds_left
        self.sleep = sleep
        self.jitter = jitter
        self._lock = threading.Lock()
        self._done = threading.Event()
        self.sent: str | None = None  # the status of the one answer sent (or being sent)
        self.delivered = False  # whether CloudFormation's URL accepted it

    def send(self, status: str, reason: str, physical_id: str, data: dict | None = None) -> bool:
        """Answer CloudFormation; returns False if an answer was already sent or under way."""
        with self._lock:
            if self.sent:
                return False
            self.sent = status
        try:
            body = {
                "Status": status,
                "Reason": (reason or status)[:_MAX_REASON],
                "PhysicalResourceId": physical_id,
                "StackId": self.event["StackId"],
                "RequestId": self.event["RequestId"],
                "LogicalResourceId": self.event["LogicalResourceId"],
                "Data": data or {},
            }
            self.delivered = self._put(json.dumps(body), status, body["Reason"])
        finally:
            self._done.set()
        return True

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for an answer under way (perhaps on the watchdog's thread) to be done."""
        return self._done.wait(timeout)

    def _put(self, body: str, status: str, reason: str) -> bool:
        log = {"status": status, "reason": reason}
        retry, last_try = 0, False
        while True:
            attempt = retry + 1
            try:
                # The pre-signed S3 URL requires an empty content type. Never log the URL:
                # its signature is a credential for this one answer.
                response = self.session.put(
                    self.event["ResponseURL"],
                    data=body,
                    headers={"Content-Type": ""},
                    timeout=max(0.5, min(PUT_TIMEOUT_S, self.seconds_left() - STOP_MARGIN_S)),
                )
                if response.status_code < 300:
                    logger.info("answered CloudFormation", extra={**log, "attempts": attempt})
                    return True
                error = f"HTTP {response.status_code}"
                final = not _worth_retrying(response.status_code)
            except requests.RequestException as exception:
                error, final = type(exception).__name__, False
            # The pause is shortened if need be so that one last try fits in the time left.
            room = self.seconds_left() - STOP_MARGIN_S - LAST_TRY_S
            if final or last_try or room <= 0:
                logger.error(
                    "CloudFormation was not answered: the stack waits for its ServiceTimeout",
                    extra={**log, "attempts": attempt, "error": error},
                )
                return False
            pause = pause_before_retry(retry, self.jitter())
            if pause >= room:
                pause, last_try = room, True
            logger.warning(
                "response to CloudFormation failed; retrying",
                extra={"attempt": attempt, "error": error, "retry_in_s": round(pause, 2)},
            )
            self.sleep(pause)
            retry += 1


def _physical_id(event: dict) -> str:
    # Before a resource exists (a failed Create), CloudFormation needs some id back.
    return event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-{event['RequestId']}"


def handle(
    event: dict,
    remaining_seconds: float,
    *,
    on_create_update: Action,
    on_delete: Action,
    responder: Responder | None = None,
) -> str:
    """Run the action for the event's RequestType and answer CloudFormation whatever happens.

    Returns the status CloudFormation received, or "" if no answer got through.
    """
    started = time.monotonic()

    def seconds_left() -> float:
        return remaining_seconds - (time.monotonic() - started)

    responder = responder or Responder(event, seconds_left=seconds_left)
    is_delete = event.get("RequestType") == "Delete"
    budget = max(1.0, remaining_seconds - WATCHDOG_MARGIN_S)

    def on_timeout() -> None:
        reason = f"{event.get('RequestType')} did not finish in {budget:.0f} s"
        if responder.send(SUCCESS if is_delete else FAILED, reason, _physical_id(event)):
            logger.error("custom resource timed out", extra={"reason": reason})

    watchdog = threading.Timer(budget, on_timeout)
    watchdog.daemon = True
    watchdog.start()
    try:
        action = on_delete if is_delete else on_create_update
        result = action(event, budget - 5.0)
        responder.send(SUCCESS, result.reason, result.physical_resource_id, result.data)
    except Exception as error:
        reason = f"{type(error).__name__}: {error}"
        logger.exception("custom resource failed", extra={"request_type": event.get("RequestType")})
        # A Delete must let the stack go: report what was left undone, succeed anyway.
        responder.send(SUCCESS if is_delete else FAILED, reason, _physical_id(event))
    finally:
        watchdog.cancel()
        # The watchdog's answer may still be retrying: returning would freeze the function.
        responder.wait(max(0.0, seconds_left()))
    return (responder.sent or "") if responder.delivered else ""
