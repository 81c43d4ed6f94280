"""moto's Firehose as Data Firehose writes to S3, for the raw archive.

moto 5 delivers each PutRecordBatch at once as one object, under the prefix taken
literally plus its own `YYYY/MM/DD/HH/`, uncompressed. Data Firehose evaluates
`!{timestamp:...}` expressions in the prefix (and then adds no date path of its own) and
gzips the object when CompressionFormat is GZIP (name ending `.gz`). `install()` makes moto
do the same, so the archive reader reads local objects as it reads AWS's. Delivery stays
immediate (no buffering): that only makes the local archive fresher.
"""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from typing import Any

from moto.firehose.models import FirehoseBackend
from moto.moto_api._internal import mock_random
from moto.s3.models import s3_backends

# Java DateTimeFormatter letters Firehose's timestamp namespace takes, as strftime's.
_JAVA_FORMAT = (
    ("yyyy", "%Y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
)
_TIMESTAMP = re.compile(r"!\{timestamp:([^}]+)\}")
_installed = False


def _strftime(java: str) -> str:
    for letters, directive in _JAVA_FORMAT:
        java = java.replace(letters, directive)
    return java


def object_key(prefix: str, stream: str, version: str, now: datetime, gzipped: bool) -> str:
    """Where Data Firehose puts one delivery: the evaluated prefix (or the default date
    path when the prefix has no expression), then `<stream>-<version>-<time>-<uuid>`."""
    if _TIMESTAMP.search(prefix):
        path = _TIMESTAMP.sub(lambda m: now.strftime(_strftime(m.group(1))), prefix)
    else:
        path = f"{prefix}{now:%Y/%m/%d/%H}/"
    name = f"{stream}-{version}-{now:%Y-%m-%d-%H-%M-%S}-{mock_random.uuid4()}"
    return path + name + (".gz" if gzipped else "")


def _put_s3_records(
    self: FirehoseBackend,
    delivery_stream_name: str,
    version_id: str,
    s3_destination: dict[str, Any],
    records: list[dict[str, bytes]],
) -> list[dict[str, str]]:
    gzipped = s3_destination.get("CompressionFormat") == "GZIP"
    key = object_key(
        s3_destination.get("Prefix", ""),
        delivery_stream_name,
        version_id,
        datetime.now(UTC),
        gzipped,
    )
    data = b"".join(r["Data"] for r in records)
    bucket = s3_destination["BucketARN"].split(":")[-1]
    s3_backends[self.account_id][self.partition].put_object(
        bucket, key, gzip.compress(data) if gzipped else data
    )
    return [{"RecordId": str(mock_random.uuid4())} for _ in records]


def install() -> None:
    """Patch moto's Firehose (once per process; in-process and server moto alike)."""
    global _installed
    if not _installed:
        FirehoseBackend.put_s3_records = _put_s3_records  # type: ignore[method-assign]
        _installed = True
