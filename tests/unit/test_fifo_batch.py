"""process_fifo_batch: groups at once, each in order, answered as Powertools' FIFO processor.

The oracle is the real `SqsFifoPartialProcessor(skip_group_on_error=True)` run through
`process_partial_response` on the same batch with the same handler outcomes.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections import defaultdict

import pytest
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.exceptions import (
    BatchProcessingError,
    UnexpectedBatchTypeError,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from greenhook.fifo_batch import process_fifo_batch

NO_GROUP = None  # the record carries no MessageGroupId attribute at all


def sqs_record(message_id: str, group: str | None, body: str = "{}") -> dict:
    attributes = {
        "ApproximateReceiveCount": "1",
        "SentTimestamp": "1700000000000",
        "SequenceNumber": "18881234567890123456",
        "MessageDeduplicationId": message_id,
        "SenderId": "AIDAEXAMPLE",
        "ApproximateFirstReceiveTimestamp": "1700000000001",
    }
    if group is not NO_GROUP:
        attributes["MessageGroupId"] = group
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": attributes,
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:webhooks.fifo",
        "awsRegion": "eu-central-1",
    }


def batch(*records: tuple[str, str | None]) -> dict:
    return {"Records": [sqs_record(message_id, group) for message_id, group in records]}


class Boom(Exception):
    """A record handler's failure."""


class RecordingHandler:
    """Calls in the order they started; raises for the failing ids; flags a group's overlap."""

    def __init__(self, failing=(), groups=None, pause: float = 0.0):
        self.failing = set(failing)
        self.groups = groups or {}
        self.pause = pause
        self.calls: list[str] = []
        self.overlaps: list[str] = []
        self._active: dict[object, int] = defaultdict(int)
        self._lock = threading.Lock()

    def __call__(self, record) -> str:
        group = self.groups.get(record.message_id, record.message_id)
        with self._lock:
            self.calls.append(record.message_id)
            self._active[group] += 1
            if self._active[group] > 1:
                self.overlaps.append(record.message_id)
        try:
            if self.pause:
                time.sleep(self.pause)
            if record.message_id in self.failing:
                raise Boom(f"failed {record.message_id}")
            return "stored"
        finally:
            with self._lock:
                self._active[group] -= 1


def powertools(event: dict, handler) -> dict | type[BaseException]:
    """What today's sequential processor answers (or the exception type it raises)."""
    try:
        return process_partial_response(
            event=event,
            record_handler=handler,
            processor=SqsFifoPartialProcessor(skip_group_on_error=True),
        )
    except BatchProcessingError as error:
        return type(error)


def concurrent(event: dict, handler, max_workers: int) -> dict | type[BaseException]:
    try:
        return process_fifo_batch(event, handler, max_workers=max_workers)
    except BatchProcessingError as error:
        return type(error)


# Up to 12 records (SQS sends at most 10) over 4 chats, records without a group and the
# empty group id, which Powertools does not track as a group either.
batches = st.lists(
    st.tuples(
        st.sampled_from(["chat-a", "chat-b", "chat-c", "chat-d", NO_GROUP, ""]), st.booleans()
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(spec=batches, max_workers=st.integers(min_value=1, max_value=8))
def test_matches_powertools_and_keeps_each_group_in_order(spec, max_workers):
    records = [(f"m{position}", group) for position, (group, _) in enumerate(spec)]
    event = batch(*records)
    failing = {m for (m, _), (_, fails) in zip(records, spec, strict=True) if fails}
    # A group's key as Powertools sees it: a record without a (truthy) group id is alone.
    group_of = {message_id: group or message_id for message_id, group in records}

    handler = RecordingHandler(failing, group_of)
    answer = concurrent(event, handler, max_workers)
    oracle_handler = RecordingHandler(failing, group_of)
    assert answer == powertools(event, oracle_handler)

    # The model: a group's records up to and including its first failure are handled,
    # the failure and every later record of its group are reported.
    expected_calls, expected_failed, failed_groups = [], [], set()
    for message_id, _ in records:
        group = group_of[message_id]
        if group in failed_groups:
            expected_failed.append(message_id)
            continue
        expected_calls.append(message_id)
        if message_id in failing:
            failed_groups.add(group)
            expected_failed.append(message_id)

    for group in set(group_of.values()):
        in_group = [m for m in handler.calls if group_of[m] == group]
        assert in_group == [m for m in expected_calls if group_of[m] == group]
    assert sorted(handler.calls) == sorted(expected_calls)  # each handled once at most
    assert handler.overlaps == []
    if max_workers == 1:  # exactly today's sequential run, call for call
        assert handler.calls == oracle_handler.calls == expected_calls

    if len(expected_failed) == len(records):
        assert answer is BatchProcessingError
        return
    reported = [failure["itemIdentifier"] for failure in answer["batchItemFailures"]]
    assert reported == expected_failed  # in batch order
    handled_ok = [m for m in handler.calls if m not in failing]
    assert sorted(handled_ok + reported) == sorted(m for m, _ in records)  # nothing lost
    assert not set(handled_ok) & set(reported)


def test_groups_run_at_the_same_time_and_a_group_never_overlaps_itself():
    # Each record waits for one of the other group: only possible with both groups running.
    barrier = threading.Barrier(2, timeout=5)
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    lock = threading.Lock()

    def handler(record):
        started = time.monotonic()
        barrier.wait()
        time.sleep(0.01)
        with lock:
            spans[record.attributes.message_group_id].append((started, time.monotonic()))

    event = batch(("a1", "chat-a"), ("b1", "chat-b"), ("a2", "chat-a"), ("b2", "chat-b"))
    assert process_fifo_batch(event, handler, max_workers=2) == {"batchItemFailures": []}
    for group_spans in spans.values():
        assert len(group_spans) == 2
        (_, first_ended), (second_started, _) = group_spans
        assert first_ended <= second_started


def test_one_worker_is_sequential():
    # The barrier of the test above cannot be passed by one thread: chat-a and chat-b fail.
    barrier = threading.Barrier(2, timeout=0.2)

    def handler(record):
        if record.attributes.message_group_id != "chat-c":
            barrier.wait()

    event = batch(("a1", "chat-a"), ("b1", "chat-b"), ("a2", "chat-a"), ("c1", "chat-c"))
    answer = process_fifo_batch(event, handler, max_workers=1)
    assert answer == {"batchItemFailures": [{"itemIdentifier": m} for m in ("a1", "b1", "a2")]}


def test_a_failing_group_does_not_stop_the_others(caplog):
    event = batch(("a1", "chat-a"), ("b1", "chat-b"), ("a2", "chat-a"), ("b2", "chat-b"))
    event["Records"][0]["body"] = "secret body of a1"
    handler = RecordingHandler(failing={"a1"}, pause=0.01)
    answer = process_fifo_batch(event, handler, max_workers=4)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "a1"}, {"itemIdentifier": "a2"}]}
    assert sorted(handler.calls) == ["a1", "b1", "b2"]
    # The record handler logs its own failures: nothing here, and never a body.
    assert "secret body" not in caplog.text


