"""Feed a DynamoDB stream to a function with the semantics of Lambda's stream event source.

moto has no stream event source mapping that honours filters, `batchItemFailures`, bisection
or an on-failure destination, so this poller plays the mapping (`PublishStreamMapping` in
template.yaml). As emulated here:
- every shard is read from TRIM_HORIZON, in order, with an in-memory checkpoint per shard
  (the last sequence number done); a restarted poller starts again from TRIM_HORIZON;
- records matching none of the filters (EventBridge pattern syntax, matched by moto's own
  matcher against the record as Lambda delivers it) are skipped: checkpointed, never sent;
- up to `batch_size` matching records make one event `{"Records": [...]}`; a poll sends
  what is there, without MaximumBatchingWindowInSeconds' wait;
- `batchItemFailures`: the records before the lowest failed sequence number are done, the
  rest is retried from that record (one retry attempt). None, {} or an empty list means all
  done; an itemIdentifier that is not in the batch fails the whole batch (one retry attempt);
- a function error (exception): with bisection, a batch of two or more is split in two
  halves, first half first, and that does not consume a retry attempt ("Splitting batches
  doesn't consume the retry quota", Lambda docs); a single record, or any batch without
  bisection, is retried whole, one attempt each time;
- a batch that fails again after `max_retry_attempts` retries (-1: retry forever) goes to
  `on_failure` as Lambda's invocation record (condition RetryAttemptsExhausted) and its
  records are checkpointed past;
- `retry_delay` seconds pass before every retry or bisected half; stop() cuts that wait
  short and leaves the batch in hand undone (it is delivered again on the next start, as
  Lambda redelivers an unfinished batch).
Not emulated: MaximumRecordAgeInSeconds (a local record is never a day old), parent/child
shard ordering (moto has one shard). After an error the shard is read again from its
checkpoint, which also covers an expired iterator.

With in-process moto (`mock_aws`), botocore sends streams calls to the account endpoint
`<account>.streams-ddb.<region>.amazonaws.com`, which moto 5.2.5 does not route: give the
`dynamodbstreams` client an endpoint_url (the local stack's moto server) or
`Config(account_id_endpoint_mode="disabled")`.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from moto.events.models import EventPattern

from greenhook_dev.poller import PollingThread

log = logging.getLogger(__name__)

Invoke = Callable[[dict], Any]
OnFailure = Callable[[dict], None]

MAX_GET_RECORDS = 1000  # GetRecords' Limit


class _Stopped(Exception):
    """stop() was called while a batch waited for its retry."""


def _json_attributes(value: Any) -> Any:
    """Attribute values as Lambda's JSON has them: binaries (B, BS) base64, not bytes."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _json_attributes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_attributes(v) for v in value]
    return value


def lambda_stream_record(record: dict, stream_arn: str, region: str) -> dict:
    """A GetRecords record as a record of the DynamoDB Streams event Lambda delivers."""
    stream = {k: _json_attributes(v) for k, v in record["dynamodb"].items()}
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        # Lambda gives epoch seconds, rounded down; boto3 parsed it to a datetime.
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    lambda_record = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record["eventVersion"],
        "eventSource": "aws:dynamodb",
        "awsRegion": region,  # moto says us-east-1 whatever the table's region
        "dynamodb": stream,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:  # TTL deletions
        lambda_record["userIdentity"] = record["userIdentity"]
    return lambda_record


def first_failed_index(result: Any, sequence_numbers: list[str]) -> int | None:
    """Where the batch must be retried from, given the function's response (None: all done)."""
    if not result or not isinstance(result, dict):
        return None
    failures = result.get("batchItemFailures")
    if not failures:
        return None
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if identifier not in sequence_numbers:
            log.error("invalid itemIdentifier %r: the whole batch fails", identifier)
            return 0
        indexes.append(sequence_numbers.index(identifier))
    return min(indexes)


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def invocation_record(
    batch: list[dict],
    *,
    shard_id: str,
    stream_arn: str,
    invocations: int,
    function_error: bool,
    function_arn: str | None = None,
) -> dict:
    """What Lambda sends to a stream mapping's on-failure destination for a discarded batch."""
    request: dict[str, Any] = {"requestId": str(uuid.uuid4())}
    if function_arn:
        request["functionArn"] = function_arn
    request.update(condition="RetryAttemptsExhausted", approximateInvokeCount=invocations)
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if function_error:
        response["functionError"] = "Unhandled"
    first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
    return {
        "requestContext": request,
        "responseContext": response,
        "version": "1.0",
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first["SequenceNumber"],
            "endSequenceNumber": last["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso(first["ApproximateCreationDateTime"]),
            "approximateArrivalOfLastRecord": _iso(last["ApproximateCreationDateTime"]),
            "batchSize": len(batch),
            "streamArn": stream_arn,
        },
    }


def sqs_on_failure(sqs: Any, queue_url: str) -> OnFailure:
    """An on_failure that sends the invocation record to an SQS queue as JSON, as Lambda does."""

    def send(record: dict) -> None:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(record))

    return send


