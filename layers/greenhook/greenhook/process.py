"""The consumer: each SQS record is archived raw, validated, dispatched and stored.

Only a transient AWS error fails a record (it comes back, and after maxReceiveCount goes to
the DLQ). A body that is not a usable webhook, does not validate, has no handler or makes its
handler fail for good is parked with the reason: kept, counted, never blocking the batch.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache

import boto3
from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from pydantic import ValidationError

from greenhook import queue, routing, storable
from greenhook.config import process_config
from greenhook.dispatch import load_handler_modules, registry
from greenhook.models import Webhook, parse_webhook
from greenhook.observability import MetricUnit, logger, metrics
from greenhook.storage import Payloads, RawWebhook, Storage
from greenhook.transient import is_transient


@cache
def _payloads() -> Payloads:
    return Payloads(process_config().payload_bucket)


# Set here, not left to botocore's defaults (which changed between releases, and wait 60 s
# for a read): a hanging call fails its record long before the 30 s Timeout ends the batch.
_CLIENT_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 4},
)


@cache
def _storage() -> Storage:
    # First use is the cold start: the user's handler modules register themselves now.
    load_handler_modules(process_config().extra_handler_modules)
    dynamodb = boto3.resource("dynamodb", config=_CLIENT_CONFIG)
    return Storage(process_config().table_name, dynamodb, payloads=_payloads())


def _attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]  # None when absent
    return attribute.string_value if attribute else None


def read_body(record: SQSRecord, payloads: Payloads) -> bytes:
    """The body exactly as ingest received it (from S3 or base64 where ingest put it so).

    A message from another producer is taken as it is: a `body_encoding` that does not
    decode leaves the message text itself as the body.
    """
    if s3_key := _attribute(record, "payload_s3_key"):
        return payloads.get(s3_key)
    if _attribute(record, "body_encoding") == queue.BASE64:
        try:
            return base64.b64decode(record.body, validate=True)
        except (binascii.Error, ValueError):
            pass
    return record.body.encode("utf-8", errors="surrogatepass")


def received_at(record: SQSRecord) -> str:
    """When ingest received the body (its `received_at`), else when SQS did (SentTimestamp,
    epoch milliseconds): a message from another producer has only the latter. Always UTC ISO."""
    stamped = _attribute(record, "received_at")
    try:
        when = datetime.fromisoformat(stamped) if stamped else None
    except ValueError:
        when = None
    if when is None:
        try:
            when = datetime.fromtimestamp(int(record.attributes.sent_timestamp) / 1000, UTC)
        except (TypeError, ValueError, OverflowError, OSError):
            when = datetime.now(UTC)  # no attribute at all: at least the day it was handled
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).isoformat(timespec="milliseconds")


def raw_webhook(
    record: SQSRecord, body: bytes, where: routing.Routing, repairs: Iterable[str] = ()
) -> RawWebhook:
    """The body with what ingest recorded about it and what it says about itself."""
    return RawWebhook(
        repairs=tuple(sorted(repairs)),
        sha256=queue.sha256_hex(body),
        body=body,
        received_at=received_at(record),
        source_ip=_attribute(record, "source_ip"),
        payload_s3_key=_attribute(record, "payload_s3_key"),
        type_webhook=where.type_webhook,
        id_instance=where.id_instance,
        timestamp=where.timestamp,
    )


def _park(raw: RawWebhook, reason: str, storage: Storage, payloads: Payloads) -> None:
    if raw.payload_s3_key:  # the archive's copy in S3 expires; a parked one must not
        raw = replace(raw, payload_s3_key=payloads.keep(raw.payload_s3_key))
    storage.park(raw, reason)
    metrics.add_metric(name="WebhookParked", unit=MetricUnit.Count, value=1)
    logger.warning(
        "webhook parked",
        extra={"reason": reason, "sha256": raw.sha256, "type_webhook": raw.type_webhook},
    )


def _failure(error: BaseException) -> str:
    """An error as a parking reason: its kind and (bounded) message, never a traceback."""
    return f"{type(error).__name__}: {str(error)[:500]}"


def handle_record(record: SQSRecord, storage: Storage, payloads: Payloads) -> str:
    """Archive, validate, dispatch one record; returns what happened (stored/parked).

    Raises only for a transient failure (the record comes back later); any other failure
    parks the webhook with its reason, so the rest of its chat goes on.
    """
    body = read_body(record, payloads)
    where = routing.route(body)
    document, repairs = _readable(where)
    raw = raw_webhook(record, body, where, repairs)
    if raw.payload_s3_key is None and len(body) > queue.INLINE_LIMIT:
        # Only another producer's message gets here (ingest offloads such bodies itself):
        # the archive item could not hold it.
        key = queue.payload_key(raw.sha256, raw.received_at)
        raw = replace(raw, payload_s3_key=payloads.put(key, body))
    # First, and in a form that cannot be refused for its content: the exact bytes.
    if not storage.archive(raw, process_config().archive_retention_days):
        metrics.add_metric(name="WebhookDuplicate", unit=MetricUnit.Count, value=1)
    try:
        reason = where.quarantine_reason or _handle(document, storage)
    except Exception as error:
        if is_transient(error):
            raise
        logger.exception("webhook failed", extra={"type_webhook": where.type_webhook})
        reason = f"failed: {_failure(error)}"
    if reason:
        _park(raw, reason, storage, payloads)
        return "parked"
    metrics.add_metric(name="WebhookStored", unit=MetricUnit.Count, value=1)
    return "stored"


def _readable(where: routing.Routing) -> tuple[dict | None, set[str]]:
    """The webhook's document as the models can take it, and what had to be repaired."""
    repairs: set[str] = set()
    if where.document is None:
        return None, repairs
    document = storable.readable(where.document, repairs)
    if repairs:
        logger.warning("webhook repaired to be read", extra={"repairs": sorted(repairs)})
    return document, repairs