def test_every_record_failing_raises_as_powertools_does():
    event = batch(("a1", "chat-a"), ("a2", "chat-a"), ("b1", "chat-b"))
    with pytest.raises(BatchProcessingError):
        process_fifo_batch(event, RecordingHandler({"a1", "b1"}), max_workers=2)


@pytest.mark.parametrize("max_workers", [1, 4])
@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_base_exceptions_propagate(error, max_workers):
    calls = []

    def handler(record):
        calls.append(record.message_id)
        if record.message_id == "a1":
            raise error

    event = batch(("a1", "chat-a"), ("a2", "chat-a"), ("b1", "chat-b"))
    with pytest.raises(error):
        process_fifo_batch(event, handler, max_workers=max_workers)
    assert "a2" not in calls


def test_an_empty_batch_has_no_failures():
    handler = RecordingHandler()
    assert process_fifo_batch({"Records": []}, handler, max_workers=4) == {"batchItemFailures": []}
    assert handler.calls == []


@pytest.mark.parametrize("event", [{}, {"Records": None}, {"Records": {"messageId": "m"}}])
def test_an_event_without_records_is_refused(event):
    with pytest.raises(UnexpectedBatchTypeError):
        process_fifo_batch(event, RecordingHandler(), max_workers=2)


@pytest.mark.parametrize("message_id", [None, "", 7])
def test_a_record_without_message_id_is_refused_before_any_is_handled(message_id):
    event = batch(("a1", "chat-a"), ("b1", "chat-b"))
    if message_id is None:
        del event["Records"][1]["messageId"]
    else:
        event["Records"][1]["messageId"] = message_id
    handler = RecordingHandler()
    with pytest.raises(UnexpectedBatchTypeError, match="Record 1"):
        process_fifo_batch(event, handler, max_workers=2)
    assert handler.calls == []


def test_max_workers_must_be_positive():
    with pytest.raises(ValueError, match="max_workers"):
        process_fifo_batch(batch(("a1", "chat-a")), RecordingHandler(), max_workers=0)


def test_groups_run_in_the_callers_context():
    request = contextvars.ContextVar("request", default="unset")
    request.set("invocation-1")
    seen = []
    event = batch(("a1", "chat-a"), ("b1", "chat-b"))
    process_fifo_batch(event, lambda record: seen.append(request.get()), max_workers=2)
    assert seen == ["invocation-1", "invocation-1"]


def test_after_a_base_exception_no_group_starts_another_record():
    a_may_raise = threading.Event()
    calls = []

    def handler(record):
        calls.append(record.message_id)
        if record.message_id == "a1":
            a_may_raise.wait(timeout=5)
            raise KeyboardInterrupt
        if record.message_id == "b1":
            a_may_raise.set()
            time.sleep(0.5)  # ample time for the caller to see a1's interrupt

    event = batch(("a1", "chat-a"), ("b1", "chat-b"), ("b2", "chat-b"), ("c1", "chat-c"))
    with pytest.raises(KeyboardInterrupt):
        process_fifo_batch(event, handler, max_workers=2)
    assert sorted(calls) == ["a1", "b1"]  # b1 was let finish; b2 and c1 never started
