"""The publisher: the table's stream becomes business events on the EventBridge bus.

Records come in stream order. Their events (greenhook.changes) go out ten to a PutEvents call,
in that order. An entry EventBridge refuses for a transient reason (throttling, an internal
failure, a 5xx, the network) is sent again with backoff; if it still fails, the batch reports
its record as the first failure and Lambda retries the stream from there (bisecting on
error, then the on-failure destination keeps the batch's position). An entry refused for
good, or a record whose events cannot be worked out, is parked on the failures queue with
its reason and the stream goes on: nothing waits behind it, nothing is lost, and the alarm
on that queue tells an operator.

Powertools' BatchProcessor handles one record at a time; here the entries of many records
share a PutEvents call, so the partial-batch response is built by hand (itemIdentifier =
the first failed record's sequence number, as Lambda's stream checkpointing expects).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from greenhook.changes import BusinessEvent, record_events
from greenhook.config import publish_config
from greenhook.observability import MetricUnit, logger, metrics
from greenhook.transient import TRANSIENT_CODES, is_transient

MAX_ENTRIES = 10  # PutEvents takes ten entries
MAX_REQUEST_BYTES = 256 * 1024  # and 256 KB in all
# An entry may be 256 KB; above this its view's large fields are left out (by reference:
# `greenhook message <id>` or the table item named by `item`).
ENTRY_LIMIT = 240 * 1024
_HEAVY_VIEW_FIELDS = (
    "message_data",
    "poll_votes",
    "reactions",
    "original_text",
    "text",
    "avatar",
    "device",
    "quota",
    "statuses",
    "reason",
)
# Per-entry error codes PutEvents gives for a refusal that may pass next time.
_TRANSIENT_ENTRY_CODES = TRANSIENT_CODES | {"InternalFailure", "InternalException"}
ATTEMPTS = 5
SAFETY_MS = 5_000  # stop retrying this long before the function's deadline

_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
)


def entry_size(entry: dict) -> int:
    """An entry's size as EventBridge counts it (Time counts 14 bytes)."""
    parts = (entry["Source"], entry["DetailType"], entry["Detail"], *entry.get("Resources", ()))
    return 14 + sum(len(p.encode("utf-8")) for p in parts)


def fitted_entry(event: BusinessEvent, bus_name: str) -> dict | None:
    """The event's entry within EventBridge's size limit, or None if even its ids exceed it."""
    entry = event.entry(bus_name)
    if entry_size(entry) <= ENTRY_LIMIT:
        return entry
    view = dict(event.detail.get("view") or {})
    for name in _HEAVY_VIEW_FIELDS:
        view.pop(name, None)
    for detail in (
        {**event.detail, "view": view, "view_truncated": True},
        {**event.detail, "view": None, "view_truncated": True},
    ):
        entry = BusinessEvent(event.detail_type, detail, event.time).entry(bus_name)
        if entry_size(entry) <= ENTRY_LIMIT:
            return entry
    return None


@dataclass
class Pending:
    record: int  # index of the stream record the entry came from
    entry: dict


class FailuresQueue:
    """What could not be published, with why: the operator's queue (alarmed)."""

    def __init__(self, queue_url: str, client: Any) -> None:
        self.queue_url = queue_url
        self.client = client

    def park(self, reason: str, **what: Any) -> None:
        # Well under SQS's 1 MiB: an entry is at most ENTRY_LIMIT, anything else is ids.
        body = json.dumps({"reason": reason[:2000], **what}, default=_json_default)
        self.client.send_message(QueueUrl=self.queue_url, MessageBody=body)


