import json

import pytest

from greenhook.routing import QUARANTINE_GROUP, message_group_id, route


def test_chat_message_is_grouped_by_instance_and_chat(event_bytes):
    routing = route(event_bytes("incomingMessageReceived.json"))
    assert routing.quarantine_reason is None
    assert routing.type_webhook == "incomingMessageReceived"
    assert routing.id_instance == 7103220992
    assert routing.group_id == "7103220992:79876543210@c.us"


def test_status_lands_in_the_same_group_as_its_chat_messages(event_bytes):
    message = route(event_bytes("incomingMessageReceived.json"))
    status = route(event_bytes("outgoingMessageStatus.json"))
    assert status.group_id == message.group_id


def test_instance_event_is_grouped_by_instance(event_bytes):
    assert route(event_bytes("stateInstanceChanged.json")).group_id == "1101000001"


def test_call_is_grouped_by_caller():
    body = {"typeWebhook": "incomingCall", "instanceData": {"idInstance": 1}, "from": "7@c.us"}
    assert route(json.dumps(body).encode()).group_id == "1:7@c.us"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid UTF-8"),
        (b"[1, 2]", "body is not a JSON object"),
        (b'"typeWebhook"', "body is not a JSON object"),
        (b"{}", "body has no typeWebhook"),
        (b'{"typeWebhook": ""}', "body has no typeWebhook"),
        (b'{"typeWebhook": 5}', "body has no typeWebhook"),
    ],
)
def test_unusable_bodies_are_quarantined_with_a_reason(body, reason):
    routing = route(body)
    assert routing.quarantine_reason == reason
    assert routing.group_id == QUARANTINE_GROUP


def test_unknown_type_is_routed_not_quarantined():
    routing = route(b'{"typeWebhook": "somethingNew", "instanceData": {"idInstance": 9}}')
    assert routing.quarantine_reason is None
    assert routing.group_id == "9"


def test_group_id_is_made_sqs_safe_and_short():
    group = message_group_id(1, "chat with spaces and ünïcode@lid")
    assert " " not in group and all(33 <= ord(c) <= 126 for c in group)
    long_group = message_group_id(1, "x" * 300 + "@g.us")
    assert len(long_group) == 128
    # Two different long chats must not collapse into one group.
    assert long_group != message_group_id(1, "x" * 300 + "@c.us")


def test_missing_instance_still_gets_a_group():
    assert message_group_id(None, None) == "unknown-instance"
    assert route(b'{"typeWebhook": "x", "instanceData": {"idInstance": true}}').id_instance is None
