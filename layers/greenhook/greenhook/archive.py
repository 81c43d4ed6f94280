"""The raw archive: every accepted body exactly, kept through Data Firehose in S3.

The process function sends each batch's bodies in one PutRecordBatch before it handles
them; Firehose buffers them into gzip objects of JSON lines under
`archive/dt=YYYY-MM-DD/hour=HH/` (its arrival time, UTC), which the Glue table of the
template lets Athena query and the lifecycle rule expires. One line per delivery: a body
delivered twice is archived twice, and replay's convergent writes make that harmless.

A body is in its line as text (`body`) when it is UTF-8, else base64 (`body_base64`); a
body ingest offloaded to S3 stays there (`payload_s3_key`, expiring with the archive).
"""

from __future__ import annotations

import base64
import gzip
import json
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from greenhook.storage import Payloads, RawWebhook

PREFIX = "archive/"
BATCH_RECORDS = 500  # PutRecordBatch: at most 500 records
BATCH_BYTES = 4 * 1024 * 1024  # and 4 MiB
ENTRY_ATTEMPTS = 4  # records Firehose refuses are sent again this often


class NotArchived(Exception):
    """Firehose kept refusing a record: it must not be handled (nor acknowledged) yet."""


def record(raw: RawWebhook) -> dict[str, Any]:
    """What the archive keeps of one accepted body (and what ingest recorded about it)."""
    line: dict[str, Any] = {
        "sha256": raw.sha256,
        "received_at": raw.received_at,
        "body_size": len(raw.body),
    }
    if raw.payload_s3_key:
        line["payload_s3_key"] = raw.payload_s3_key
    elif (text := raw.text()) is not None:
        line["body"] = text
    else:
        line["body_base64"] = base64.b64encode(raw.body).decode()
    line.update(raw.metadata())
    if raw.repairs:
        line["repairs"] = sorted(raw.repairs)
    return line


def line_bytes(raw: RawWebhook) -> bytes:
    """One JSON line (Firehose adds no delimiter of its own). `body` is strict UTF-8 text,
    so the line encodes; escaping stays JSON's own (control characters only)."""
    document = record(raw)
    try:
        line = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    except UnicodeEncodeError:  # a lone surrogate in what the body says (its typeWebhook...)
        line = json.dumps(document, separators=(",", ":")).encode()  # escaped: exact still
    return line + b"\n"


LINE_LIMIT = 900 * 1024  # Firehose takes records up to 1,000 KiB


def fits(raw: RawWebhook) -> bool:
    """Whether the body can travel in its line (else it goes to S3 and the line names it)."""
    return raw.payload_s3_key is not None or len(line_bytes(raw)) <= LINE_LIMIT


def _batches(lines: list[bytes]) -> Iterator[list[int]]:
    """Indexes of `lines` in PutRecordBatch-sized groups."""
    batch: list[int] = []
    size = 0
    for index, line in enumerate(lines):
        if batch and (len(batch) == BATCH_RECORDS or size + len(line) > BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(index)
        size += len(line)
    if batch:
        yield batch


class ArchiveStream:
    """Sends accepted bodies to the archive's delivery stream."""

    def __init__(self, stream_name: str, client: Any = None) -> None:
        self.stream_name = stream_name
        self.client = client or boto3.client("firehose")

    def put(self, raws: list[RawWebhook]) -> set[int]:
        """Archive the bodies: one PutRecordBatch per 500 records or 4 MiB. Returns the
        indexes of those Firehose still refused after retries (their records must come
        back); a failed call raises (the whole batch comes back)."""
        lines = [line_bytes(raw) for raw in raws]
        refused: set[int] = set()
        for batch in _batches(lines):
            pending = batch
            for attempt in range(ENTRY_ATTEMPTS):
                if attempt:
                    time.sleep(0.1 * 2**attempt)
                response = self.client.put_record_batch(
                    DeliveryStreamName=self.stream_name,
                    Records=[{"Data": lines[i]} for i in pending],
                )
                if not response.get("FailedPutCount"):
                    pending = []
                    break
                # Firehose refuses a record only for its own reasons (ServiceUnavailable,
                # InternalFailure): worth another try, then the record comes back.
                results = response["RequestResponses"]
                pending = [i for i, r in zip(pending, results, strict=True) if r.get("ErrorCode")]
            refused.update(pending)
        return refused


# -- reading it back -------------------------------------------------------------------------
def hour_prefixes(start: datetime, end: datetime) -> list[str]:
    """The hourly prefixes that can hold bodies received in [start, end): Firehose files
    a body under its arrival hour, at most a buffer interval after it was received."""
    hour = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC) + timedelta(minutes=16)  # Firehose buffers up to 15 minutes
    prefixes = []
    while hour < last:
        prefixes.append(_hour_prefix(hour))
        hour += timedelta(hours=1)
    return prefixes


