"""A journal entry is read back into the message webhook it came from (greenhook.backfill).

The entries are made by the fake GREEN-API's `journal_entry`, which flattens a webhook the way
GREEN-API's journals show a message (docs section 9). For every message example in events/,
the content stored from the entry must be what the webhook itself stores, but for what a
journal does not carry: the chat's name, and the author's name of an outgoing message.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from greenhook.backfill import webhook_document
from greenhook.handlers import message_content
from greenhook.models import MessageWebhook, parse_webhook
from greenhook_dev.fake_green_api import journal_entry

EVENTS = Path(__file__).resolve().parents[2] / "events"


def _message_examples() -> list[Path]:
    found = []
    for path in sorted(EVENTS.rglob("*.json")):
        document = json.loads(path.read_text())
        if isinstance(document, dict) and journal_entry(document) is not None:
            try:
                if isinstance(parse_webhook(document), MessageWebhook):
                    found.append(path)
            except ValueError:
                continue  # an example of something the models refuse
    return found


EXAMPLES = _message_examples()


def test_there_are_examples_of_every_direction() -> None:
    directions = {json.loads(p.read_text())["typeWebhook"] for p in EXAMPLES}
    assert directions == {
        "incomingMessageReceived",
        "outgoingMessageReceived",
        "outgoingAPIMessageReceived",
    }
    assert len(EXAMPLES) >= 40


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_entry_stores_what_its_webhook_stores(path: Path) -> None:
    document = json.loads(path.read_text())
    webhook = parse_webhook(document)
    entry = journal_entry(document)
    assert not {"typeWebhook", "instanceData", "senderData"} & set(entry)  # flat, as a journal
    rebuilt = parse_webhook(webhook_document(entry, webhook.id_instance, webhook.instanceData.wid))

    from_webhook = dataclasses.asdict(message_content(webhook))
    from_journal = dataclasses.asdict(message_content(rebuilt, "journal"))
    assert from_journal.pop("source") == "journal"
    assert from_webhook.pop("source") is None
    unknown = {"chat_name"} | ({"sender_name"} if webhook.direction == "outgoing" else set())
    for name in unknown:
        from_webhook.pop(name), from_journal.pop(name)
    assert from_journal == from_webhook


def test_an_outgoing_entry_without_sender_is_the_instance_s_own() -> None:
    entry = {
        "type": "outgoing",
        "idMessage": "M1",
        "timestamp": 1_700_000_000,
        "typeMessage": "textMessage",
        "chatId": "79000000001@c.us",
        "textMessage": "hi",
        "statusMessage": "read",
        "sendByApi": False,
    }
    document = webhook_document(entry, 1101000001, wid="79001234567@c.us")
    assert document["typeWebhook"] == "outgoingMessageReceived"
    assert document["senderData"] == {"chatId": "79000000001@c.us", "sender": "79001234567@c.us"}
    assert document["messageData"] == {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": "hi"},
    }
    by_api = webhook_document({**entry, "sendByApi": True}, 1101000001)
    assert by_api["typeWebhook"] == "outgoingAPIMessageReceived"