def _handle(document: dict, storage: Storage) -> str | None:
    """Validate and dispatch a webhook: None once stored, else why it must be parked."""
    try:
        webhook = parse_webhook(document)
    except ValidationError as error:
        return validation_reason(document.get("typeWebhook"), error)
    outcome = dispatch(webhook, storage)
    return None if outcome == "stored" else outcome


def validation_reason(type_webhook: str | None, error: ValidationError) -> str:
    return f"invalid {type_webhook}: {error.error_count()} errors: " + "; ".join(
        f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()[:10]
    )


def dispatch(webhook: Webhook, storage: Storage) -> str:
    """Run the webhook's handlers; "stored", or why it must be parked.

    Transient AWS errors propagate (the record is retried); any other failure of a handler
    is a bug or a webhook it cannot take, and parks the webhook instead of blocking its chat.
    """
    handlers = registry.handlers_for(webhook)
    if not handlers:
        return f"no handler for typeWebhook {webhook.typeWebhook!r}"
    for handler in handlers:
        try:
            handler(webhook, storage)
        except Exception as error:
            if is_transient(error):
                raise
            logger.exception("handler failed", extra={"type_webhook": webhook.typeWebhook})
            return f"handler failed: {_failure(error)}"
    if webhook.timestamp is not None:
        storage.touch_instance(webhook.id_instance, webhook.timestamp)
    return "stored"


def replay_parked(storage: Storage, payloads: Payloads, limit: int = 1000) -> dict[str, int]:
    """Handle parked webhooks again (after a fix or a new handler); unpark those stored now."""
    counts = {"stored": 0, "still parked": 0}
    for parked in storage.list_parked(limit=limit):
        body = payloads.get(parked["payload_s3_key"]) if parked["payload_s3_key"] else None
        where = routing.route(body if body is not None else (parked["body"] or "").encode())
        outcome = "not a webhook"
        if not where.quarantine_reason:
            try:
                outcome = dispatch(parse_webhook(_readable(where)[0]), storage)
            except ValidationError:
                outcome = "invalid"
        if outcome == "stored":
            storage.unpark(parked["id"])
        counts["stored" if outcome == "stored" else "still parked"] += 1
    return counts


def _record_handler(record: SQSRecord) -> str:
    try:
        return handle_record(record, _storage(), _payloads())
    except Exception as error:
        # Transient: the record comes back (and past maxReceiveCount waits in the DLQ).
        # Anything else got here because even archiving or parking failed: keeping the
        # record on the queue is then the only way not to lose it.
        log = logger.warning if is_transient(error) else logger.exception
        log(
            "record failed, left for redelivery",
            extra={
                "message_id": record.message_id,
                "error": _failure(error),
                "transient": is_transient(error),
            },
        )
        raise


def handle(event: dict, context: object) -> dict:
    """Process an SQS batch, reporting the records that must come back."""
    # skip_group_on_error: a failure holds back only its own chat (message group), in order.
    processor = SqsFifoPartialProcessor(skip_group_on_error=True)
    return process_partial_response(
        event=event, record_handler=_record_handler, processor=processor, context=context
    )