def _hour_prefix(hour: datetime) -> str:
    return f"{PREFIX}dt={hour:%Y-%m-%d}/hour={hour:%H}/"


def _lines(data: bytes) -> Iterator[dict]:
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    for line in data.splitlines():
        if line.strip():
            yield json.loads(line)


class ArchiveReader:
    """Reads archived bodies back from the bucket (the CLI's archive and replay)."""

    def __init__(self, payloads: Payloads) -> None:
        self.payloads = payloads

    def keys(self, prefixes: Iterable[str]) -> Iterator[str]:
        paginator = self.payloads.client.get_paginator("list_objects_v2")
        for prefix in prefixes:
            for page in paginator.paginate(Bucket=self.payloads.bucket, Prefix=prefix):
                yield from (o["Key"] for o in page.get("Contents", []))

    def lines(self, prefixes: Iterable[str]) -> Iterator[dict]:
        for key in self.keys(prefixes):
            yield from _lines(self.payloads.get(key))

    def records(self, start: datetime, end: datetime) -> Iterator[dict]:
        """Every archived line of a body received in [start, end), object by object."""
        low, high = _iso(start), _iso(end)
        for line in self.lines(hour_prefixes(start, end)):
            if low <= line.get("received_at", "") < high:
                yield line

    def newest(self, limit: int, days: int = 7) -> list[dict]:
        """The newest `limit` deliveries archived in the last `days` days (by arrival),
        newest received first, as `view`s."""
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        prefixes = [_hour_prefix(hour - timedelta(hours=h)) for h in range(days * 24 + 1)]
        found: list[dict] = []
        for first in range(0, len(prefixes), 24):  # a day at a time, newest first
            found += self.lines(prefixes[first : first + 24])
            if len(found) >= limit:
                break
        found.sort(key=lambda line: line.get("received_at", ""), reverse=True)
        return [view(line) for line in found[:limit]]

    def get(self, sha256: str, days: int = 2) -> dict | None:
        """The newest archived delivery of a body (as a `view`), None if none is."""
        found = [v for v in self.newest(1_000_000, days) if v["id"] == sha256]
        return found[0] if found else None

    def body(self, line: dict) -> bytes:
        """The exact body of an archived line (or of its `view`)."""
        if line.get("payload_s3_key"):
            return self.payloads.get(line["payload_s3_key"])
        if line.get("body_base64"):
            return base64.b64decode(line["body_base64"])
        return line["body"].encode("utf-8", "surrogatepass")


def view(line: dict) -> dict:
    """An archived line as the tools show it (absent fields left out)."""
    shown = {
        "id": line.get("sha256"),
        "received_at": line.get("received_at"),
        "type_webhook": line.get("type_webhook"),
        "id_instance": line.get("id_instance"),
        "source_ip": line.get("source_ip"),
        "body_size": line.get("body_size"),
        "body": line.get("body"),
        "body_base64": line.get("body_base64"),
        "payload_s3_key": line.get("payload_s3_key"),
    }
    return {k: v for k, v in shown.items() if v is not None} | {
        "repairs": line.get("repairs") or []
    }


def _iso(when: datetime) -> str:
    """`received_at`'s own form (UTC, milliseconds), so lines compare as text."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds")
