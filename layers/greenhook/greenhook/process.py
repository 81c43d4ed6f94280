"""The consumer: each SQS record is archived raw, validated, dispatched and stored.

Only a transient AWS error fails a record (it comes back, and after maxReceiveCount goes to
the DLQ). A body that is not a usable webhook, does not validate, has no handler or makes its
handler fail for good is parked with the reason: kept, counted, never blocking the batch.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from functools import cache

from aws_lambda_powertools.utilities.batch import (
    SqsFifoPartialProcessor,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
)
from pydantic import ValidationError

from greenhook import queue, routing
from greenhook.config import process_config
from greenhook.dispatch import load_handler_modules, registry
from greenhook.models import Webhook, parse_webhook
from greenhook.observability import MetricUnit, logger, metrics
from greenhook.storage import Payloads, RawWebhook, Storage

_TRANSIENT_CODES = {
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "Throttling",
    "InternalServerError",
    "InternalError",
    "ServiceUnavailable",
    "TransactionConflictException",
    "SlowDown",
}


def is_transient(error: BaseException) -> bool:
    """Throttling, service-side failures and network trouble: worth trying again later."""
    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return code in _TRANSIENT_CODES or status >= 500
    return isinstance(error, ConnectionError | HTTPClientError)


class TransientError(Exception):
    """Raised to fail a record so SQS delivers it again."""


@cache
def _payloads() -> Payloads:
    return Payloads(process_config().payload_bucket)


@cache
def _storage() -> Storage:
    # First use is the cold start: the user's handler modules register themselves now.
    load_handler_modules(process_config().extra_handler_modules)
    return Storage(process_config().table_name, payloads=_payloads())


def _attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]  # None when absent
    return attribute.string_value if attribute else None


def read_body(record: SQSRecord, payloads: Payloads) -> bytes:
    """The body exactly as ingest received it (from S3 or base64 where ingest put it so)."""
    if s3_key := _attribute(record, "payload_s3_key"):
        return payloads.get(s3_key)
    if _attribute(record, "body_encoding") == queue.BASE64:
        return base64.b64decode(record.body)
    return record.body.encode("utf-8")


def raw_webhook(record: SQSRecord, body: bytes, where: routing.Routing) -> RawWebhook:
    """The body with what ingest recorded about it and what it says about itself."""
    return RawWebhook(
        sha256=queue.sha256_hex(body),
        body=body,
        received_at=_attribute(record, "received_at") or record.attributes.sent_timestamp,
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


def handle_record(record: SQSRecord, storage: Storage, payloads: Payloads) -> str:
    """Archive, validate, dispatch one record; returns what happened (stored/parked)."""
    body = read_body(record, payloads)
    where = routing.route(body)
    raw = raw_webhook(record, body, where)
    if not storage.archive(raw, process_config().archive_retention_days):
        metrics.add_metric(name="WebhookDuplicate", unit=MetricUnit.Count, value=1)
    if where.quarantine_reason:
        _park(raw, where.quarantine_reason, storage, payloads)
        return "parked"
    try:
        webhook = parse_webhook(where.document)
    except ValidationError as error:
        _park(raw, validation_reason(where.type_webhook, error), storage, payloads)
        return "parked"
    outcome = dispatch(webhook, storage)
    if outcome != "stored":
        _park(raw, outcome, storage, payloads)
        return "parked"
    metrics.add_metric(name="WebhookStored", unit=MetricUnit.Count, value=1)
    return "stored"


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
            return f"handler failed: {type(error).__name__}: {error}"
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
                outcome = dispatch(parse_webhook(where.document), storage)
            except ValidationError:
                outcome = "invalid"
        if outcome == "stored":
            storage.unpark(parked["id"])
        counts["stored" if outcome == "stored" else "still parked"] += 1
    return counts


def _record_handler(record: SQSRecord) -> str:
    try:
        return handle_record(record, _storage(), _payloads())
    except (ClientError, BotoCoreError) as error:
        # Transient or not, a failed archive/park write must not lose the record: it is
        # retried and, past maxReceiveCount, kept in the DLQ.
        logger.warning(
            "record failed, left for redelivery",
            extra={
                "message_id": record.message_id,
                "error": str(error),
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
