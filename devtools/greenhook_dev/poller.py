"""Feed the queue to the process function with the semantics of Lambda's SQS event source.

Lambda's event source mapping, as emulated here (moto's own SQS->Lambda mapping ignores
`batchItemFailures`):
- receive up to BatchSize messages and invoke the function once with an SQS event;
- delete the records that succeeded, i.e. those not listed in `batchItemFailures`;
- a function error (exception), or a response naming an unknown/empty itemIdentifier,
  fails the whole batch;
- failed records stay on the queue and come back when their visibility timeout expires.
  In AWS that is the queue's VisibilityTimeout (180 s in the template); locally the poller
  shortens it to `retry_delay` seconds (default 2 s) so retries are visible while you watch;
- after maxReceiveCount receives, the queue's redrive policy moves a record to the DLQ.
  moto 5.2.5 does this itself on the next receive (verified in
  tests/integration/test_poller.py), so the poller does not.

The poller short-polls (WaitTimeSeconds=0) and sleeps briefly when the queue is empty:
moto's long poll busy-waits for its whole wait time whenever the only visible messages
belong to a FIFO group that is in flight, which is exactly the state during a retry.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

Invoke = Callable[[dict], Any]

DEFAULT_RETRY_DELAY = 2


def _lambda_message_attribute(value: dict) -> dict:
    attribute: dict[str, Any] = {}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    attribute["stringListValues"] = list(value.get("StringListValues", []))
    attribute["binaryListValues"] = [
        base64.b64encode(v).decode("ascii") for v in value.get("BinaryListValues", [])
    ]
    attribute["dataType"] = value["DataType"]
    return attribute


def sqs_record(message: dict, *, queue_arn: str, region: str) -> dict:
    """One SQS message (as ReceiveMessage returns it) as a record of Lambda's SQS event."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(eventSource="aws:sqs", eventSourceARN=queue_arn, awsRegion=region)
    return record


def failed_message_ids(result: Any, message_ids: list[str]) -> set[str]:
    """The records Lambda would leave on the queue, given the function's response."""
    if not result:  # None, {} or "" all mean: the whole batch succeeded
        return set()
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return set()
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in message_ids:
            log.error("invalid itemIdentifier %r: the whole batch fails", identifier)
            return set(message_ids)
        failed.add(identifier)
    return failed


class PollingThread:
    """A daemon thread calling `poll_once()` until stopped; it rests `idle_sleep` seconds
    whenever a poll found nothing, and a second after a poll that failed (logged)."""

    thread_name = "poller"

    def __init__(self, idle_sleep: float) -> None:
        self.idle_sleep = idle_sleep
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> int:
        raise NotImplementedError

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                found = self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s: a poll failed", self.thread_name)
                self._stop.wait(1)
                continue
            if not found:
                self._stop.wait(self.idle_sleep)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30) -> None:
        """Finish the poll in hand (if any) and stop."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("%s did not stop within %s s", self.thread_name, timeout)
            self._thread = None


class QueuePoller(PollingThread):
    """A thread that polls one queue and invokes one function, as an event source mapping."""

    thread_name = "queue-poller"

    def __init__(
        self,
        sqs: Any,
        invoke: Invoke,
        *,
        queue_url: str,
        queue_arn: str,
        region: str,
        batch_size: int = 10,
        retry_delay: int = DEFAULT_RETRY_DELAY,
        idle_sleep: float = 0.1,
    ) -> None:
        self.sqs = sqs
        self.invoke = invoke
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.region = region
        self.batch_size = batch_size
        self.retry_delay = retry_delay
        super().__init__(idle_sleep)

    def poll_once(self) -> int:
        """Receive one batch, invoke the function, settle the records; returns the count."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        event = {
            "Records": [
                sqs_record(m, queue_arn=self.queue_arn, region=self.region) for m in messages
            ]
        }
        message_ids = [m["MessageId"] for m in messages]
        try:
            result = self.invoke(event)
        except Exception:
            log.exception("process function failed: all %d records will be retried", len(messages))
            failed = set(message_ids)
        else:
            failed = failed_message_ids(result, message_ids)
        self._settle(messages, failed)
        return len(messages)

    def _settle(self, messages: list[dict], failed: set[str]) -> None:
        done = [m for m in messages if m["MessageId"] not in failed]
        retry = [m for m in messages if m["MessageId"] in failed]
        if done:
            response = self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
            for error in response.get("Failed", []):
                log.error("delete failed: %s", error)
        if retry:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {
                        "Id": str(i),
                        "ReceiptHandle": m["ReceiptHandle"],
                        "VisibilityTimeout": self.retry_delay,
                    }
                    for i, m in enumerate(retry)
                ],
            )
            log.warning("%d record(s) failed; retrying in %d s", len(retry), self.retry_delay)


def ingested_record(body: bytes, n: int, *, queue_arn: str, region: str) -> dict:
    """The SQS record the process function gets for a body ingest queued inline (no S3),
    without a queue in between: for driving `handle_record` directly (tests, bench)."""
    from greenhook import queue

    text, encoding = queue.message_text(body)
    now = datetime.now(UTC)
    attributes = {
        "received_at": {
            "DataType": "String",
            "StringValue": now.isoformat(timespec="milliseconds"),
        },
        "source_ip": {"DataType": "String", "StringValue": "51.250.84.44"},
    }
    if encoding:
        attributes["body_encoding"] = {"DataType": "String", "StringValue": encoding}
    message = {
        "MessageId": f"direct-{n:08d}",
        "ReceiptHandle": f"direct-{n:08d}",
        "Body": text,
        "MD5OfBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest(),
        "Attributes": {
            "SentTimestamp": str(int(now.timestamp() * 1000)),
            "ApproximateReceiveCount": "1",
            "MessageDeduplicationId": queue.sha256_hex(body),
            "MessageGroupId": "direct",
        },
        "MessageAttributes": attributes,
    }
    return sqs_record(message, queue_arn=queue_arn, region=region)
