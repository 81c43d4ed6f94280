"""What a valid webhook can contain, and what another producer can queue, never reaches the DLQ.

Each case goes through the real process handler against moto (resources from template.yaml):
the raw bytes are archived first, and the webhook is then stored, or parked with its reason;
the record fails only for a transient error.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from greenhook import storable
from greenhook.archive import ArchiveReader
from greenhook.process import handle_record, received_at
from greenhook.queue import sha256_hex
from greenhook_dev.poller import sqs_record

TEXT_MESSAGE = json.loads(Path("events/webhooks/incomingMessageReceived.json").read_text())


def text_message(
    id_message: str, text: str, *, chat: str = "79001112233@c.us", **overrides
) -> dict:
    webhook = json.loads(json.dumps(TEXT_MESSAGE))
    webhook["idMessage"] = id_message
    webhook["senderData"]["chatId"] = chat
    webhook["messageData"] = {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": text},
    }
    webhook.update(overrides)
    return webhook


def _handle(processing, record: dict) -> str:
    return handle_record(
        SQSRecord(record), processing.storage, processing.payloads, processing.archive
    )


def archived_bytes(processing, body: bytes) -> bytes | None:
    reader = ArchiveReader(processing.payloads)
    item = reader.get(sha256_hex(body))
    return None if item is None else reader.body(item)


def parked_reason(processing, body: bytes) -> str | None:
    sha = sha256_hex(body)
    return next((p["reason"] for p in processing.storage.list_parked(1000) if p["id"] == sha), None)


# -- numbers, Unicode, nesting, sizes ------------------------------------------------------


def test_numbers_beyond_dynamodb_are_stored_as_text(processing):
    huge = 10**40 + 7  # 41 significant digits: DynamoDB takes at most 38
    webhook = text_message("HUGE-NUMBERS", "big", timestamp=huge)
    webhook["instanceData"]["idInstance"] = huge
    body = json.dumps(webhook).encode()
    assert processing.deliver(body) == "stored"
    assert archived_bytes(processing, body) == body
    message = processing.storage.get_message(huge, "HUGE-NUMBERS")
    assert message["text"] == "big"
    assert message["timestamp"] == str(huge)
    assert storable.NUMBERS in message["repairs"]
    assert parked_reason(processing, body) is None


def test_a_4000_digit_number_is_archived_and_the_webhook_handled(processing):
    body = (
        b'{"typeWebhook":"stateInstanceChanged","instanceData":{"idInstance":4242},'
        b'"timestamp":' + b"9" * 5000 + b',"stateInstance":"authorized"}'
    )
    outcome = processing.deliver(body)
    assert archived_bytes(processing, body) == body
    assert outcome == "stored"
    assert processing.storage.get_instance(4242)["state_instance"] == "authorized"


def test_lone_surrogates_are_replaced_and_recorded(processing):
    webhook = text_message("SURROGATE", "ok \ud800 and \udfff", chat="\udc00@c.us")
    body = json.dumps(webhook).encode()
    assert b"\\ud800" in body  # JSON's escape: valid UTF-8 bytes, an invalid string once parsed
    assert processing.deliver(body) == "stored"
    message = processing.storage.get_message(7103220992, "SURROGATE")
    assert message["text"] == "ok \ufffd and \ufffd"
    assert message["chat_id"] == "\ufffd@c.us"
    assert archived_bytes(processing, body) == body
    assert ArchiveReader(processing.storage.payloads).get(sha256_hex(body))["repairs"] == [
        storable.SURROGATES
    ]


def test_values_nested_deeper_than_the_models_serialise_are_kept_as_json(processing):
    webhook = text_message("DEEP-EXTRA", "deep")
    webhook["messageData"]["x"] = json.loads("[" * 300 + "]" * 300)
    body = json.dumps(webhook).encode()
    assert processing.deliver(body) == "stored"
    stored = processing.storage.get_message(7103220992, "DEEP-EXTRA")
    assert stored["text"] == "deep"
    assert ArchiveReader(processing.storage.payloads).get(sha256_hex(body))["repairs"] == [
        storable.NESTING
    ]


def test_an_edit_longer_than_a_key_shows_its_whole_text(processing):
    chat = "79003334455@c.us"
    original = text_message("LONG-EDIT-1", "short", chat=chat)
    edit = dict(original, idMessage="LONG-EDIT-2", timestamp=1700000500)
    long_text = "edited " * 200  # the event's text is far longer than any key may be
    edit["messageData"] = {
        "typeMessage": "editedMessage",
        "editedMessageData": {"textMessage": long_text, "stanzaId": "LONG-EDIT-1"},
    }
    assert processing.deliver(json.dumps(original).encode()) == "stored"
    assert processing.deliver(json.dumps(edit).encode()) == "stored"
    assert processing.storage.get_message(7103220992, "LONG-EDIT-1")["text"] == long_text


@pytest.mark.parametrize("id_instance", [6161, 6162])
def test_absurd_timestamps_keep_the_instance_writable_in_any_order(processing, id_instance):
    states = [
        (10**40, "starting"),
        (10**40 + 1, "authorized"),
        (-(10**40), "blocked"),
        (1700000000, "notAuthorized"),
    ]
    if id_instance == 6162:
        states.reverse()
    for stamp, state in states:
        webhook = {
            "typeWebhook": "stateInstanceChanged",
            "instanceData": {"idInstance": id_instance, "wid": "1@c.us"},
            "timestamp": stamp,
            "stateInstance": state,
        }
        assert processing.deliver(json.dumps(webhook).encode()) == "stored"
    # Both absurd times are held to the same bound, so the state's name settles the tie.
    instance = processing.storage.get_instance(id_instance)
    assert instance["state_instance"] == "starting"
    assert instance["last_webhook_at"] == (10**20 - 1) // 60 * 60  # its minute


def test_empty_strings_and_odd_floats_are_stored(processing):
    webhook = text_message("EMPTY-STRINGS", "")
    webhook["senderData"]["senderName"] = ""
    webhook["senderData"]["chatName"] = ""
    assert processing.deliver(json.dumps(webhook).encode()) == "stored"
    stored = processing.storage.get_message(7103220992, "EMPTY-STRINGS")
    assert stored["message_data"]["textMessageData"]["textMessage"] == ""
    assert stored["sender_name"] == ""
    device = {
        "typeWebhook": "deviceInfo",
        "instanceData": TEXT_MESSAGE["instanceData"],
        "timestamp": 1700000300,
        "deviceData": {"platform": "android", "battery": 50, "tiny": 1e-300, "big": 1e300},
    }
    assert processing.deliver(json.dumps(device).encode()) == "stored"
    stored = processing.storage.get_instance(7103220992)["device"]
    assert (stored["tiny"], stored["big"]) == ("1e-300", "1e+300")  # beyond DynamoDB: text


def test_a_body_nested_100000_levels_is_archived_and_parked(processing):
    body = b'{"typeWebhook":"x","deep":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert processing.deliver(body) == "parked"
    assert archived_bytes(processing, body) == body
    assert "nested too deeply" in parked_reason(processing, body)


def test_nesting_deeper_than_dynamodb_allows_is_kept_as_json(processing):
    deep: dict = {"leaf": 1}
    for _ in range(60):
        deep = {"d": deep}
    device = {
        "typeWebhook": "deviceInfo",
        "instanceData": {"idInstance": 5151, "wid": "1@c.us"},
        "timestamp": 1700000300,
        "deviceData": {"platform": "android", "extra": deep},
    }
    assert processing.deliver(json.dumps(device).encode()) == "stored"
    stored = processing.storage.get_instance(5151)["device"]
    assert stored["platform"] == "android"


def test_ids_too_long_for_a_key_still_store_the_message(processing):
    long_id = "M" * 3000  # a sort key takes 1,024 bytes, a partition key 2,048
    long_chat = "c" * 3000 + "@c.us"
    body = json.dumps(text_message(long_id, "long ids", chat=long_chat)).encode()
    assert processing.deliver(body) == "stored"
    message = processing.storage.get_message(7103220992, long_id)
    assert (message["id_message"], message["chat_id"]) == (long_id, long_chat)
    listed = processing.storage.list_messages(7103220992, long_chat)
    assert [m["id_message"] for m in listed] == [long_id]


def test_a_value_storage_refuses_parks_and_the_chat_goes_on(processing):
    # An item over DynamoDB's 400 KB: the body itself travels through S3 as ingest puts it.
    chat = "79005556677@c.us"
    first = text_message("TOO-BIG", "big", chat=chat)
    first["senderData"]["senderName"] = "n" * 450_000
    after = text_message("AFTER-TOO-BIG", "next", chat=chat, timestamp=1700000999)
    big = json.dumps(first).encode()
    key = f"payloads/test/{sha256_hex(big)}"
    processing.payloads.put(key, big)
    record = foreign_record(
        json.dumps({"payload_s3_key": key}), attributes={"payload_s3_key": key}, n=1
    )
    assert (
        handle_record(
            SQSRecord(record), processing.storage, processing.payloads, processing.archive
        )
        == "parked"
    )
    assert "ValidationException" in parked_reason(processing, big)
    assert archived_bytes(processing, big) == big
    assert processing.deliver(json.dumps(after).encode()) == "stored"


# -- any producer's message ------------------------------------------------------------------


def foreign_record(text: str, *, attributes: dict | None = None, n: int = 0, sent_ms=None) -> dict:
    """A queue message another producer wrote: no received_at, maybe no attributes at all."""
    sent_ms = sent_ms if sent_ms is not None else 1_700_000_000_123
    message = {
        "MessageId": f"foreign-{n}",
        "ReceiptHandle": f"foreign-{n}",
        "Body": text,
        "MD5OfBody": "0" * 32,
        "Attributes": {
            "SentTimestamp": str(sent_ms),
            "ApproximateReceiveCount": "1",
            "MessageGroupId": "g",
            "MessageDeduplicationId": f"d{n}",
        },
        "MessageAttributes": {
            k: {"DataType": "String", "StringValue": v} for k, v in (attributes or {}).items()
        },
    }
    return sqs_record(message, queue_arn="arn:aws:sqs:eu-central-1:1:q.fifo", region="x")


def test_received_time_comes_from_sent_timestamp_without_ingest_attributes():
    record = SQSRecord(foreign_record("{}", sent_ms=1_700_000_000_123))
    assert received_at(record) == "2023-11-14T22:13:20.123+00:00"
    garbage = SQSRecord(foreign_record("{}", attributes={"received_at": "yesterday"}))
    assert received_at(garbage) == "2023-11-14T22:13:20.123+00:00"
    naive = SQSRecord(foreign_record("{}", attributes={"received_at": "2024-01-02T03:04:05"}))
    assert received_at(naive) == "2024-01-02T03:04:05.000+00:00"


def test_a_message_from_another_producer_is_processed(processing):
    webhook = text_message("FOREIGN-1", "sent by hand")
    record = foreign_record(json.dumps(webhook), n=2)
    outcome = _handle(processing, record)
    assert outcome == "stored"
    item = ArchiveReader(processing.storage.payloads).get(sha256_hex(json.dumps(webhook).encode()))
    assert item["received_at"] == "2023-11-14T22:13:20.123+00:00"
    # Filed by its arrival (today), so the lifecycle rule keeps it the whole retention period.
    reader = ArchiveReader(processing.payloads)
    today = f"archive/dt={datetime.now(UTC):%Y-%m-%d}/"
    assert any(line["sha256"] == item["id"] for line in reader.lines([today]))


def test_a_foreign_body_over_the_item_limit_is_archived_in_s3(processing):
    webhook = text_message("FOREIGN-BIG", "big", chat="79009998877@c.us")
    webhook["pad"] = "p" * 900_000  # fits SQS's 1 MiB, not a 400 KB item
    body = json.dumps(webhook).encode()
    outcome = _handle(processing, foreign_record(body.decode(), n=3))
    assert outcome == "stored"
    assert archived_bytes(processing, body) == body


def test_a_foreign_base64_flag_on_plain_text_keeps_the_text(processing):
    text = json.dumps(text_message("FOREIGN-B64", "not base64 at all"))
    record = foreign_record(text, attributes={"body_encoding": "base64"}, n=4)
    assert (
        handle_record(
            SQSRecord(record), processing.storage, processing.payloads, processing.archive
        )
        == "stored"
    )
    assert archived_bytes(processing, text.encode()) == text.encode()
    encoded = base64.b64encode(text.replace("FOREIGN-B64", "FOREIGN-B64-2").encode()).decode()
    record = foreign_record(encoded, attributes={"body_encoding": "base64"}, n=5)
    assert (
        handle_record(
            SQSRecord(record), processing.storage, processing.payloads, processing.archive
        )
        == "stored"
    )
