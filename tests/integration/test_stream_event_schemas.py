"""Every detail-type, as greenhook.changes makes it from the table's real stream, fits its schema.

Writes go through greenhook.storage into a moto table built from template.yaml (stream
included); the stream's records become events as the publisher makes them, and each is
checked as a target would receive it.
"""

from __future__ import annotations

import json
from collections import Counter

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from greenhook import changes
from greenhook.changes import record_events
from greenhook.publish import fitted_entry
from greenhook.storage import (
    INLINE_MESSAGE_DATA_LIMIT,
    MessageContent,
    Payloads,
    RawWebhook,
    Storage,
)
from greenhook_dev import event_schemas
from greenhook_dev.template_resources import create_stack

INSTANCE = 1101000001
CHAT = "79001234567@c.us"
ME = "79000000000@c.us"
BUS = "greenhook-events"


def _content(id_message: str, **fields) -> MessageContent:
    values = {
        "id_instance": INSTANCE,
        "id_message": id_message,
        "chat_id": CHAT,
        "timestamp": 1_700_000_000,
        "type_webhook": "incomingMessageReceived",
        "direction": "incoming",
        "type_message": "textMessage",
        "sender": CHAT,
        "message_data": {"typeMessage": "textMessage", "textMessageData": {"textMessage": "hi"}},
        "sender_name": "Ann",
        "chat_name": "Ann",
        "text": "hi",
    }
    return MessageContent(**{**values, **fields})


def _write_every_kind(storage: Storage) -> None:
    """One or more writes behind each detail-type, the odd cases included."""
    storage.put_message(_content("IN1"))
    storage.put_edit(INSTANCE, "IN1", "ED1", 1_700_000_010, "hi again", CHAT)
    storage.put_reaction(INSTANCE, "IN1", "RE1", ME, "👍", 1_700_000_020, CHAT)
    storage.put_reaction(INSTANCE, "IN1", "RE2", ME, "", 1_700_000_021, CHAT)  # taken back
    storage.put_deletion(INSTANCE, "IN1", "DE1", 1_700_000_030, CHAT)
    # a status before its message: published with it; then a failure with its description
    storage.put_message_status(INSTANCE, "API1", "sent", 1_700_000_041)
    storage.put_message(
        _content(
            "API1",
            type_webhook="outgoingAPIMessageReceived",
            direction="outgoing",
            sender=ME,
            sender_name=None,
            chat_name=None,
        )
    )
    storage.put_message_status(INSTANCE, "API1", "failed", 1_700_000_050, CHAT, "SWE004: x")
    # from the phone, with content too large to be kept inline (no message_data in the view)
    storage.put_message(
        _content(
            "PH1",
            type_webhook="outgoingMessageReceived",
            direction="outgoing",
            sender=ME,
            type_message="imageMessage",
            text="x" * 2000,
            message_data={
                "typeMessage": "imageMessage",
                "fileMessageData": {
                    "caption": "x" * 2000,
                    "jpegThumbnail": "A" * 1000,
                    "downloadUrl": "https://d/" + "p" * INLINE_MESSAGE_DATA_LIMIT,
                },
            },
        )
    )
    storage.put_message(
        _content(
            "POLL1",
            type_message="pollMessage",
            text="Lunch?",
            message_data={"typeMessage": "pollMessage", "pollMessageData": {"name": "Lunch?"}},
        )
    )
    votes = [
        {"optionName": "yes", "optionVoters": [CHAT]},
        {"optionName": "no", "optionVoters": []},
    ]
    storage.put_poll_votes(INSTANCE, "POLL1", "PU1", 1_700_000_060, votes, CHAT)
    details = {"chat_id": CHAT, "direction": "incoming", "is_video": None}
    storage.put_call_status(INSTANCE, "CALL1", "offer", 1_700_000_070, details)
    storage.put_call_status(INSTANCE, "CALL1", "hungUp", 1_700_000_090, details)
    storage.put_call_duration(INSTANCE, "CALL1", 20)
    storage.put_chat_block(INSTANCE, CHAT, "blocked", 1_700_000_100)
    storage.put_avatar(
        INSTANCE, CHAT, {"chatId": CHAT, "urlAvatar": "https://a/b.jpg"}, 1_700_000_110
    )
    storage.put_instance_state(INSTANCE, "notAuthorized", 1_700_000_120)
    storage.put_instance_state(INSTANCE, "authorized", 1_700_000_130, wid=ME)
    storage.put_instance_status(INSTANCE, "online", 1_700_000_140)
    storage.put_device(INSTANCE, {"platform": "android", "battery": 50}, 1_700_000_150)
    storage.put_quota(INSTANCE, {"method": "correspondents", "used": 3, "total": 3}, None)
    storage.touch_instance(INSTANCE, 1_700_000_160)  # changes nothing an event shows
    for n, id_instance in enumerate((None, INSTANCE, "not-a-number")):
        raw = RawWebhook(
            sha256=f"{n:064x}",
            body=b'{"typeWebhook":"somethingNew"}',
            received_at="2024-05-01T12:00:00.000+00:00",
            type_webhook="somethingNew" if id_instance else None,
            id_instance=id_instance,
        )
        storage.park(raw, "no handler for typeWebhook 'somethingNew'")


