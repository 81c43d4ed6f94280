"""The raw archive (issue 10): every body ingest accepted is in Firehose's objects exactly,
and a day of it replayed into an empty table rebuilds the same views."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta

from greenhook.archive import PREFIX, ArchiveReader
from greenhook.queue import INLINE_LIMIT, sha256_hex
from greenhook_dev.cli import replay_archive
from greenhook_dev.lambda_runtime import cold_start
from greenhook_dev.webhooks import Instance

INSTANCE = Instance(id_instance=5501)
ANN, BEN = "79000000011@c.us", "79000000012@c.us"


def test_every_accepted_body_is_archived_byte_for_byte(pipeline):
    text = json.dumps(INSTANCE.text("ARCH-1", ANN, 100, "Привет 👋")).encode()
    not_utf8 = b'{"typeWebhook": "incomingMessageReceived", "x": "\xff\xfe"}'
    carried = json.dumps(INSTANCE.text("ARCH-2", ANN, 101, "base64 on the way")).encode()
    large = INSTANCE.text("ARCH-3", BEN, 102, "big")
    large["pad"] = "é" * INLINE_LIMIT  # over SQS's inline limit: ingest offloads it to S3
    large = json.dumps(large, ensure_ascii=False).encode()
    bodies = [text, not_utf8, carried, large]
    for body in bodies:
        status, _ = pipeline.post(body, base64_body=body in (not_utf8, carried))
        assert status == 200
    pipeline.drain()
    reader = ArchiveReader(pipeline.payloads)
    for body in bodies:
        archived = reader.get(sha256_hex(body))
        assert archived is not None
        assert reader.body(archived) == body  # exactly, whatever its form in the line
    forms = {sha: line for sha, line in _lines(pipeline).items()}
    assert "body_base64" in forms[sha256_hex(not_utf8)]
    assert forms[sha256_hex(large)]["payload_s3_key"].startswith("payloads/")
    assert forms[sha256_hex(text)]["body"] == text.decode()


def _lines(pipeline) -> dict[str, dict]:
    """Every archived line, read the way Athena would: gzip objects of JSON lines."""
    s3 = pipeline.session.client("s3")
    bucket = pipeline.stack.refs["PayloadBucket"]
    lines = {}
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=PREFIX).get("Contents", []):
        assert item["Key"].endswith(".gz")
        assert "/dt=" in item["Key"] and "/hour=" in item["Key"]  # the Glue partitions
        data = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        for line in data.splitlines():
            document = json.loads(line)
            lines[document["sha256"]] = document
    return lines


def conversation() -> list[dict]:
    i = INSTANCE
    return [
        i.text("R1", ANN, 200, "hello"),
        i.text("R2", BEN, 201, "hi", direction="api"),
        i.status("R2", BEN, 202, "sent"),
        i.status("R2", BEN, 204, "read"),
        i.edit("R3", "R1", ANN, 205, "hello, edited"),
        i.reaction("R4", "R2", BEN, 206, "👍"),
        i.call("CALL1", ANN, 207, "offer"),
        i.call("CALL1", ANN, 209, "hangUp"),
        {**i._envelope("stateInstanceChanged", 210), "stateInstance": "authorized"},
    ]


def views(storage) -> dict:
    n = INSTANCE.id_instance
    chats = storage.list_chats(n)
    return {
        "chats": chats,
        "messages": {
            c["chat_id"]: [
                storage.get_message(n, m["id_message"])
                for m in storage.list_messages(n, c["chat_id"])
            ]
            for c in chats
        },
        "calls": storage.list_calls(n),
        "instance": storage.get_instance(n),
    }


def _empty_the_table(pipeline) -> None:
    table = pipeline.session.resource("dynamodb").Table(pipeline.stack.refs["WebhookTable"])
    items = table.scan(ProjectionExpression="PK, SK")["Items"]
    with table.batch_writer() as batch:
        for item in items:
            batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    assert table.scan()["Items"] == []


def replay_today(pipeline, **options) -> dict[str, int]:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return replay_archive(
        ArchiveReader(pipeline.payloads),
        sqs=pipeline.sqs,
        queue_url=pipeline.queue_url,
        start=today,
        end=today + timedelta(days=1),
        **options,
    )


def test_replaying_a_day_into_an_empty_table_rebuilds_the_same_views(pipeline):
    for document in conversation():
        assert pipeline.post(json.dumps(document).encode())[0] == 200
    pipeline.drain()
    stored = views(pipeline.storage)
    assert stored["messages"][ANN][0]["text"] == "hello, edited"
    _empty_the_table(pipeline)
    assert views(pipeline.storage)["instance"] is None
    # An empty table is a new one (a new stack, a restore): new function containers, which
    # know nothing of what the old ones wrote.
    cold_start()
    counts = replay_today(pipeline)
    assert counts == {"archived": 9, "sent": 9, "skipped": 0}
    pipeline.drain()
    assert views(pipeline.storage) == stored


def test_replay_selects_by_type_and_sends_nothing_on_a_dry_run(pipeline):
    for document in conversation():
        pipeline.post(json.dumps(document).encode())
    pipeline.drain()
    counts = replay_today(pipeline, type_webhook="outgoingMessageStatus", dry_run=True)
    assert counts == {"archived": 9, "sent": 2, "skipped": 7}
    assert pipeline.queued() == []
