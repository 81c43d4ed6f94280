"""The query commands (`greenhook chats`, `messages`, ...) reading what the pipeline stored.

Webhooks go through the real ingest and process handlers into a moto table built from
template.yaml; the CLI then reads that table as it reads the local stack's, from a stack file.
"""

import json
import sys
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from greenhook.dispatch import registry
from greenhook_dev.cli import main

EVENTS = Path(__file__).resolve().parents[2] / "events"
INSTANCE = 7103220992
CHAT = "79876543210@c.us"


def event(name: str) -> dict:
    return json.loads((EVENTS / name).read_text())


def conversation() -> dict[str, dict]:
    """One chat: an incoming text later edited, an outgoing reply that was read and liked."""
    incoming = event("messages/incoming-textMessage.json")
    incoming["senderData"]["chatId"] = CHAT
    edit = event("messages/incoming-editedMessage.json")
    assert edit["messageData"]["editedMessageData"]["stanzaId"] == incoming["idMessage"]
    outgoing = event("messages/outgoing-textMessage.json")
    outgoing["senderData"]["chatId"] = CHAT
    status = event("webhooks/outgoingMessageStatus.json")  # "read", in CHAT
    status["idMessage"] = outgoing["idMessage"]
    reaction = event("messages/incoming-reactionMessage.json")
    reaction["senderData"]["chatId"] = CHAT
    reaction["messageData"]["quotedMessage"]["stanzaId"] = outgoing["idMessage"]
    return {
        "incoming": incoming,
        "edit": edit,
        "outgoing": outgoing,
        "status": status,
        "reaction": reaction,
    }


def state_webhook(id_instance: int, state: str = "authorized") -> dict:
    document = event("webhooks/stateInstanceChanged.json")
    document["instanceData"]["idInstance"] = id_instance
    document["stateInstance"] = state
    return document


@pytest.fixture
def store(pipeline):
    """Post webhooks through ingest and run the process handler on them."""

    def post(*documents: dict) -> None:
        for document in documents:
            assert pipeline.post(json.dumps(document, ensure_ascii=False))[0] == 200
        pipeline.drain()

    return post


def test_messages_lists_a_chat_in_time_order_with_status_edits_and_reactions(store, greenhook):
    webhooks = conversation()
    store(*webhooks.values())

    listed = greenhook("messages", CHAT, "--json")
    assert listed.code == 0
    incoming, outgoing = listed.json()
    assert (incoming["id_message"], outgoing["id_message"]) == (
        webhooks["incoming"]["idMessage"],
        webhooks["outgoing"]["idMessage"],
    )
    assert incoming["direction"] == "incoming"
    assert incoming["text"] == "Заказ №1543 уже в пути? 🙏"  # the edit's text
    assert incoming["edited"] is True
    assert outgoing["status"] == "read"
    assert [r["emoji"] for r in outgoing["reactions"]] == ["👍"]

    text = greenhook("messages", CHAT)
    assert text.code == 0
    _, first, second = text.out.splitlines()
    assert first.startswith("2023-11-14 22:16:40  ←  Иван")
    assert "Заказ №1543 уже в пути? 🙏 (edited)" in first
    assert second.startswith("2023-11-14 22:21:40  →  Green Shop")
    assert "Добрый день! Чек получили 👍" in second
    assert second.rstrip().endswith("read    👍")


