"""The dead-letter queue as an operator reads and empties it (`greenhook dlq`, `redrive`).

A webhook reaches the DLQ only after five transient failures (see process.py): what is in
it is data greenhook accepted and still owes the table. `peek` lists it without taking it:
each message is received with a short visibility timeout and made visible again at once
(SQS has no other way to read a queue; each look adds one to the message's receive count,
which nothing reads in the DLQ). `start_redrive` and `follow` are SQS's own message move
task, the same calls against AWS and the local stack (moto_move_task there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

PEEK_VISIBILITY_SECONDS = 30  # long enough to page through 10 at a time, short if interrupted
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def queue_arn(sqs: Any, queue_url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]


def waiting(sqs: Any, queue_url: str) -> int:
    """Messages in the queue, visible or in flight (SQS's approximate counts)."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes.get(name, 0)) for name in names)


def describe(message: dict, payloads: Any, now: datetime) -> dict[str, Any]:
    """What an operator needs to decide about one dead letter."""
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from greenhook import routing
    from greenhook.process import read_body, received_at
    from greenhook_dev.poller import sqs_record

    # As the process function would get it (the queue's ARN and region do not matter here).
    record = SQSRecord(sqs_record(message, queue_arn="", region=""))
    received = received_at(record)
    entry: dict[str, Any] = {
        "message_id": message["MessageId"],
        "received_at": received,
        "age_seconds": int((now - datetime.fromisoformat(received)).total_seconds()),
        "receive_count": int((message.get("Attributes") or {}).get("ApproximateReceiveCount", 0)),
        "message_group_id": (message.get("Attributes") or {}).get("MessageGroupId"),
    }
    try:
        body = read_body(record, payloads)
    except Exception as error:  # an offloaded body that expired: still listed, with why
        entry.update(type_webhook=None, id_instance=None, chat_id=None, size=None)
        entry["unreadable"] = f"{type(error).__name__}: {str(error)[:200]}"
        return entry
    where = routing.route(body)
    entry.update(
        type_webhook=where.type_webhook,
        id_instance=where.id_instance,
        chat_id=where.chat_id,
        size=len(body),
    )
    if where.quarantine_reason:
        entry["unreadable"] = where.quarantine_reason
    return entry


def peek(sqs: Any, dlq_url: str, payloads: Any, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` dead letters, described, oldest first; the queue is left as it was."""
    received: list[dict] = []
    try:
        while len(received) < limit:
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(10, limit - len(received)),
                VisibilityTimeout=PEEK_VISIBILITY_SECONDS,
                WaitTimeSeconds=0,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            received.extend(batch)
    finally:
        for start in range(0, len(received), 10):
            entries = [
                {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for n, m in enumerate(received[start : start + 10])
            ]
            sqs.change_message_visibility_batch(QueueUrl=dlq_url, Entries=entries)
    now = datetime.now(UTC)
    entries = [describe(message, payloads, now) for message in received]
    return sorted(entries, key=lambda e: e["received_at"])


def start_redrive(sqs: Any, dlq_url: str, queue_url: str, rate: int | None = None) -> str:
    """Start SQS's move task from the DLQ to the webhook queue; its handle."""
    request: dict[str, Any] = {
        "SourceArn": queue_arn(sqs, dlq_url),
        "DestinationArn": queue_arn(sqs, queue_url),
    }
    if rate:
        request["MaxNumberOfMessagesPerSecond"] = rate
    return sqs.start_message_move_task(**request)["TaskHandle"]


def task(sqs: Any, dlq_arn: str, handle: str) -> dict[str, Any]:
    """The task's state as SQS reports it: the source's newest task, which is this one
    (one task per queue at a time). SQS shows the handle only while the task runs."""
    results = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=1)["Results"]
    if not results or results[0].get("TaskHandle") not in (None, handle):
        raise LookupError(f"the newest move task of {dlq_arn} is not {handle}")
    return results[0]


def follow(
    sqs: Any,
    dlq_arn: str,
    handle: str,
    on_progress: Callable[[dict[str, Any]], None],
    interval: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Report the task until it has ended; its last state. SQS may list a task a moment
    after starting it: a few polls without it are waited out before LookupError."""
    unseen = 0
    while True:
        try:
            state = task(sqs, dlq_arn, handle)
        except LookupError:
            unseen += 1
            if unseen > 5:
                raise
            sleep(interval)
            continue
        on_progress(state)
        if state.get("Status") in FINAL:
            return state
        sleep(interval)


def progress_text(state: dict[str, Any]) -> str:
    moved = state.get("ApproximateNumberOfMessagesMoved", 0)
    total = state.get("ApproximateNumberOfMessagesToMove")
    of = f" of {total}" if total is not None else ""
    return f"redrive {state.get('Status', '?').lower()}: moved {moved}{of} to the webhook queue"
