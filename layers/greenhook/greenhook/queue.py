"""Putting a raw webhook body on the SQS FIFO queue (and large bodies in S3).

The message carries the body exactly as received. SQS accepts only some Unicode characters
and at most 1 MiB, and DynamoDB items at most 400 KB, so a body that is not SQS-safe text
travels base64-encoded, and one larger than INLINE_LIMIT goes to S3 with a pointer queued.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Leaves room for the archive item's other attributes under DynamoDB's 400 KB item limit.
INLINE_LIMIT = 240 * 1024
BASE64 = "base64"
# Characters SQS accepts in a message body (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessage.html).
_SQS_UNSAFE = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class QueuedBody:
    """How a body was written to the queue."""

    message_id: str
    sha256: str
    payload_s3_key: str | None = None
    encoding: str | None = None


def sha256_hex(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def message_text(body: bytes) -> tuple[str, str | None]:
    """The SQS message text for a body, and its encoding (None = the body itself)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and not _SQS_UNSAFE.search(text):
        return text, None
    return base64.b64encode(body).decode("ascii"), BASE64


def payload_key(sha256: str, received_at: str) -> str:
    """S3 key of an offloaded body: by day received, named by its hash (a re-send overwrites)."""
    return f"payloads/{received_at[:10]}/{sha256}"


def _string(value: str) -> dict[str, str]:
    return {"DataType": "String", "StringValue": value}


def enqueue(
    body: bytes,
    *,
    sqs: Any,
    queue_url: str,
    group_id: str,
    received_at: str,
    source_ip: str,
    s3_client: Callable[[], Any] | None = None,
    bucket: str | None = None,
    deduplication_id: str | None = None,
) -> QueuedBody:
    """Send one body to the FIFO queue; returns only once SQS has accepted it.

        The deduplication id is the body's SHA-256, so GREEN-API's identical re-sends within
        SQS's five-minute window are dropped by SQS itself. `s3_client` is called (to create the
    client) only for a body that must go to S3. A replay passes its own deduplication id,
    so that SQS does not drop it as a re-send of the original.
    """
    sha256 = sha256_hex(body)
    text, encoding = message_text(body)
    attributes = {"received_at": _string(received_at), "source_ip": _string(source_ip)}
    s3_key = None
    if len(text.encode("utf-8")) > INLINE_LIMIT:
        if s3_client is None or not bucket:
            raise ValueError("a body over the inline limit needs the payload bucket")
        s3_key = payload_key(sha256, received_at)
        s3_client().put_object(Bucket=bucket, Key=s3_key, Body=body, ContentType="application/json")
        text, encoding = json.dumps({"payload_s3_key": s3_key, "sha256": sha256}), None
        attributes["payload_s3_key"] = _string(s3_key)
    if encoding:
        attributes["body_encoding"] = _string(encoding)
    response = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=text,
        MessageGroupId=group_id,
        MessageDeduplicationId=deduplication_id or sha256,
        MessageAttributes=attributes,
    )
    return QueuedBody(response["MessageId"], sha256, s3_key, encoding)