def test_message_shows_everything_stored_and_unknown_ids_exit_1(store, greenhook):
    webhooks = conversation()
    store(*webhooks.values())
    id_message = webhooks["outgoing"]["idMessage"]

    view = greenhook("message", id_message, "--json").json()
    assert view["status_times"] == {"read": webhooks["status"]["timestamp"]}
    assert view["message_data"]["textMessageData"]["textMessage"] == "Добрый день! Чек получили 👍"
    assert view["chat_name"] == "Мария"

    shown = greenhook("message", id_message)
    assert shown.code == 0
    lines = shown.out.splitlines()
    assert f"message     {id_message}" in lines
    assert "direction   → outgoing (outgoingMessageReceived)" in lines
    assert "status      read" in lines
    assert "statuses    read       2023-11-14 22:25:30" in lines
    assert any(line.startswith("reactions   👍  79876543210@c.us") for line in lines)

    edited = greenhook("message", webhooks["incoming"]["idMessage"]).out
    assert "original    Заказ №1542 уже в пути? 🙏" in edited
    assert "edits       2023-11-14 22:19:10  Заказ №1543 уже в пути? 🙏" in edited

    missing = greenhook("message", "NOPE")
    assert (missing.code, missing.out) == (1, f"no message NOPE in instance {INSTANCE}\n")
    as_json = greenhook("message", "NOPE", "--json")
    assert (as_json.code, as_json.json()) == (1, None)
    no_chat = greenhook("messages", "000@c.us")
    assert no_chat.code == 1
    assert no_chat.out == f"no messages in chat 000@c.us of instance {INSTANCE}\n"


def test_chats_instance_and_calls(store, greenhook):
    webhooks = conversation()
    group_message = event("messages/incoming-textMessage.json")  # earlier, in a group
    group_message["idMessage"] = "GROUP0001"
    group_message["timestamp"] = 1700000100
    store(
        *webhooks.values(),
        group_message,
        event("webhooks/stateInstanceChanged.json"),
        event("webhooks/deviceInfo.json"),
        event("webhooks/incomingCall.json"),
    )

    chats = greenhook("chats", "--json").json()
    assert [c["chat_id"] for c in chats] == [CHAT, "120363043968066561@g.us"]
    assert chats[0]["last_id_message"] == webhooks["outgoing"]["idMessage"]
    table = greenhook("chats").out
    assert "2023-11-14 22:21:40  79876543210@c.us" in table
    assert "Green Shop: Добрый день! Чек получили 👍" in table

    instance = greenhook("instance", "--json").json()
    assert (instance["id_instance"], instance["state_instance"]) == (INSTANCE, "notAuthorized")
    shown = greenhook("instance").out.splitlines()
    assert "state         notAuthorized  at 2023-11-14 22:25:40" in shown
    assert any(line.startswith("device        platform=android") for line in shown)
    # the minute of the newest webhook (the call at 22:26:20), written once a minute
    assert "last webhook  2023-11-14 22:26:00" in shown

    (call,) = greenhook("calls", "--json").json()
    assert (call["chat_id"], call["status"], call["direction"]) == (CHAT, "offer", "incoming")
    assert "←  79876543210@c.us" in greenhook("calls").out


def test_instance_is_picked_when_only_one_has_sent_webhooks(store, greenhook):
    empty = greenhook("chats")
    assert empty.code == 2
    assert "no webhooks stored yet" in empty.err

    store(state_webhook(1101000001))
    assert greenhook("instance", "--json").json()["id_instance"] == 1101000001

    store(state_webhook(1101000002, "blocked"))
    several = greenhook("instance")
    assert several.code == 2
    assert "1101000001, 1101000002" in several.err
    assert "--instance" in several.err
    chosen = greenhook("instance", "--instance", "1101000002", "--json").json()
    assert chosen["state_instance"] == "blocked"


def test_replay_parked_stores_what_had_no_handler(store, greenhook, monkeypatch):
    with monkeypatch.context() as patch:
        patch.setattr(registry, "_handlers", {})  # as if no handler took stateInstanceChanged
        store(state_webhook(INSTANCE))

    (parked,) = greenhook("parked", "--json").json()
    assert parked["reason"] == "no handler for typeWebhook 'stateInstanceChanged'"
    assert "no handler for typeWebhook 'stateInstanceChanged'" in greenhook("parked").out

    replayed = greenhook("replay-parked")
    assert (replayed.code, replayed.out) == (0, "stored 1, still parked 0\n")
    assert greenhook("parked").out == "nothing is parked\n"
    assert greenhook("instance", "--json").json()["state_instance"] == "authorized"


