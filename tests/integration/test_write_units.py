"""Write-unit ceilings per webhook (issue 10), over the catalogue in events/, counted by the
same meter as bench figure (d): DynamoDB's billing rules applied to the items before and
after each write, table and indexes together.

Each case is a sample made a new webhook (a later timestamp, its own idMessage) on a table
that already holds every sample once, as in production: the instance, the chats and the
messages that statuses, edits and reactions refer to exist. Besides its own writes, an
instance's first webhook of each minute records that minute on the instance item (one
unit a minute, whatever the traffic): the cases run inside a minute already recorded, and
that write has a test of its own.
"""

from __future__ import annotations

import json

import boto3
import pytest

from greenhook import keys
from greenhook.models import parse_webhook
from greenhook_dev.template_resources import REPO_ROOT
from greenhook_dev.write_meter import WriteMeter, item_size, kilobytes

EVENTS = REPO_ROOT / "events"
SAMPLES = sorted(EVENTS.glob("webhooks/*.json")) + sorted(EVENTS.glob("messages/*.json"))
REFERENCES = {  # message webhooks that change another message: an update of its item
    "reactionMessage",
    "editedMessage",
    "deletedMessage",
    "pollUpdateMessage",
}


def ceiling(document: dict) -> int | None:
    """The most write units a new webhook of this kind may cost."""
    kind = document["typeWebhook"]
    if kind in ("incomingCall", "outgoingCall"):
        # a call's first webhook: its item and its listing entry (later ones: 1); an
        # outgoing call's duration is a write of its own (longest wins)
        return 2 + ("duration" in document)
    if "messageData" not in document:
        return 1  # a status, an instance or chat event
    data = document["messageData"]
    if data.get("typeMessage") in REFERENCES:
        return None  # the referenced message's item: 1 per KB of it (see the test)
    # the message, its place in the chat's timeline, the chat's activity minute; content
    # over 4 KB or a thumbnail adds its CONTENT item (its own size in units)
    return 3 + (_content_units(data) if _has_content_item(data) else 0)


def _has_content_item(data: dict) -> bool:
    text = json.dumps(data)
    return '"jpegThumbnail": "' in text.replace('"jpegThumbnail": ""', "") or len(text) > 4096


def _content_units(data: dict) -> int:
    return -(-len(json.dumps(data, ensure_ascii=False).encode()) // 1024) + 1


MINUTE = 1_800_000_000  # a minute start: the cases are its seconds


def warm(processing, timestamp: int) -> None:
    """Record the minute of `timestamp` for the sample instance (an instance status)."""
    status = json.loads((EVENTS / "webhooks/statusInstanceChanged.json").read_text())
    processing.deliver(json.dumps({**status, "timestamp": timestamp}).encode())


def new_webhook(document: dict, timestamp: int, n: int) -> bytes:
    """The sample as a later webhook of its own (a status keeps the message it reports on)."""
    document = {**document, "timestamp": timestamp}
    if "idMessage" in document and document["typeWebhook"] != "outgoingMessageStatus":
        document["idMessage"] = f"UNITS{n:010X}"
    return json.dumps(document, ensure_ascii=False).encode()


@pytest.fixture(scope="module")
def metered(processing):
    for sample in SAMPLES:  # the table holds every sample once
        processing.deliver(sample.read_bytes())
    warm(processing, MINUTE)
    session = boto3.Session(region_name=processing.stack.region)
    meter = WriteMeter(
        processing.storage.table.meta.client, processing.stack.refs["WebhookTable"], session
    )
    yield processing, meter


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_a_new_webhook_stays_under_its_write_unit_ceiling(metered, sample):
    processing, meter = metered
    document = json.loads(sample.read_text())
    body = new_webhook(document, MINUTE + 1 + SAMPLES.index(sample), SAMPLES.index(sample))
    meter.take()
    assert processing.deliver(body) == "stored"
    writes = meter.take()
    limit = ceiling(document)
    if limit is None:  # an update of the message it refers to: 1 unit per KB of that item
        webhook = parse_webhook(document)
        key = keys.message(webhook.id_instance, webhook.stanza_id)
        limit = kilobytes(item_size(processing.storage.table.get_item(Key=key).get("Item")))
    assert writes, "a new webhook writes something"
    assert meter.units(writes) <= limit, [
        (w.operation, w.table_units, w.index_units) for w in writes
    ]


def test_a_delivery_status_costs_one_unit(metered):
    processing, meter = metered
    status = json.loads((EVENTS / "webhooks/outgoingMessageStatus.json").read_text())
    warm(processing, 1_810_000_000)
    for n, state in enumerate(("sent", "delivered", "read")):
        body = json.dumps({**status, "status": state, "timestamp": 1_810_000_001 + n}).encode()
        meter.take()
        assert processing.deliver(body) == "stored"
        assert meter.units(meter.take()) == 1


def test_a_later_status_of_a_call_costs_one_unit(metered):
    processing, meter = metered
    call = json.loads((EVENTS / "webhooks/incomingCall.json").read_text())
    first = {**call, "idMessage": "UNITS-CALL", "timestamp": 1_820_000_000}
    processing.deliver(json.dumps(first).encode())  # and the minute recorded
    later = {**first, "status": "hangUp", "timestamp": 1_820_000_030}
    meter.take()
    assert processing.deliver(json.dumps(later).encode()) == "stored"
    assert meter.units(meter.take()) == 1


@pytest.mark.parametrize(
    "name", ["incomingMessageReceived", "outgoingMessageStatus", "stateInstanceChanged"]
)
def test_a_repeated_delivery_that_changes_nothing_costs_at_most_one_unit(metered, name):
    processing, meter = metered
    document = json.loads((EVENTS / "webhooks" / f"{name}.json").read_text())
    body = new_webhook(document, 1_830_000_000, 1)
    processing.deliver(body)
    meter.take()
    assert processing.deliver(body) == "stored"
    assert meter.units(meter.take()) <= 1


def test_messages_of_one_chat_in_one_minute_move_no_activity_marker(metered):
    """The second message of a chat's minute writes the message and its timeline entry: 2
    units; the first of the next minute adds the chat's marker for that minute and the
    instance's minute: 4."""
    processing, meter = metered
    document = json.loads((EVENTS / "webhooks/incomingMessageReceived.json").read_text())
    units = []
    for n, timestamp in enumerate((1_840_000_020, 1_840_000_030, 1_840_000_090)):
        meter.take()
        processing.deliver(new_webhook(document, timestamp, 100 + n))
        units.append(meter.units(meter.take()))
    assert units[1:] == [2, 4]


def test_the_instance_is_written_once_a_minute_whatever_the_traffic(metered):
    processing, meter = metered
    status = json.loads((EVENTS / "webhooks/statusInstanceChanged.json").read_text())
    meter.take()
    for second in range(0, 120, 10):  # two minutes of instance status webhooks
        processing.deliver(json.dumps({**status, "timestamp": 1_850_000_040 + second}).encode())
    instance_writes = [w for w in meter.take() if w.operation == "UpdateItem" and w.table_units]
    # each status is its own newest-wins write; the minute is written twice in all
    assert len(instance_writes) == 12 + 2
