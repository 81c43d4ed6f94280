"""What the handlers store, read back through Storage: access patterns 1-5 of DESIGN.md.

Each test uses its own instance id, so they share one moto table (the `processing` fixture).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from greenhook import keys
from greenhook.dispatch import registry
from greenhook.storage import CONTENT_ITEM_LIMIT, TEXT_PREVIEW_LIMIT
from greenhook_dev.template_resources import REPO_ROOT
from greenhook_dev.webhooks import Instance

ANN = "79011111111@c.us"
BOB = "79022222222@c.us"
GROUP = "120363000000000001@g.us"
_ids = itertools.count(2_000_000_000)


@pytest.fixture
def instance() -> Instance:
    return Instance(id_instance=next(_ids))


def deliver_all(processing, *documents: dict) -> list[str]:
    return [processing.deliver(d) for d in documents]


def test_a_chat_lists_incoming_and_outgoing_messages_in_time_order(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.text("B2", ANN, 1_700_000_020, "fine, thanks", direction="api"),
        i.text("A1", ANN, 1_700_000_010, "hi, how are you?"),
        i.text("C3", ANN, 1_700_000_030, "great", quoted="B2"),
        i.text("G1", GROUP, 1_700_000_025, "hello team", sender=BOB, sender_name="Bob"),
    )
    messages = processing.storage.list_messages(i.id_instance, ANN)
    assert [(m["id_message"], m["direction"], m["text"]) for m in messages] == [
        ("A1", "incoming", "hi, how are you?"),
        ("B2", "outgoing", "fine, thanks"),
        ("C3", "incoming", "great"),
    ]
    assert messages[2]["stanza_id"] == "B2"
    assert processing.storage.list_messages(i.id_instance, ANN, limit=2)[0]["id_message"] == "B2"
    (group_message,) = processing.storage.list_messages(i.id_instance, GROUP)
    assert group_message["sender"] == BOB and group_message["sender_name"] == "Bob"


def test_chats_are_listed_by_last_activity_whatever_the_arrival_order(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.text("A2", ANN, 1_700_000_300, "latest in Ann's chat"),
        i.text("G1", GROUP, 1_700_000_200, "group", sender=BOB),
        i.text("A1", ANN, 1_700_000_100, "older, arrives last"),
    )
    chats = processing.storage.list_chats(i.id_instance)
    assert [(c["chat_id"], c["last_id_message"]) for c in chats] == [(ANN, "A2"), (GROUP, "G1")]
    assert chats[0]["last_text"] == "latest in Ann's chat"
    assert processing.storage.list_instances().count(i.id_instance) == 1


def test_status_only_moves_forward_and_keeps_the_time_of_each(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.text("OUT1", ANN, 100, "sent by API", direction="api"),
        i.status("OUT1", ANN, 130, "read"),
        i.status("OUT1", ANN, 110, "sent"),
        i.status("OUT1", ANN, 120, "delivered"),
    )
    message = processing.storage.get_message(i.id_instance, "OUT1")
    assert message["status"] == "read"
    assert message["status_times"] == {"sent": 110, "delivered": 120, "read": 130}
    (listed,) = processing.storage.list_messages(i.id_instance, ANN)
    assert listed["status"] == "read"


@pytest.mark.parametrize(
    "statuses",
    [["sent", "failed", "delivered", "read"], ["read", "failed"], ["failed", "sent"]],
)
def test_a_final_status_is_never_left(processing, instance, statuses):
    i = instance
    processing.deliver(i.text("OUT2", ANN, 100, "x", direction="api"))
    for n, status in enumerate(statuses):
        processing.deliver(i.status("OUT2", ANN, 101 + n, status, description="SWE004: 300"))
    message = processing.storage.get_message(i.id_instance, "OUT2")
    assert message["status"] == "failed"
    assert message["status_description"] == "SWE004: 300"


def test_a_status_before_its_message_is_kept_and_applied_when_it_arrives(processing, instance):
    i = instance
    processing.deliver(i.status("EARLY", ANN, 200, "delivered"))
    early = processing.storage.get_message(i.id_instance, "EARLY")
    assert early["stored"] is False and early["status"] == "delivered"
    assert processing.storage.list_messages(i.id_instance, ANN) == []  # no content yet

    processing.deliver(i.text("EARLY", ANN, 190, "hello", direction="api"))
    (listed,) = processing.storage.list_messages(i.id_instance, ANN)
    assert (listed["text"], listed["status"]) == ("hello", "delivered")


def test_edits_deletions_and_reactions_apply_in_any_order(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.reaction("R1", "M1", ANN, 140, "👍", direction="outgoing"),
        i.edit("E2", "M1", ANN, 130, "second edit"),
        i.deletion("D1", "M1", ANN, 150),
        i.edit("E1", "M1", ANN, 120, "first edit"),
        i.text("M1", ANN, 110, "original"),
        i.reaction("R2", "M1", ANN, 145, "❤️", sender=ANN),
    )
    message = processing.storage.get_message(i.id_instance, "M1")
    assert message["original_text"] == "original"
    assert message["text"] == "second edit"
    assert [(e["id_message"], e["text"]) for e in message["edits"]] == [
        ("E1", "first edit"),
        ("E2", "second edit"),
    ]
    assert message["deleted"] is True and message["deleted_at"] == 150
    assert {(r["sender"], r["emoji"]) for r in message["reactions"]} == {
        (i.wid, "👍"),
        (ANN, "❤️"),
    }
    (listed,) = processing.storage.list_messages(i.id_instance, ANN)
    assert (listed["text"], listed["edited"], listed["deleted"]) == ("second edit", True, True)
    # Edits, deletions and reactions are not messages of the chat themselves.
    assert processing.storage.get_message(i.id_instance, "E1") is None


def test_a_newer_reaction_replaces_one_and_an_empty_one_removes_it(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.text("M2", ANN, 100, "react to me"),
        i.reaction("R3", "M2", ANN, 130, "", direction="outgoing"),  # taken back, arrives first
        i.reaction("R1", "M2", ANN, 110, "👍", direction="outgoing"),
        i.reaction("R2", "M2", ANN, 120, "😂", direction="outgoing"),
        i.reaction("R4", "M2", ANN, 125, "🙏", sender=ANN),
    )
    reactions = processing.storage.get_message(i.id_instance, "M2")["reactions"]
    assert [(r["sender"], r["emoji"]) for r in reactions] == [(ANN, "🙏")]


def test_a_repeated_delivery_changes_nothing(processing, instance):
    i = instance
    documents = [
        i.text("M3", ANN, 100, "once", direction="api"),
        i.status("M3", ANN, 101, "delivered"),
        i.edit("E3", "M3", ANN, 102, "once, edited", direction="api"),
        i.reaction("R5", "M3", ANN, 103, "🔥", sender=ANN),
    ]
    deliver_all(processing, *documents)
    first = processing.storage.get_message(i.id_instance, "M3")
    first_chats = processing.storage.list_chats(i.id_instance)
    deliver_all(processing, *documents, *reversed(documents))
    assert processing.storage.get_message(i.id_instance, "M3") == first
    assert processing.storage.list_chats(i.id_instance) == first_chats


@pytest.mark.parametrize("thumbnail_kb", [60, 390])
def test_large_thumbnails_stay_out_of_the_message_item_and_nothing_is_lost(
    processing, instance, thumbnail_kb
):
    i = instance
    thumbnail = "/9j/" + "A" * (thumbnail_kb * 1024)
    processing.deliver(i.image("IMG1", ANN, 100, "look", thumbnail=thumbnail))
    processing.deliver(i.status("IMG1", ANN, 101, "read"))

    item = processing.storage.table.get_item(Key=keys.message(i.id_instance, "IMG1"))["Item"]
    assert len(json.dumps(item, default=str)) < 8 * 1024  # rewritten by every status: small
    message = processing.storage.get_message(i.id_instance, "IMG1")
    assert message["message_data"]["fileMessageData"]["jpegThumbnail"] == thumbnail
    assert (message["text"], message["status"]) == ("look", "read")
    content = processing.storage.table.get_item(
        Key={"PK": keys.message(i.id_instance, "IMG1")["PK"], "SK": keys.CONTENT_SK}
    )["Item"]
    in_s3 = "message_data_s3_key" in content
    assert in_s3 == (thumbnail_kb * 1024 > CONTENT_ITEM_LIMIT)


def test_a_call_keeps_its_status_sequence_in_any_order(processing, instance):
    i = instance
    deliver_all(
        processing,
        i.call("CALL1", ANN, 160, "hangUp"),  # the old spelling
        i.call("CALL1", ANN, 150, "offer"),
        i.call("CALL2", BOB, 300, "pickUp", incoming=False),
    )
    calls = processing.storage.list_calls(i.id_instance)
    assert [c["id_call"] for c in calls] == ["CALL2", "CALL1"]
    first = calls[1]
    assert first["started_at"] == 150 and first["status"] == "hungUp"
    assert first["statuses"] == [
        {"status": "offer", "timestamp": 150},
        {"status": "hungUp", "timestamp": 160},
    ]
    assert calls[0]["direction"] == "outgoing"


def _sample(name: str, id_instance: int, timestamp: int, **changes) -> dict:
    document = json.loads((REPO_ROOT / "events" / "webhooks" / name).read_text())
    document["instanceData"]["idInstance"] = id_instance
    document["timestamp"] = timestamp
    document.update(changes)
    return document


def test_the_instance_keeps_the_newest_of_each_aspect(processing, instance):
    n = instance.id_instance
    deliver_all(
        processing,
        _sample("statusInstanceChanged.json", n, 200, statusInstance="offline"),
        _sample("statusInstanceChanged.json", n, 100, statusInstance="online"),
        _sample("stateInstanceChanged.json", n, 150, stateInstance="suspended"),
        _sample("deviceInfo.json", n, 120),
        _sample("quotaExceeded.json", n, 130),
        _sample("stateInstanceChanged.json", n, 90, stateInstance="authorized"),
    )
    view = processing.storage.get_instance(n)
    assert view["status_instance"] == "offline" and view["status_timestamp"] == 200
    assert view["state_instance"] == "suspended"
    assert view["device"]["deviceModel"] and view["quota"]["status"]
    assert view["last_webhook_at"] == 180  # the minute of the newest (200)


SAMPLES = sorted(p for p in (REPO_ROOT / "events").rglob("*.json") if p.parent.name != "envelopes")


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: str(p.relative_to(REPO_ROOT / "events")))
def test_every_sample_webhook_is_stored_not_parked(processing, path: Path):
    assert processing.deliver(json.loads(path.read_text())) == "stored"


def test_an_unknown_type_message_is_kept_as_a_message(processing, instance):
    i = instance
    document = i.text("NEW1", ANN, 100, "")
    document["messageData"] = {"typeMessage": "storyMessage", "storyData": {"text": "hi"}}
    assert processing.deliver(document) == "stored"
    message = processing.storage.get_message(i.id_instance, "NEW1")
    assert message["type_message"] == "storyMessage"
    assert message["message_data"]["storyData"] == {"text": "hi"}


def test_a_users_handler_runs_after_greenhooks_for_its_type_message(
    processing, instance, monkeypatch
):
    seen = []
    monkeypatch.setattr(registry, "_handlers", registry._handlers.copy())

    @registry.register("incomingMessageReceived", type_message="textMessage")
    def remember(webhook, storage):
        seen.append(
            (webhook.idMessage, storage.get_message(webhook.id_instance, webhook.idMessage))
        )

    i = instance
    processing.deliver(i.text("U1", ANN, 100, "hello"))
    processing.deliver(i.image("U2", ANN, 101, "not text"))
    assert [(id_message, m["text"]) for id_message, m in seen] == [("U1", "hello")]


def test_a_long_text_is_previewed_in_the_chat_and_kept_whole(processing, instance):
    i = instance
    long_text = "word " * 2000  # 10 000 characters
    processing.deliver(i.text("LONG1", ANN, 100, long_text))
    (listed,) = processing.storage.list_messages(i.id_instance, ANN)
    assert long_text.startswith(listed["text"]) and len(listed["text"]) == TEXT_PREVIEW_LIMIT
    message = processing.storage.get_message(i.id_instance, "LONG1")
    assert message["text_truncated"] is True
    assert message["message_data"]["textMessageData"]["textMessage"] == long_text


def _message_sample(name: str, id_instance: int, **changes) -> dict:
    document = json.loads((REPO_ROOT / "events" / "messages" / name).read_text())
    document["instanceData"]["idInstance"] = id_instance
    document.update(changes)
    return document


def test_a_poll_keeps_the_votes_of_its_newest_update(processing, instance):
    n = instance.id_instance
    poll = _message_sample("incoming-pollMessage.json", n)
    update = _message_sample("incoming-pollUpdateMessage.json", n)
    update["messageData"]["pollMessageData"]["stanzaId"] = poll["idMessage"]
    older = json.loads(json.dumps(update))
    older.update(idMessage="OLDER0001", timestamp=update["timestamp"] - 60)
    older["messageData"]["pollMessageData"]["votes"][0]["optionVoters"] = []
    deliver_all(processing, update, older, poll, older)
    message = processing.storage.get_message(n, poll["idMessage"])
    assert message["type_message"] == "pollMessage"
    assert message["poll_votes"] == update["messageData"]["pollMessageData"]["votes"]


def test_a_block_and_an_avatar_attach_to_the_chat(processing, instance):
    n = instance.id_instance
    deliver_all(
        processing,
        instance.text("B1", ANN, 1_700_000_000, "bye"),
        _sample("incomingBlock.json", n, 1_700_000_800, chatId=ANN),
        _sample("deviceInfo-avatarInfo.json", n, 1_700_000_770),
    )
    (chat,) = processing.storage.list_chats(n)
    assert chat["chat_state"] == "blocked"
    avatar_chat = json.loads((REPO_ROOT / "events/webhooks/deviceInfo-avatarInfo.json").read_text())
    avatar = processing.storage.get_chat(n, avatar_chat["avatarInfo"]["chatId"])["avatar"]
    assert avatar["urlAvatar"].startswith("https://") and avatar["existsWhatsapp"] is True
