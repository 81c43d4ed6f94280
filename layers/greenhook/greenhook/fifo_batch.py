"""An SQS FIFO batch handled concurrently across message groups, in order within each.

The answer is Powertools' `SqsFifoPartialProcessor(skip_group_on_error=True)` with
`process_partial_response`: a record that fails is reported with every later record of its
message group, and the other groups go on. Only the schedule differs: up to `max_workers`
groups run at once, each on a thread of its own, so one slow chat no longer holds up the
others in the batch. (Powertools 3.37 has no concurrent FIFO processor: its
`SqsFifoPartialProcessor` is sequential, its `AsyncBatchProcessor` ignores message groups.)
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.exceptions import (
    BatchProcessingError,
    ExceptionInfo,
    UnexpectedBatchTypeError,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

RecordHandler = Callable[[SQSRecord], Any]

# What Powertools records for a record held back behind its group's failure.
_HELD_BACK: ExceptionInfo = SqsFifoPartialProcessor.group_circuit_breaker_exc


def process_fifo_batch(event: dict, record_handler: RecordHandler, *, max_workers: int) -> dict:
    """Handle an SQS FIFO batch, groups concurrently; the Lambda partial-batch response.

    Contract, as `SqsFifoPartialProcessor(skip_group_on_error=True)`:
    - records of one `MessageGroupId` are handled one at a time, in batch order; a record
      without a group id (or an empty one) is a group of its own;
    - a record whose handler raises an `Exception` fails, and the later records of its group
      are not handled; both are named in `batchItemFailures`, in batch order;
    - if every record of the batch fails, `BatchProcessingError` is raised instead;
    - any other `BaseException` (KeyboardInterrupt, SystemExit) propagates: no group starts
      another record, and the records being handled are let finish first.

    `max_workers=1` calls the handler in batch order on the calling thread, as Powertools
    does. Otherwise each group runs on a pool thread in a copy of the caller's context
    (contextvars), so the handler must be safe to call from several threads at once.
    Where Powertools raises for an empty `Records` list, the answer here is no failures;
    a record without a `messageId` could not be reported, so the batch is refused before
    any record is handled (`UnexpectedBatchTypeError`, as for an event without `Records`).
    """
    if max_workers < 1:
        raise ValueError(f"max_workers must be at least 1, not {max_workers}")
    records = _records(event)
    keys = [_group_key(position, record) for position, record in enumerate(records)]
    if max_workers == 1 or len(set(keys)) < 2:
        outcomes = _in_order(records, keys, record_handler, threading.Event())
    else:
        outcomes = _concurrently(records, keys, record_handler, max_workers)
    failures = [
        {"itemIdentifier": record.message_id}
        for record, outcome in zip(records, outcomes, strict=True)
        if outcome is not None
    ]
    if failures and len(failures) == len(records):
        raise BatchProcessingError(
            msg=f"All records failed processing. {len(failures)} individual errors logged "
            "separately below.",
            child_exceptions=[outcome for outcome in outcomes if outcome is not None],
        )
    return {"batchItemFailures": failures}


def _records(event: dict) -> list[SQSRecord]:
    records = event.get("Records") if isinstance(event, dict) else None
    if not isinstance(records, list):
        raise UnexpectedBatchTypeError("Not an SQS batch: the event has no Records list")
    for position, record in enumerate(records):
        message_id = record.get("messageId") if isinstance(record, dict) else None
        if not message_id or not isinstance(message_id, str):
            # Its failure could not be named in batchItemFailures: refuse before any side effect.
            raise UnexpectedBatchTypeError(f"Record {position} of the batch has no messageId")
    return [SQSRecord(record) for record in records]


def _group_key(position: int, record: SQSRecord) -> str | int:
    """The record's message group; a record without one is alone (Powertools tracks only a
    truthy MessageGroupId)."""
    attributes = record.raw_event.get("attributes")
    group = attributes.get("MessageGroupId") if isinstance(attributes, dict) else None
    return group or position


def _concurrently(
    records: list[SQSRecord], keys: list[str | int], handler: RecordHandler, max_workers: int
) -> list[ExceptionInfo | None]:
    groups: dict[str | int, list[int]] = {}
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    outcomes: list[ExceptionInfo | None] = [None] * len(records)
    stop = threading.Event()
    with ThreadPoolExecutor(
        max_workers=min(max_workers, len(groups)), thread_name_prefix="fifo-group"
    ) as pool:
        futures = {
            pool.submit(
                # One copy per group: a Context cannot be entered on two threads at once.
                contextvars.copy_context().run,
                _in_order,
                [records[position] for position in positions],
                [key] * len(positions),
                handler,
                stop,
            ): positions
            for key, positions in groups.items()
        }
        try:
            for future in as_completed(futures):
                for position, outcome in zip(futures[future], future.result(), strict=True):
                    outcomes[position] = outcome
        except BaseException:
            # A handler's KeyboardInterrupt or SystemExit (or one in this thread): no group
            # starts another record; leaving the pool waits for those being handled.
            stop.set()
            pool.shutdown(cancel_futures=True)
            raise
    return outcomes


def _in_order(
    records: Sequence[SQSRecord],
    keys: Sequence[str | int],
    handler: RecordHandler,
    stop: threading.Event,
) -> list[ExceptionInfo | None]:
    """Handle records in order, holding back the rest of a group once one of it fails.

    Each record's outcome: None when handled, else why it is reported.
    """
    failed: set[str | int] = set()
    outcomes: list[ExceptionInfo | None] = []
    for record, key in zip(records, keys, strict=True):
        if key in failed:
            outcomes.append(_HELD_BACK)
            continue
        if stop.is_set():
            break
        try:
            outcome = _handle(record, handler)
        except BaseException:
            stop.set()  # now, before this thread can take up a group still waiting
            raise
        if outcome is not None:
            failed.add(key)
        outcomes.append(outcome)
    return outcomes


def _handle(record: SQSRecord, handler: RecordHandler) -> ExceptionInfo | None:
    # Not logged here: the record handler logs its own failures (once, with the id).
    try:
        handler(record)
    except Exception:
        return sys.exc_info()
    return None