def _json_default(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _chunks(pending: list[Pending]) -> list[list[Pending]]:
    chunks: list[list[Pending]] = []
    size = 0
    for item in pending:
        item_size = entry_size(item.entry)
        if not chunks or len(chunks[-1]) == MAX_ENTRIES or size + item_size > MAX_REQUEST_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item_size
    return chunks


class Publisher:
    def __init__(
        self,
        events: Any,
        bus_name: str,
        failures: FailuresQueue,
        *,
        attempts: int = ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
        remaining_ms: Callable[[], int] = lambda: 900_000,
    ) -> None:
        self.events = events
        self.bus_name = bus_name
        self.failures = failures
        self.attempts = attempts
        self.sleep = sleep
        self.remaining_ms = remaining_ms
        self.published = 0
        self.parked = 0

    def _pending(self, records: list[dict]) -> list[Pending]:
        pending = []
        for index, record in enumerate(records):
            sequence = record.get("dynamodb", {}).get("SequenceNumber")
            try:
                events = record_events(record)
            except Exception as error:  # a bug or an image it cannot read: park, go on
                logger.exception("events of a stream record could not be worked out")
                self._park(
                    f"{type(error).__name__}: {error}",
                    keys=record.get("dynamodb", {}).get("Keys"),
                    sequence_number=sequence,
                )
                continue
            for event in events:
                entry = fitted_entry(event, self.bus_name)
                if entry is None:
                    self._park(
                        "event over EventBridge's 256 KB even without its view",
                        detail_type=event.detail_type,
                        event_id=event.detail.get("event_id"),
                        item=str(event.detail.get("item"))[:1000],
                    )
                    continue
                pending.append(Pending(index, entry))
        return pending

    def _park(self, reason: str, **what: Any) -> None:
        self.failures.park(reason, **what)
        self.parked += 1

    def _put(self, chunk: list[Pending]) -> list[Pending]:
        """One PutEvents call with retries; returns the entries still failing transiently."""
        for attempt in range(self.attempts):
            if attempt:
                if self.remaining_ms() < SAFETY_MS:
                    break
                self.sleep(min(2.0, 0.1 * 2**attempt) * random.uniform(0.5, 1.0))  # noqa: S311 (jitter)
            try:
                response = self.events.put_events(Entries=[p.entry for p in chunk])
            except ClientError as error:
                if not is_transient(error):
                    for p in chunk:
                        self._park(f"PutEvents refused: {error}", entry=p.entry)
                    return []
                logger.warning("PutEvents failed, will retry", extra={"error": str(error)})
                continue
            retry = []
            for p, result in zip(chunk, response.get("Entries", []), strict=False):
                code = result.get("ErrorCode")
                if not code:
                    self.published += 1
                elif code in _TRANSIENT_ENTRY_CODES:
                    retry.append(p)
                else:
                    self._park(f"{code}: {result.get('ErrorMessage', '')}", entry=p.entry)
            if not retry:
                return []
            chunk = retry
        return chunk

    def publish(self, records: list[dict]) -> dict:
        """Publish the records' events; the partial-batch response Lambda expects."""
        for chunk in _chunks(self._pending(records)):
            failed = self._put(chunk)
            if failed:
                first = min(p.record for p in failed)
                sequence = records[first]["dynamodb"]["SequenceNumber"]
                logger.warning(
                    "events not published after retries: the stream resumes from this record",
                    extra={"sequence_number": sequence, "entries": len(failed)},
                )
                return {"batchItemFailures": [{"itemIdentifier": sequence}]}
        return {"batchItemFailures": []}


@cache
def _publisher() -> Publisher:
    config = publish_config()
    return Publisher(
        boto3.client("events", config=_CLIENT_CONFIG),
        config.event_bus_name,
        FailuresQueue(config.failures_queue_url, boto3.client("sqs", config=_CLIENT_CONFIG)),
    )


def handle(event: dict, context: Any) -> dict:
    publisher = _publisher()
    publisher.remaining_ms = context.get_remaining_time_in_millis
    published, parked = publisher.published, publisher.parked
    records = event.get("Records", [])
    response = publisher.publish(records)
    # Only what needs attention is a metric (a line each): EventBridge counts what its bus
    # receives itself, and Lambda the records its stream mapping delivers.
    if publisher.parked - parked:
        metrics.add_metric("EventsNotPublished", MetricUnit.Count, publisher.parked - parked)
    logger.debug(
        "stream batch",
        extra={
            "records": len(records),
            "published": publisher.published - published,
            "parked": publisher.parked - parked,
            "failed_from": [f["itemIdentifier"] for f in response["batchItemFailures"]],
        },
    )
    return response