class FakeCloudFormation:
    """describe_stacks as CloudFormation answers it, for the stacks given (name -> outputs).

    moto's CloudFormation would cost seconds of imports; only this one call is needed.
    """

    def __init__(self, stacks: dict[str, dict[str, str]]) -> None:
        self.stacks = stacks
        self.regions: list[str] = []

    def describe_stacks(self, StackName: str) -> dict:
        if StackName not in self.stacks:
            error = {
                "Code": "ValidationError",
                "Message": f"Stack with id {StackName} does not exist",
            }
            raise ClientError({"Error": error}, "DescribeStacks")
        outputs = [{"OutputKey": k, "OutputValue": v} for k, v in self.stacks[StackName].items()]
        return {"Stacks": [{"StackName": StackName, "Outputs": outputs}]}


def test_deployed_stack_is_found_by_its_outputs(pipeline, store, greenhook, monkeypatch):
    store(state_webhook(INSTANCE))
    cloudformation = FakeCloudFormation(
        {
            "greenhook": {
                "TableName": pipeline.stack.refs["WebhookTable"],
                "PayloadBucketName": pipeline.stack.refs["PayloadBucket"],
            },
            "other": {"QueueUrl": "https://sqs/q"},
        }
    )
    moto_client = boto3.Session.client

    def client(session, service_name, *args, **kwargs):
        if service_name == "cloudformation":
            cloudformation.regions.append(session.region_name)
            return cloudformation
        return moto_client(session, service_name, *args, **kwargs)

    monkeypatch.setattr(boto3.Session, "client", client)
    region = pipeline.stack.region
    shown = greenhook("instance", "--stack", "greenhook", "--region", region, "--json")
    assert shown.json()["state_instance"] == "authorized"
    archived = greenhook("archive", "--stack", "greenhook", "--region", region, "--json").json()
    assert [a["type_webhook"] for a in archived] == ["stateInstanceChanged"]
    assert cloudformation.regions == [region, region]

    missing = greenhook("chats", "--stack", "nope", "--region", region)
    assert missing.code == 2
    assert missing.err.startswith("greenhook chats: stack nope: ")
    assert "Stack with id nope does not exist" in missing.err
    assert len(missing.err.splitlines()) == 1  # one line, no traceback
    other = greenhook("parked", "--stack", "other", "--region", region)
    assert other.code == 2
    assert "has no output TableName or PayloadBucketName" in other.err


def test_aws_error_is_one_readable_line(tmp_path, capsys):
    stack_file = tmp_path / "stack.json"
    stack_file.write_text(
        json.dumps(
            {
                "aws_endpoint_url": None,
                "region": "eu-central-1",
                "table_name": "no-such-table",
                "bucket_name": "no-such-bucket",
            }
        )
    )
    with mock_aws():
        assert main(["parked", "--stack-file", str(stack_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("greenhook parked: the local stack: ")
    assert "ResourceNotFoundException" in err
    assert len(err.splitlines()) == 1


def test_replay_parked_with_the_users_handlers(store, greenhook, monkeypatch, tmp_path):
    new_type = {
        "typeWebhook": "groupParticipantsChanged",  # a type greenhook has no handler for
        "instanceData": {"idInstance": INSTANCE, "wid": "79001234567@c.us"},
        "timestamp": 1700000500,
    }
    store(new_type)
    assert greenhook("replay-parked").out == "stored 0, still parked 1\n"

    (tmp_path / "group_events.py").write_text(
        "from greenhook.dispatch import registry\n"
        "seen = []\n"
        "@registry.register('groupParticipantsChanged')\n"
        "def on_group_change(webhook, storage):\n"
        "    seen.append(webhook.timestamp)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_handlers", registry._handlers.copy())
    monkeypatch.delitem(sys.modules, "group_events", raising=False)
    replayed = greenhook("replay-parked", "--handlers", "group_events")
    assert replayed.out == "stored 1, still parked 0\n"
    assert sys.modules["group_events"].seen == [1700000500]
    assert greenhook("parked").out == "nothing is parked\n"
