"""A CloudFormation custom resource that always answers, and answers once.

CloudFormation waits up to an hour for a custom resource that never answers, so the
response is sent on success, on any exception, and by a watchdog shortly before the Lambda
times out. A Delete never fails the stack: what could not be undone is reported in the reason.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import requests

from greenhook.observability import logger

SUCCESS, FAILED = "SUCCESS", "FAILED"
WATCHDOG_MARGIN_S = 10.0
_MAX_REASON = 3000  # CloudFormation's response object is limited to 4 KB


@dataclass
class Result:
    physical_resource_id: str
    data: dict[str, str] = field(default_factory=dict)
    reason: str = ""


Action = Callable[[dict, float], Result]  # (event, seconds it may take) -> Result


class Responder:
    """Sends the one response CloudFormation expects to the pre-signed ResponseURL."""

    def __init__(self, event: dict, session: requests.Session | None = None) -> None:
        self.event = event
        self.session = session or requests.Session()
        self._lock = threading.Lock()
        self.sent: str | None = None

    def send(self, status: str, reason: str, physical_id: str, data: dict | None = None) -> bool:
        """Answer CloudFormation; returns False if an answer was already sent."""
        with self._lock:
            if self.sent:
                return False
            self.sent = status
        body = {
            "Status": status,
            "Reason": (reason or status)[:_MAX_REASON],
            "PhysicalResourceId": physical_id,
            "StackId": self.event["StackId"],
            "RequestId": self.event["RequestId"],
            "LogicalResourceId": self.event["LogicalResourceId"],
            "Data": data or {},
        }
        for attempt in range(3):
            try:
                # The pre-signed S3 URL requires an empty content type.
                response = self.session.put(
                    self.event["ResponseURL"],
                    data=json.dumps(body),
                    headers={"Content-Type": ""},
                    timeout=10,
                )
                if response.status_code < 300:
                    break
            except requests.RequestException as error:
                logger.warning(
                    "response to CloudFormation failed", extra={"error": type(error).__name__}
                )
            logger.info("retrying the CloudFormation response", extra={"attempt": attempt + 1})
        logger.info("answered CloudFormation", extra={"status": status, "reason": body["Reason"]})
        return True


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
    """Run the action for the event's RequestType and answer CloudFormation whatever happens."""
    responder = responder or Responder(event)
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
    return responder.sent or ""
