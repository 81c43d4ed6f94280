"""Business events from what changed in the table: webhooks through the process handler into
moto's table, its stream through the stream poller to the real publish handler, onto moto's
bus, and a rule to a queue, as a subscriber would have it (see conftest's `publishing`)."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest
from conversations import Plan, conversations
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenhook import changes, keys
from greenhook.storage import plain
from greenhook_dev import event_schemas
from greenhook_dev.webhooks import Instance

CHAT = "79011111111@c.us"
_instance_ids = itertools.count(4_000_000_000)


def instance() -> Instance:
    return Instance(id_instance=next(_instance_ids))


def state_webhook(inst: Instance, state: str, timestamp: int) -> dict:
    return {
        "typeWebhook": "stateInstanceChanged",
        "instanceData": {
            "idInstance": inst.id_instance,
            "wid": inst.wid,
            "typeInstance": "whatsapp",
        },
        "timestamp": timestamp,
        "stateInstance": state,
    }


def summary(event: dict) -> tuple:
    """What an event says, in a form a test can spell out."""
    detail = event["detail"]
    subject = detail.get("id_message") or detail.get("id_call") or detail.get("chat_id")
    change = (detail["from"], detail["to"]) if "to" in detail else None
    return (event["detail-type"], subject, change) if change else (event["detail-type"], subject)


def test_a_scripted_conversation_publishes_exactly_its_changes(publishing):
    inst = instance()
    t = 1_700_000_000
    script = [
        state_webhook(inst, "authorized", t),
        inst.text("IN1", CHAT, t + 1, "hello"),
        inst.text("API1", CHAT, t + 2, "hi, how can we help?", direction="api"),
        inst.status("API1", CHAT, t + 3, "sent"),
        inst.status("API1", CHAT, t + 4, "delivered"),
        inst.status("API1", CHAT, t + 5, "read"),
        inst.status("API1", CHAT, t + 6, "sent"),  # late: changes nothing current
        inst.text("OUT1", CHAT, t + 7, "typed on the phone", direction="outgoing"),
        inst.edit("E1", "IN1", CHAT, t + 8, "hello again"),
        inst.reaction("R1", "API1", CHAT, t + 9, "👍"),
        inst.deletion("D1", "IN1", CHAT, t + 10),
        inst.call("CALL1", CHAT, t + 11, "offer"),
        inst.call("CALL1", CHAT, t + 15, "hungUp"),
        state_webhook(inst, "notAuthorized", t + 20),  # logged out
    ]
    for webhook in script:
        assert publishing.deliver(webhook) == "stored"
    events = publishing.flush()
    assert [summary(e) for e in events] == [
        ("Instance State Changed", None, (None, "authorized")),
        ("Message Received", "IN1"),
        ("Message Sent", "API1"),
        ("Message Status Changed", "API1", (None, "sent")),
        ("Message Status Changed", "API1", ("sent", "delivered")),
        ("Message Status Changed", "API1", ("delivered", "read")),
        ("Message Sent", "OUT1"),
        ("Message Edited", "IN1"),
        ("Reaction Changed", "API1"),
        ("Message Deleted", "IN1"),
        ("Call Changed", "CALL1"),
        ("Call Changed", "CALL1"),
        ("Instance State Changed", None, ("authorized", "notAuthorized")),
    ]
    by_type = {e["detail-type"]: e["detail"] for e in events}
    assert by_type["Message Sent"]["via"] == "phone"  # the last one: OUT1
    assert events[2]["detail"]["via"] == "api"
    assert by_type["Message Edited"]["view"]["text"] == "hello again"
    assert by_type["Message Deleted"]["view"]["deleted"] is True
    assert by_type["Reaction Changed"]["view"]["reactions"][0]["emoji"] == "👍"
    assert [s["status"] for s in events[11]["detail"]["view"]["statuses"]] == ["offer", "hungUp"]
    for event in events:
        assert event["source"] == "greenhook"
        assert event["detail"]["id_instance"] == inst.id_instance
        event_schemas.validate(event)
    assert len({e["detail"]["event_id"] for e in events}) == len(events)

    # The same webhooks again, as GREEN-API's retries or an SQS redelivery would send them.
    for webhook in script:
        assert publishing.deliver(webhook) == "stored"
    assert publishing.flush() == []


def test_a_status_before_its_message_publishes_with_the_message(publishing):
    inst = instance()
    t = 1_700_000_100
    for status in ("delivered", "read"):
        publishing.deliver(inst.status("M1", CHAT, t + 5, status))
    publishing.deliver(inst.reaction("R1", "M1", CHAT, t + 6, "❤️"))
    assert publishing.flush() == []  # nothing to say about a message nobody has seen
    publishing.deliver(inst.text("M1", CHAT, t, "sent before its statuses", direction="api"))
    events = publishing.flush()
    assert [summary(e) for e in events] == [
        ("Message Sent", "M1"),
        ("Message Status Changed", "M1", (None, "read")),
        ("Reaction Changed", "M1"),
    ]
    assert events[1]["detail"]["at"] == t + 5
    assert all(e["detail"]["view"]["status"] == "read" for e in events)
    assert len({e["detail"]["version"] for e in events}) == 1  # one change of the item


def test_a_parked_webhook_is_an_event_with_its_reason_and_not_its_body(publishing):
    inst = instance()
    webhook = inst.text("BAD1", CHAT, 1_700_000_200, "x")
    webhook["senderData"]["chatId"] = 12345  # not a chat id: does not validate
    assert publishing.deliver(webhook) == "parked"
    (event,) = publishing.flush()
    assert event["detail-type"] == "Webhook Parked"
    assert event["detail"]["view"]["reason"].startswith("invalid")
    assert event["detail"]["view"]["type_webhook"] == "incomingMessageReceived"
    assert "body" not in event["detail"]["view"]
    event_schemas.validate(event)


def test_instance_events_say_what_changed_and_nothing_for_the_same_state(publishing):
    inst = instance()
    t = 1_700_000_300
    publishing.deliver(state_webhook(inst, "authorized", t))
    publishing.deliver(state_webhook(inst, "authorized", t + 60))  # same state, newer
    publishing.deliver(state_webhook(inst, "blocked", t + 30))  # older than the newest
    events = publishing.flush()
    assert [summary(e) for e in events] == [("Instance State Changed", None, (None, "authorized"))]


# -- any order, any repetition ------------------------------------------------------------
def _replayed(events: list[dict], id_instance: int) -> dict[str, dict]:
    """Each item's view after applying its events by version (what a subscriber rebuilds)."""
    newest: dict[str, tuple[str, dict]] = {}
    for event in events:
        detail = event["detail"]
        item = detail["item"].replace(str(id_instance), "I")
        if item not in newest or detail["version"] >= newest[item][0]:
            view = {k: v for k, v in detail["view"].items() if k != "id_instance"}
            newest[item] = (detail["version"], view)
    return {item: view for item, (_, view) in newest.items()}


