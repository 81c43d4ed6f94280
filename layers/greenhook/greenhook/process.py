"""The consumer: each SQS batch is archived raw (one PutRecordBatch to the archive's
Firehose stream), then each record validated, dispatched and stored, the records of
different chats concurrently and of one chat in order.

Only a transient AWS error fails a record (it comes back, and after maxReceiveCount goes to
the DLQ). A body that is not a usable webhook, does not validate, has no handler or makes its
handler fail for good is parked with the reason: kept, counted, never blocking the batch.
"""

from __future__ import annotations

import base64
import binascii
import queue as queues
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache

import boto3
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from botocore.config import Config
from pydantic import ValidationError

from greenhook import archive, queue, routing, storable
from greenhook.archive import ArchiveStream, NotArchived
from greenhook.config import process_config
from greenhook.dispatch import load_handler_modules, registry
from greenhook.fifo_batch import process_fifo_batch
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


class StoragePool:
    """A Storage per thread handling a chat at once. Each has its own Table (resource
    instances are not thread-safe); they share the service resource's client (clients
    are) and what they learnt about the table (Storage's known versions)."""

    def __init__(self) -> None:
        self._idle: queues.SimpleQueue[Storage] = queues.SimpleQueue()
        self._lock = threading.Lock()
        self._dynamodb = boto3.resource("dynamodb", config=_CLIENT_CONFIG)
        self._known: dict = {}
        self.first = self._new()
        self._idle.put(self.first)

    def _new(self) -> Storage:
        with self._lock:
            storage = Storage(process_config().table_name, self._dynamodb, payloads=_payloads())
        storage._known = self._known
        return storage

    @contextmanager
    def storage(self) -> Iterator[Storage]:
        try:
            storage = self._idle.get_nowait()
        except queues.Empty:
            storage = self._new()
        try:
            yield storage
        finally:
            self._idle.put(storage)


@cache
def _pool() -> StoragePool:
    # First use is the cold start: the user's handler modules register themselves now.
    load_handler_modules(process_config().extra_handler_modules)
    return StoragePool()


def _storage() -> Storage:
    """The first Storage of the pool (for a caller with one thread)."""
    return _pool().first


@cache
def _archive() -> ArchiveStream:
    return ArchiveStream(
        process_config().archive_stream_name,
        boto3.client("firehose", config=_CLIENT_CONFIG),
    )


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
    logger.warning(
        "webhook parked",
        extra={"reason": reason, "sha256": raw.sha256, "type_webhook": raw.type_webhook},
    )


def _failure(error: BaseException) -> str:
    """An error as a parking reason: its kind and (bounded) message, never a traceback."""
    return f"{type(error).__name__}: {str(error)[:500]}"


@dataclass(frozen=True)
class Prepared:
    """A record read and understood, before it is archived and handled."""

    raw: RawWebhook
    where: routing.Routing
    document: dict | None


def prepare(record: SQSRecord, payloads: Payloads) -> Prepared:
    """The record's exact body, what it says about itself, and what ingest recorded."""
    body = read_body(record, payloads)
    where = routing.route(body)
    document, repairs = _readable(where)
    raw = raw_webhook(record, body, where, repairs)
    if not archive.fits(raw):
        # Only another producer's message gets here (ingest offloads large bodies itself):
        # the archive's line could not hold it.
        key = queue.payload_key(raw.sha256, raw.received_at)
        raw = replace(raw, payload_s3_key=payloads.put(key, body))
    return Prepared(raw, where, document)


def handle_prepared(prepared: Prepared, storage: Storage, payloads: Payloads) -> str:
    """Validate and dispatch an archived record; returns what happened (stored/parked).

    Raises only for a transient failure (the record comes back later); any other failure
    parks the webhook with its reason, so the rest of its chat goes on.
    """
    where, raw = prepared.where, prepared.raw
    try:
        reason = where.quarantine_reason or _handle(prepared.document, storage)
    except Exception as error:
        if is_transient(error):
            raise
        logger.exception("webhook failed", extra={"type_webhook": where.type_webhook})
        reason = f"failed: {_failure(error)}"
    if reason:
        _park(raw, reason, storage, payloads)
        return "parked"
    return "stored"


def handle_record(
    record: SQSRecord, storage: Storage, payloads: Payloads, archive_stream: ArchiveStream
) -> str:
    """One record alone: archived, then handled (the batch path archives all first)."""
    prepared = prepare(record, payloads)
    if archive_stream.put([prepared.raw]):
        raise NotArchived(prepared.raw.sha256)
    return handle_prepared(prepared, storage, payloads)


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


def replay_parked(
    storage: Storage,
    payloads: Payloads,
    limit: int = 1000,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, int]:
    """Handle parked webhooks again (after a fix or a new handler); unpark those stored now.
    `progress(done, total)` is told after each one."""
    counts = {"stored": 0, "still parked": 0}
    listed = storage.list_parked(limit=limit)
    for done, parked in enumerate(listed, 1):
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
        progress(done, len(listed))
    return counts


def _failed(record: SQSRecord, error: BaseException) -> None:
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


class BatchRun:
    """One batch: every record read, the batch archived in one call, then each handled."""

    def __init__(self, event: dict, pool: StoragePool, payloads: Payloads) -> None:
        self.pool, self.payloads = pool, payloads
        self.prepared: dict[str, Prepared] = {}
        self.errors: dict[str, BaseException] = {}
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        for data in event.get("Records") or []:
            record = SQSRecord(data)
            try:
                self.prepared[record.message_id] = prepare(record, payloads)
            except Exception as error:
                self.errors[record.message_id] = error
        ids = list(self.prepared)
        refused = _archive().put([self.prepared[i].raw for i in ids]) if ids else set()
        for index in refused:
            self.errors[ids[index]] = NotArchived(self.prepared.pop(ids[index]).raw.sha256)

    def handle(self, record: SQSRecord) -> str:
        try:
            if record.message_id in self.errors:
                raise self.errors[record.message_id]
            with self.pool.storage() as storage:
                outcome = handle_prepared(self.prepared[record.message_id], storage, self.payloads)
        except Exception as error:
            _failed(record, error)
            raise
        with self._lock:  # a thread per chat: Counter's += is not atomic
            self.outcomes[outcome] += 1
        return outcome


def handle(event: dict, context: object) -> dict:
    """Process an SQS batch, reporting the records that must come back."""
    run = BatchRun(event, _pool(), _payloads())
    try:
        # A failure holds back only its own chat (message group), in order.
        return process_fifo_batch(event, run.handle, max_workers=process_config().chats_in_parallel)
    finally:
        for outcome, metric in (("stored", "WebhookStored"), ("parked", "WebhookParked")):
            if run.outcomes[outcome]:
                metrics.add_metric(name=metric, unit=MetricUnit.Count, value=run.outcomes[outcome])