def _stream_records(session, table_name: str) -> list[dict]:
    # botocore would call the account's endpoint (<account>.streams-ddb...), which moto
    # does not serve: the regional one it does.
    client = session.client("dynamodbstreams", config=Config(account_id_endpoint_mode="disabled"))
    arn = session.client("dynamodb").describe_table(TableName=table_name)["Table"][
        "LatestStreamArn"
    ]
    records = []
    for shard in client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = client.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = client.get_records(ShardIterator=iterator, Limit=1000)
            records += page["Records"]
            iterator = page.get("NextShardIterator") if page["Records"] else None
    return records


@pytest.fixture(scope="module")
def delivered_events() -> list[dict]:
    with mock_aws():
        session = boto3.session.Session(region_name="eu-central-1")
        stack = create_stack(session, parameters={"AllowedCidrs": "203.0.113.0/30"})
        table = stack.refs["WebhookTable"]
        payloads = Payloads(stack.refs["PayloadBucket"], session.client("s3"))
        _write_every_kind(Storage(table, session.resource("dynamodb"), payloads))
        events = [e for r in _stream_records(session, table) for e in record_events(r)]
    return [event_schemas.delivered(fitted_entry(e, BUS)) for e in events]


def test_every_detail_type_is_made(delivered_events: list[dict]) -> None:
    made = Counter(e["detail-type"] for e in delivered_events)
    assert set(made) == set(changes.DETAIL_TYPES)


def test_every_event_fits_its_schema(delivered_events: list[dict]) -> None:
    for event in delivered_events:
        event_schemas.validate(event)


def test_nullable_fields_were_null_somewhere(delivered_events: list[dict]) -> None:
    """The odd cases above really reached the schemas' nullable branches."""
    by_type: dict[str, list[dict]] = {}
    for event in delivered_events:
        by_type.setdefault(event["detail-type"], []).append(event["detail"])
    assert any(d["from"] is None for d in by_type[changes.MESSAGE_STATUS_CHANGED])
    assert any(d["description"] for d in by_type[changes.MESSAGE_STATUS_CHANGED])
    assert any(d["view"]["message_data"] is None for d in by_type[changes.MESSAGE_SENT])
    assert any(d["via"] == "phone" for d in by_type[changes.MESSAGE_SENT])
    assert by_type[changes.QUOTA_EXCEEDED][0]["at"] is None
    parked_ids = {json.dumps(d["id_instance"]) for d in by_type[changes.WEBHOOK_PARKED]}
    assert parked_ids == {"null", str(INSTANCE), '"not-a-number"'}


def test_a_wrong_detail_fails(delivered_events: list[dict]) -> None:
    event = next(e for e in delivered_events if e["detail-type"] == changes.MESSAGE_RECEIVED)
    event_schemas.validate(event)
    missing = {**event, "detail": {k: v for k, v in event["detail"].items() if k != "event_id"}}
    wrong_type = {**event, "detail": {**event["detail"], "version": 7}}
    for bad in (missing, wrong_type):
        with pytest.raises(event_schemas.ValidationError):
            event_schemas.validate(bad)