def _stored_views(publishing, plan: Plan, id_instance: int) -> dict[str, dict]:
    """The same views, worked out from the items in the table now."""
    table = publishing.processing.storage.table
    views = {}
    for id_message in plan.message_ids():
        item = table.get_item(Key=keys.message(id_instance, id_message)).get("Item")
        view = changes.message_event_view(plain(item) if item else None)
        if view:
            views[f"message/I/{id_message}"] = {k: v for k, v in view.items() if k != "id_instance"}
    item = table.get_item(Key=keys.call(id_instance, "CALL1")).get("Item")
    if item:
        view = changes.call_event_view(plain(item))
        views["call/I/CALL1"] = {k: v for k, v in view.items() if k != "id_instance"}
    return views


def _assert_one_event_per_change(events: list[dict]) -> None:
    by_item: dict[str, list[dict]] = defaultdict(list)
    for event in events:
        by_item[event["detail"]["item"]].append(event["detail"])
    for details in by_item.values():
        details.sort(key=lambda d: d["version"])
        for before, after in itertools.pairwise(details):
            if before["version"] == after["version"]:  # one change, several facts
                assert before["event_id"] != after["event_id"]
            else:
                assert before["view"] != after["view"], "an event for a write that changed nothing"


@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=conversations(), data=st.data())
def test_any_order_and_repetition_publishes_events_that_replay_to_the_same_views(
    publishing, plan, data
):
    in_order = instance()
    for webhook in plan.webhooks(in_order):
        publishing.deliver(webhook)
    expected_events = publishing.flush()

    shuffled = instance()
    webhooks = plan.webhooks(shuffled)
    repeats = data.draw(st.lists(st.sampled_from(webhooks), max_size=len(webhooks)), label="rep")
    for webhook in data.draw(st.permutations(webhooks + repeats), label="delivery order"):
        publishing.deliver(webhook)
    events = publishing.flush()

    replayed = _replayed(events, shuffled.id_instance)
    assert replayed == _replayed(expected_events, in_order.id_instance)
    assert replayed == _stored_views(publishing, plan, shuffled.id_instance)
    _assert_one_event_per_change(events)
    _assert_one_event_per_change(expected_events)
    for event in events:
        event_schemas.validate(event)

    # A batch of pure duplicates publishes nothing.
    for webhook in webhooks:
        publishing.deliver(webhook)
    assert publishing.flush() == []


@pytest.mark.parametrize("size", [300 * 1024])
def test_an_event_over_eventbridge_s_limit_carries_its_view_by_reference(publishing, size):
    inst = instance()
    t = 1_700_000_400
    publishing.deliver(inst.text("BIG1", CHAT, t, "x" * size))
    publishing.deliver(inst.edit("E1", "BIG1", CHAT, t + 1, "y" * size))
    events = publishing.flush()
    assert [summary(e) for e in events] == [
        ("Message Received", "BIG1"),
        ("Message Edited", "BIG1"),
    ]
    edited = events[1]["detail"]
    assert edited["view_truncated"] is True and "text" not in edited["view"]
    assert edited["view"]["edited"] is True
    for event in events:
        event_schemas.validate(event)


def test_each_change_is_named_for_what_changed(publishing):
    inst = instance()
    t = 1_700_000_500
    publishing.deliver(inst.text("M1", CHAT, t, "first"))
    publishing.deliver(inst.edit("E1", "M1", CHAT, t + 1, "second"))
    publishing.flush()
    publishing.deliver(inst.edit("E2", "M1", CHAT, t + 2, "second"))  # same text, newer edit
    publishing.deliver(inst.text("M1", CHAT, t, "first, corrected"))  # content re-sent
    publishing.deliver(inst.edit("E0", "M1", CHAT, t - 1, "older"))  # older than the newest
    events = publishing.flush()
    assert [summary(e) for e in events] == [("Message Edited", "M1"), ("Message Received", "M1")]
    assert events[0]["detail"]["at"] == t + 2
    assert events[1]["detail"]["view"]["original_text"] == "first, corrected"
    assert events[1]["detail"]["view"]["text"] == "second"  # the edit still wins
