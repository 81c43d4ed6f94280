"""Moving a dead-letter queue's messages back to their queue, as SQS's message move task does.

In AWS the redrive is SQS's own `StartMessageMoveTask`. moto has no move task, so locally
(and in tests) `move_messages` does what AWS documents for it: oldest message first, each
sent again with its body, message attributes and message group; on a FIFO queue its
deduplication id is the original message id (AWS puts the message id there when a message
moves to a FIFO DLQ), so SQS's five-minute deduplication window cannot swallow a webhook
that comes back, however soon.
"""

from __future__ import annotations

from typing import Any


def _fifo(queue_url: str) -> bool:
    return queue_url.endswith(".fifo")


def move_messages(sqs: Any, source_url: str, destination_url: str, limit: int = 10_000) -> int:
    """Move up to `limit` messages from `source_url` to `destination_url`; returns how many."""
    moved = 0
    while moved < limit:
        messages = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=min(10, limit - moved),
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            break
        for message in messages:  # in the order SQS gives them: each group's order kept
            request: dict[str, Any] = {
                "QueueUrl": destination_url,
                "MessageBody": message["Body"],
                "MessageAttributes": message.get("MessageAttributes", {}),
            }
            if _fifo(destination_url):
                request["MessageGroupId"] = message["Attributes"]["MessageGroupId"]
                request["MessageDeduplicationId"] = message["MessageId"]
            sqs.send_message(**request)
            sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