class StreamPoller(PollingThread):
    """A thread that reads one DynamoDB stream and invokes one function, as an event source
    mapping does (see the module docstring for the semantics)."""

    thread_name = "stream-poller"

    def __init__(
        self,
        streams_client: Any,
        invoke: Invoke,
        *,
        stream_arn: str,
        region: str,
        batch_size: int = 100,
        filters: Iterable[str] = (),
        bisect_on_error: bool = True,
        max_retry_attempts: int = 10,
        on_failure: OnFailure | None = None,
        function_arn: str | None = None,
        idle_sleep: float = 0.25,
        retry_delay: float = 0.5,
    ) -> None:
        self.streams = streams_client
        self.invoke = invoke
        self.stream_arn = stream_arn
        self.region = region
        self.batch_size = batch_size
        self.filters = [EventPattern.load(pattern) for pattern in filters]
        self.bisect_on_error = bisect_on_error
        self.max_retry_attempts = max_retry_attempts
        self.on_failure = on_failure
        self.function_arn = function_arn
        super().__init__(idle_sleep)
        self.retry_delay = retry_delay
        self.checkpoints: dict[str, str] = {}  # shard id -> last sequence number done
        # Reusing GetRecords' next iterator spares moto a new (never freed) one per poll.
        self._iterators: dict[str, str] = {}

    def poll_once(self) -> int:
        """Deliver at most one batch per shard and settle it; returns the records it held
        (0 means every shard is caught up)."""
        delivered = 0
        for shard_id in self._shard_ids():
            try:
                delivered += self._poll_shard(shard_id)
            except _Stopped:
                break
        return delivered

    def _shard_ids(self) -> list[str]:
        shard_ids: list[str] = []
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            shard_ids += [shard["ShardId"] for shard in description.get("Shards", [])]
            if not description.get("LastEvaluatedShardId"):
                return shard_ids
            kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]

    def _iterator(self, shard_id: str) -> str:
        if shard_id in self._iterators:
            return self._iterators.pop(shard_id)
        kwargs: dict[str, Any] = {"ShardIteratorType": "TRIM_HORIZON"}
        if shard_id in self.checkpoints:
            kwargs = {
                "ShardIteratorType": "AFTER_SEQUENCE_NUMBER",
                "SequenceNumber": self.checkpoints[shard_id],
            }
        return self.streams.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **kwargs
        )["ShardIterator"]

    def _matches(self, record: dict) -> bool:
        return not self.filters or any(f.matches_event(record) for f in self.filters)

    def _poll_shard(self, shard_id: str) -> int:
        iterator: str | None = self._iterator(shard_id)
        batch: list[dict] = []
        read_to = None  # the last sequence number read, matching or not
        # Read only as many as the batch still takes, so nothing read is left undecided.
        while iterator and len(batch) < self.batch_size:
            response = self.streams.get_records(
                ShardIterator=iterator, Limit=min(self.batch_size - len(batch), MAX_GET_RECORDS)
            )
            iterator = response.get("NextShardIterator")
            if not response["Records"]:
                break
            for record in response["Records"]:
                read_to = record["dynamodb"]["SequenceNumber"]
                lambda_record = lambda_stream_record(record, self.stream_arn, self.region)
                if self._matches(lambda_record):
                    batch.append(lambda_record)
        if batch:
            self._deliver(shard_id, batch)
        if read_to is not None:
            self.checkpoints[shard_id] = read_to  # past the filtered-out records too
        if iterator:
            self._iterators[shard_id] = iterator
        return len(batch)

    def _deliver(self, shard_id: str, records: list[dict]) -> None:
        """Invoke until every record is done or discarded, checkpointing as they settle."""
        pending: list[tuple[list[dict], int]] = [(records, 0)]  # (batch, retries so far)
        while pending:
            batch, retries = pending.pop(0)
            sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in batch]
            function_error = False
            try:
                failed_from = first_failed_index(self.invoke({"Records": batch}), sequence_numbers)
            except Exception:
                log.exception("function failed on %d stream record(s)", len(batch))
                function_error, failed_from = True, 0
            if failed_from is None:
                self.checkpoints[shard_id] = sequence_numbers[-1]
                continue
            if failed_from:
                self.checkpoints[shard_id] = sequence_numbers[failed_from - 1]
            rest = batch[failed_from:]
            if function_error and self.bisect_on_error and len(rest) > 1:
                half = (len(rest) + 1) // 2
                self._wait_retry()
                pending[:0] = [(rest[:half], retries), (rest[half:], retries)]
                continue
            if 0 <= self.max_retry_attempts <= retries:
                self._discard(shard_id, rest, retries + 1, function_error)
                continue
            log.warning("%d stream record(s) failed; retry %d", len(rest), retries + 1)
            self._wait_retry()
            pending.insert(0, (rest, retries + 1))

    def _discard(self, shard_id: str, batch: list[dict], invocations: int, error: bool) -> None:
        record = invocation_record(
            batch,
            shard_id=shard_id,
            stream_arn=self.stream_arn,
            invocations=invocations,
            function_error=error,
            function_arn=self.function_arn,
        )
        info = record["DDBStreamBatchInfo"]
        log.error(
            "retries exhausted: %d record(s) %s..%s discarded",
            len(batch),
            info["startSequenceNumber"],
            info["endSequenceNumber"],
        )
        if self.on_failure:
            self.on_failure(record)  # if this raises, the batch is not checkpointed
        self.checkpoints[shard_id] = info["endSequenceNumber"]

    def _wait_retry(self) -> None:
        if self._stop.wait(self.retry_delay):
            raise _Stopped
